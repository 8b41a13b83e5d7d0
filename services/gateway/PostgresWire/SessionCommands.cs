using System.Text.RegularExpressions;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// The statements the gateway answers itself, because they are about the wire session rather than the database:
/// <c>SET portcullis.approval = '&lt;id&gt;'</c> (presented with the next statement) and <c>SHOW portcullis.session</c>.
/// Everything else goes through policy (transaction control too: <see cref="WireTransaction"/>).
/// </summary>
public static partial class SessionCommands
{
    public static WireOutcome? Answer(string sql, WireSession session)
    {
        var words = WireSql.Words(sql, 2);
        if (words.Count == 0) return null;
        switch (words[0])
        {
            case "SET" or "RESET" when ApprovalSetting().Match(sql) is { Success: true } set:
                if (words[0] == "RESET" || set.Groups["value"].Value.Trim('\'').Length == 0 ||
                    set.Groups["value"].Value.Equals("default", StringComparison.OrdinalIgnoreCase))
                {
                    session.PresentedApproval = null;
                    return Done();
                }
                var value = set.Groups["value"].Value.Trim('\'');
                if (!Guid.TryParse(value, out var approval))
                    return WireOutcome.Failed(WireError.Of("22023",
                        "portcullis.approval must be the approval id the gateway gave (a GUID)."));
                session.PresentedApproval = approval.ToString();
                return Done();
            case "SHOW" when words.Count > 1 && ShowSetting().Match(sql) is { Success: true } show:
                var name = show.Groups[1].Value.ToLowerInvariant();
                var shown = name == "portcullis.session" ? session.SessionId : session.PresentedApproval ?? "";
                return new WireOutcome([new WireResultSet([new WireResultColumn(name, 0, 0, WireValues.Text, false)], [[shown]], false)], 0, null);
            default:
                return null;
        }
    }

    /// <summary>
    /// The columns of a statement the gateway answers itself or that returns none (transaction control, SET), without
    /// answering it; null when the statement is not the gateway's.
    /// </summary>
    public static IReadOnlyList<WireResultColumn>? Describe(string sql)
    {
        var words = WireSql.Words(sql, 2);
        if (words.Count == 0) return null;
        return words[0] switch
        {
            "BEGIN" or "START" or "COMMIT" or "END" or "ROLLBACK" or "ABORT" or "SAVEPOINT" or "RELEASE" => [],
            "SET" or "RESET" when ApprovalSetting().IsMatch(sql) => [],
            "SHOW" when ShowSetting().Match(sql) is { Success: true } show =>
                [new WireResultColumn(show.Groups[1].Value.ToLowerInvariant(), 0, 0, WireValues.Text, false)],
            _ => null,
        };
    }

    private static WireOutcome Done() => new([], 0, null);

    [GeneratedRegex(@"^\s*(?:SET\s+(?:SESSION\s+|LOCAL\s+)?portcullis\.approval\s*(?:=|\s+TO\s+)\s*(?<value>'[^']*'|[\w-]+)\s*;?\s*$|RESET\s+portcullis\.approval\s*;?\s*$)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ApprovalSetting();

    [GeneratedRegex(@"^\s*SHOW\s+(portcullis\.(?:session|approval))\s*;?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ShowSetting();
}
