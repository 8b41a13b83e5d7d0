using System.Collections.Concurrent;
using System.Text;
using Portcullis.Masking.Detectors;
using Portcullis.Masking.Rules;

namespace Portcullis.Masking;

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

    /// <summary>The last value masked (after <see cref="ValueOutcome.Masked"/>), valid until the next call.</summary>
    public ReadOnlySpan<char> Masked => _masked.AsSpan(0, _maskedLength);

    /// <summary>A buffer for one value's characters, valid until the next call.</summary>
    public Span<char> Buffer(int length)
    {
        if (_chars.Length < length) _chars = new char[Math.Max(length, _chars.Length * 2)];
        return _chars;
    }

    /// <summary>Masks a value given as UTF-8, decoding it only when its character counts say a detector could find something.</summary>
    public ValueOutcome Mask(ReadOnlySpan<byte> utf8)
    {
        // Counts of ASCII characters are the same in bytes and characters; the byte length is never the
        // shorter, so every pre-check that passes on characters passes on bytes too.
        var admitted = detectors.Admitted(TextTraits.Of(utf8));
        if (admitted == 0) return ValueOutcome.Unchanged;
        var chars = Buffer(Encoding.UTF8.GetMaxCharCount(utf8.Length));
        var length = Encoding.UTF8.GetChars(utf8, chars);
        return Mask(chars[..length], admitted);
    }

    public ValueOutcome Mask(ReadOnlySpan<char> text) => Mask(text, detectors.Admitted(TextTraits.Of(text)));

    /// <summary>The value masked; the value itself when nothing was found; null when a finding's strategy drops it.</summary>
    public string? Mask(string text) => Mask(text.AsSpan()) switch
    {
        ValueOutcome.Unchanged => text,
        ValueOutcome.Masked => Masked.ToString(),
        _ => null,
    };

    private ValueOutcome Mask(ReadOnlySpan<char> text, ulong admitted)
    {
        if (admitted == 0) return ValueOutcome.Unchanged;
        detectors.Find(text, admitted, _findings);
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
