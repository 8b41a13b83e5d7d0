using Portcullis.Defaults.Masking;
using System.Collections.Concurrent;
using System.Text;
using Portcullis.Masking.Detectors;
using Portcullis.Masking.Rules;

namespace Portcullis.Masking.Values;

public enum ValueOutcome { Unchanged, Masked, Dropped }

/// <summary>
/// Masks single values with one connection's detectors and the policy's strategies, counting what it masks
/// into one tally. Its buffers are reused from value to value: one instance per masking run, on one thread.
/// </summary>
public sealed class ValueMasker(TextMasker detectors, MaskingPolicy policy, MaskingTally tally)
{
    private static readonly ConcurrentDictionary<string, string> RuleKeys = new(StringComparer.Ordinal);

    private readonly List<Finding> _findings = [];
    // Per entity met so far: its rule key, strategy and tag, found by reference (findings carry their detector's
    // own entity string), so a finding costs no string hashing beyond the tally's.
    private (string Entity, string Rule, MaskingStrategy Strategy, string Tag)[] _plans = [];
    private char[] _chars = new char[512];
    private char[] _masked = new char[512];
    private int _maskedLength;

    public MaskingTally Tally => tally;

    public TextMasker Detectors => detectors;

    /// <summary>The last value masked (after <see cref="ValueOutcome.Masked"/>), valid until the next call.</summary>
    public ReadOnlySpan<char> Masked => _masked.AsSpan(0, _maskedLength);

    /// <summary>A buffer for one value's characters, valid until the next call.</summary>
    public Span<char> Buffer(int length)
    {
        if (_chars.Length < length) _chars = new char[Math.Max(length, _chars.Length * 2)];
        return _chars;
    }

    /// <summary>
    /// Masks a value given as UTF-8, decoding it only when its character counts say a detector could find
    /// something, or when the name that holds it (<paramref name="key"/>) says what it is.
    /// </summary>
    public ValueOutcome Mask(ReadOnlySpan<byte> utf8, KeyKind key = KeyKind.None)
    {
        // Counts of ASCII characters are the same in bytes and characters; the byte length is never the
        // shorter, so every pre-check that passes on characters passes on bytes too.
        LastTraits = TextTraits.Of(utf8);
        var admitted = detectors.Admitted(LastTraits);
        if (admitted == 0 && KeyEntity(key) is null) return ValueOutcome.Unchanged;
        var chars = Buffer(Encoding.UTF8.GetMaxCharCount(utf8.Length));
        var length = Encoding.UTF8.GetChars(utf8, chars);
        return Mask(chars[..length], admitted, key);
    }

    public ValueOutcome Mask(ReadOnlySpan<char> text, KeyKind key = KeyKind.None) => Mask(text, detectors.Admitted(LastTraits = TextTraits.Of(text)), key);

    /// <summary>The character counts of the last value given to <see cref="Mask(ReadOnlySpan{byte}, KeyKind)"/> or <see cref="Mask(ReadOnlySpan{char}, KeyKind)"/>.</summary>
    public TextTraits LastTraits { get; private set; }

    /// <summary>The value masked; the value itself when nothing was found; null when a finding's strategy drops it.</summary>
    public string? Mask(string text, KeyKind key = KeyKind.None) => Mask(text.AsSpan(), key) switch
    {
        ValueOutcome.Unchanged => text,
        ValueOutcome.Masked => Masked.ToString(),
        _ => null,
    };

    /// <summary>
    /// A JSON number: as a value (a card stored as an integer), as the integer a float writes
    /// (4.111111111111111e15), and as an E.164 phone number without its '+' in the strict forms.
    /// </summary>
    public ValueOutcome MaskNumber(ReadOnlySpan<byte> utf8, KeyKind key = KeyKind.None)
    {
        if (utf8.Length > 48) return Mask(utf8, key);
        Span<char> text = stackalloc char[48];
        for (var i = 0; i < utf8.Length; i++) text[i] = (char)utf8[i]; // a JSON number is ASCII
        var number = text[..utf8.Length];
        // A number is one value: whatever is found in it masks all of it.
        var admitted = detectors.Admitted(TextTraits.Of(number));
        if (admitted != 0)
        {
            detectors.Find(number, admitted, _findings);
            if (key == KeyKind.Version) _findings.RemoveAll(static f => f.Entity == "IPV4");
            if (_findings.Count > 0) return Whole(number, _findings[0].Entity, _findings[0].Priority);
        }
        if (KeyEntity(key) is { } entity && Holds(key, number)) return Whole(number, entity, 200);
        Span<char> digits = stackalloc char[48];
        var count = 0;
        if (number.IndexOfAny('.', 'e', 'E') >= 0)
        {
            if (!decimal.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
                || value != decimal.Truncate(value) || Math.Abs(value) < 1_000_000m
                || !Math.Abs(value).TryFormat(digits, out count, "0", System.Globalization.CultureInfo.InvariantCulture)) return ValueOutcome.Unchanged;
            var integer = digits[..count];
            detectors.Find(integer, detectors.Admitted(TextTraits.Of(integer)), _findings);
            foreach (var finding in _findings)
                if (finding.Length == count) return Whole(number, finding.Entity, finding.Priority);
        }
        else
        {
            foreach (var c in number)
            {
                if (!char.IsAsciiDigit(c)) return ValueOutcome.Unchanged;
                digits[count++] = c;
            }
        }
        if (detectors.Detects("PHONE") && PhoneNumbers.StrictE164(digits[..count])) return Whole(number, "PHONE", 40);
        return ValueOutcome.Unchanged;
    }

    private ValueOutcome Whole(ReadOnlySpan<byte> utf8, string entity, int priority)
    {
        var chars = Buffer(Encoding.UTF8.GetMaxCharCount(utf8.Length));
        var length = Encoding.UTF8.GetChars(utf8, chars);
        return Whole(chars[..length], entity, priority);
    }

    private ValueOutcome Whole(ReadOnlySpan<char> text, string entity, int priority)
    {
        _maskedLength = 0;
        var replacement = Replace(new Finding(0, text.Length, entity, priority), text);
        if (replacement is null) return ValueOutcome.Dropped;
        Append(replacement);
        return ValueOutcome.Masked;
    }

    private bool IsWhole(ReadOnlySpan<char> text) =>
        _findings.Count == 1 && _findings[0].Start == text.Length - text.TrimStart().Length && _findings[0].End == text.TrimEnd().Length;

    /// <summary>The entity a key-name rule masks a value under this name as, when that entity's detector is on.</summary>
    private string? KeyEntity(KeyKind key) => SensitiveKeys.Entity(key) is { } entity && detectors.Detects(entity) ? entity : null;

    // A value held by a name that says what it is, masked whole, whatever it looks like: a secret when it is not
    // empty; personal data when it has the substance of one (digits for numbers, more than a placeholder).
    private static bool Holds(KeyKind key, ReadOnlySpan<char> value)
    {
        var trimmed = value.Trim();
        if (trimmed.IsEmpty) return false;
        return key switch
        {
            KeyKind.Card or KeyKind.Ssn or KeyKind.Phone or KeyKind.Iban => Validators.DigitCount(trimmed) >= 4 || trimmed.ContainsAnyInRange('\uFF10', '\uFF19') || !System.Text.Ascii.IsValid(trimmed),
            KeyKind.Email => trimmed.Length >= 3,
            _ => true,
        };
    }

    private ValueOutcome Mask(ReadOnlySpan<char> text, ulong admitted, KeyKind key)
    {
        if (KeyEntity(key) is { } entity && Holds(key, text))
        {
            // A detector's finding that is the whole value names it more exactly (a GitHub token in X-Debug-Token);
            // anything less, and the name's entity masks all of it.
            if (admitted != 0) detectors.Find(text, admitted, _findings);
            if (admitted == 0 || !IsWhole(text)) return Whole(text, entity, 200);
        }
        else
        {
            if (admitted == 0) return ValueOutcome.Unchanged;
            detectors.FindWithCells(text, admitted, _findings);
        }
        // Under a name that says "version", four numbers with dots are a version, not an address.
        if (key == KeyKind.Version) _findings.RemoveAll(static f => f.Entity == "IPV4");
        if (_findings.Count == 0) return ValueOutcome.Unchanged;
        _maskedLength = 0;
        var at = 0;
        var dropped = false;
        foreach (var finding in _findings)
        {
            Append(text[at..finding.Start]);
            var replacement = Replace(finding, text.Slice(finding.Start, finding.Length));
            if (replacement is null) dropped = true;
            else Append(replacement);
            at = finding.End;
        }
        if (dropped) return ValueOutcome.Dropped;
        Append(text[at..]);
        return ValueOutcome.Masked;
    }

    /// <summary>Takes <paramref name="text"/> as the value masked (a nested document masked on its own).</summary>
    public ValueOutcome Replaced(ReadOnlySpan<char> text)
    {
        _maskedLength = 0;
        Append(text);
        return ValueOutcome.Masked;
    }

    private void Append(ReadOnlySpan<char> text)
    {
        if (_maskedLength + text.Length > _masked.Length) Array.Resize(ref _masked, Math.Max(_masked.Length * 2, _maskedLength + text.Length));
        text.CopyTo(_masked.AsSpan(_maskedLength));
        _maskedLength += text.Length;
    }

    /// <summary>What one finding becomes by its entity's strategy (null: drop), counted by entity and detector.</summary>
    public string? Replace(Finding finding, ReadOnlySpan<char> value)
    {
        var (rule, strategy, tag) = PlanFor(finding.Entity);
        tally.Add(finding.Entity, rule);
        return strategy == MaskingStrategy.Redact ? tag : policy.Strategies.Apply(strategy, finding.Entity, value, policy.Keep);
    }

    private (string Rule, MaskingStrategy Strategy, string Tag) PlanFor(string entity)
    {
        foreach (var plan in _plans)
            if (ReferenceEquals(plan.Entity, entity)) return (plan.Rule, plan.Strategy, plan.Tag);
        // The same entity in another string (a caller's own finding) must not add a plan per finding.
        foreach (var plan in _plans)
            if (plan.Entity == entity) return (plan.Rule, plan.Strategy, plan.Tag);
        var added = (entity, RuleKeys.GetOrAdd(entity, static e => $"detector:{e.ToLowerInvariant()}"), policy.StrategyFor(entity),
            MaskingStrategies.Tag(entity));
        _plans = [.. _plans, added];
        return (added.Item2, added.Item3, added.Item4);
    }
}
