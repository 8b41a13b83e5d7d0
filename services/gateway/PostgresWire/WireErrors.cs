using System.Text.Json;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// The gateway's answers (problem documents, already masked and recorded) as PostgreSQL errors a client shows and
/// a program can act on by SQLSTATE: 42501 for a denial (rule and reason in message and detail), 55000 for an
/// approval still pending (its id and how to re-send), the database's own SQLSTATE for what the upstream refused.
/// </summary>
public static class WireErrors
{
    public const string InsufficientPrivilege = "42501";
    /// <summary>object_not_in_prerequisite_state: the statement needs an approval that is not granted yet.</summary>
    public const string ApprovalPending = "55000";
    public const string ProtocolViolation = "08P01";
    public const string FeatureNotSupported = "0A000";
    public const string InvalidPassword = "28P01";
    public const string InvalidAuthorization = "28000";

    public static WireError FromProblem(int status, byte[] body)
    {
        JsonElement problem;
        try
        {
            problem = JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException)
        {
            return WireError.Of("58000", $"The gateway answered {status} without a readable reason; nothing more is known.");
        }
        var type = String(problem, "type")?.Split('/').Last() ?? "";
        var title = String(problem, "title") ?? "Refused";
        var detail = String(problem, "detail") ?? "";
        var rule = String(problem, "rule");
        var requestId = String(problem, "requestId");
        var reference = requestId is null ? null : $"Request {requestId} in session {String(problem, "sessionId")}.";
        switch (type)
        {
            case "denied":
                return WireError.Of(InsufficientPrivilege, $"Denied by policy rule '{rule}': {detail}",
                    $"Rule '{rule}' (policy version {Raw(problem, "policyVersion")}) denied this statement; nothing ran. {reference}",
                    "Change the statement so that the rule does not apply; an approval cannot be asked for.");
            case "approval-pending":
                var approval = String(problem, "approvalId");
                return WireError.Of(ApprovalPending,
                    $"Approval pending (rule '{rule}'): approval id {approval}; the statement has not run.",
                    detail + " " + reference,
                    $"Once an approver has approved it, run SET portcullis.approval = '{approval}'; then send the same statement again.");
            case "sql-error":
                var sqlState = String(problem, "sqlstate") ?? "XX000";
                int? position = problem.TryGetProperty("position", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null;
                return new WireError("ERROR", sqlState, detail, Position: position);
            case "approval-denied" or "approval-closed" or "masked-view" or "forbidden":
                return WireError.Of(InsufficientPrivilege, $"{title}: {detail}", reference);
            default:
                if (type.StartsWith("approval-", StringComparison.Ordinal))
                    return WireError.Of(InsufficientPrivilege, $"{title}: {detail}", reference);
                var state = status switch
                {
                    400 => "22023", // invalid_parameter_value: a session id or approval id that is not one
                    403 => InsufficientPrivilege,
                    413 => "54000",
                    503 => "57P03", // cannot_connect_now: the gateway cannot decide, mask or record at the moment
                    _ => "58000",
                };
                return WireError.Of(state, $"{title}: {detail}", reference);
        }
    }

    private static string? String(JsonElement problem, string name) =>
        problem.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Raw(JsonElement problem, string name) =>
        problem.TryGetProperty(name, out var value) ? value.ToString() : "?";
}
