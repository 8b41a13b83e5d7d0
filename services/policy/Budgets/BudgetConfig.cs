using System.Text.RegularExpressions;
using Portcullis.Defaults.Configuration;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Portcullis.Policy.Budgets;

/// <summary>
/// A rule's <c>budget:</c> what the actions it matches may return over a sliding window, per identity or per session,
/// before the rule applies. Checked as it is read, so a bad budget is refused with its line and column in the file.
/// </summary>
public sealed partial class BudgetConfig : IYamlConvertible
{
    public const string PerIdentity = "identity";
    public const string PerSession = "session";

    /// <summary>The shortest window: shorter would be a rate limit, which budgets are not.</summary>
    public static readonly TimeSpan ShortestWindow = TimeSpan.FromSeconds(1);

    /// <summary>How far back the budget looks: "1h", "30m", "24h".</summary>
    public string Window { get; set; } = "";

    /// <summary>identity (the token's subject, across its sessions) or session.</summary>
    public string Per { get; set; } = PerIdentity;

    /// <summary>Matching actions that ran.</summary>
    public long? Requests { get; set; }

    /// <summary>Rows returned by matching SQL actions.</summary>
    public long? Rows { get; set; }

    /// <summary>Bytes of output the agent got from matching actions (after masking).</summary>
    public long? Bytes { get; set; }

    /// <summary>Values masked in matching actions' output, by entity type: { EMAIL: 100 }.</summary>
    public Dictionary<string, long> Masked { get; set; } = [];

    /// <summary>Every problem with the budget, each prefixed with <paramref name="where"/>.</summary>
    public IEnumerable<string> Problems(string where)
    {
        if (!DurationText.TryParse(Window, out var window))
            yield return $"{where}.window '{Window}' is not a duration such as 30m, 1h or 24h";
        else if (window < ShortestWindow)
            yield return $"{where}.window '{Window}' is shorter than one second";
        if (Per is not (PerIdentity or PerSession))
            yield return $"{where}.per '{Per}' is not one of identity, session";
        if (Requests is null && Rows is null && Bytes is null && Masked.Count == 0)
            yield return $"{where} limits nothing: give requests, rows, bytes or masked: {{ENTITY: count}}";
        foreach (var (name, limit) in new[] { ("requests", Requests), ("rows", Rows), ("bytes", Bytes) })
            if (limit is <= 0) yield return $"{where}.{name} must be positive";
        foreach (var (entity, limit) in Masked)
        {
            if (!EntityName().IsMatch(entity))
                yield return $"{where}.masked entity '{entity}' is not an entity type such as EMAIL, PHONE or CREDIT_CARD";
            if (limit <= 0) yield return $"{where}.masked.{entity} must be positive";
        }
    }

    [GeneratedRegex("^[A-Z][A-Z0-9_]*$")]
    private static partial Regex EntityName();

    void IYamlConvertible.Read(IParser parser, Type expectedType, ObjectDeserializer nestedObjectDeserializer)
    {
        var start = parser.Current?.Start ?? Mark.Empty;
        var end = parser.Current?.End ?? Mark.Empty;
        if (parser.Current is not MappingStart)
            throw new YamlException(start, end, "budget must be a mapping: { window: 1h, per: identity, requests: 100 }");
        var fields = (BudgetFields?)nestedObjectDeserializer(typeof(BudgetFields)) ?? new BudgetFields();
        (Window, Per, Requests, Rows, Bytes, Masked) = (fields.Window, fields.Per, fields.Requests, fields.Rows, fields.Bytes, fields.Masked);
        var problems = Problems("budget").ToList();
        if (problems.Count > 0) throw new YamlException(start, end, string.Join("; ", problems));
    }

    void IYamlConvertible.Write(IEmitter emitter, ObjectSerializer nestedObjectSerializer) =>
        nestedObjectSerializer(new BudgetFields
        {
            Window = Window, Per = Per, Requests = Requests, Rows = Rows, Bytes = Bytes, Masked = Masked,
        }, typeof(BudgetFields));

    /// <summary>The fields as YAML has them (the budget itself reads through this, to check them as a whole).</summary>
    private sealed class BudgetFields
    {
        public string Window { get; set; } = "";
        public string Per { get; set; } = PerIdentity;
        public long? Requests { get; set; }
        public long? Rows { get; set; }
        public long? Bytes { get; set; }
        public Dictionary<string, long> Masked { get; set; } = [];
    }
}
