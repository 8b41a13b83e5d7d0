using System.Text;
using System.Text.Json.Nodes;
using Dapr.Client;
using Marten;
using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Approval.Saga;
using Portcullis.Defaults.Hosting;

namespace Portcullis.Approval.Notifications;

/// <summary>Where approvers are told about a new approval (section "Notifications").</summary>
public sealed class NotificationOptions
{
    /// <summary>A Dapr output binding (Slack, SMTP, HTTP, ...) used when a Dapr sidecar is configured.</summary>
    public string? DaprBinding { get; set; }
    public string DaprBindingOperation { get; set; } = "create";

    /// <summary>A Slack-compatible incoming webhook, used when no Dapr binding is in play.</summary>
    public string? WebhookUrl { get; set; }
}

/// <summary>
/// Tells approvers that an action waits for them: through the Dapr output binding when a sidecar is
/// configured, otherwise through the webhook. The message holds who asks, the connection, the whole action,
/// the rule and why, and a link to the console. A failed delivery is retried by the endpoint; it never
/// blocks the approval, which the console lists either way. The saga stores the approval from the same event on
/// another queue: approvers are told only once it is stored (until then the notification is retried), so the link
/// they follow at once finds it instead of answering "no such approval".
/// </summary>
public sealed class ApprovalNotifier(IOptions<NotificationOptions> notifications, IOptions<ApprovalOptions> approvals,
    IHttpClientFactory http, Lazy<DaprClient> dapr, IQuerySession store, ILogger<ApprovalNotifier> logger) : IConsumer<ApprovalRequested>
{
    public async Task Consume(ConsumeContext<ApprovalRequested> context)
    {
        if (await store.LoadAsync<ApprovalState>(context.Message.ApprovalId, context.CancellationToken) is null)
            throw new ApprovalNotStoredYetException(context.Message.ApprovalId);
        var options = notifications.Value;
        var payload = Payload(context.Message, approvals.Value.ConsoleLink(context.Message.ApprovalId));
        if (!string.IsNullOrEmpty(options.DaprBinding) && DaprSidecar.IsConfigured)
        {
            await dapr.Value.InvokeBindingAsync(options.DaprBinding, options.DaprBindingOperation, payload,
                new Dictionary<string, string> { ["approvalId"] = context.Message.ApprovalId.ToString() },
                context.CancellationToken);
            logger.LogInformation("Approval {ApprovalId}: approvers notified through Dapr binding {Binding}",
                context.Message.ApprovalId, options.DaprBinding);
        }
        else if (!string.IsNullOrEmpty(options.WebhookUrl))
        {
            using var content = new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await http.CreateClient(nameof(ApprovalNotifier)).PostAsync(options.WebhookUrl, content,
                context.CancellationToken);
            if (!response.IsSuccessStatusCode)
                throw new HttpRequestException(
                    $"The notification webhook answered {(int)response.StatusCode}; the notification will be retried.");
            logger.LogInformation("Approval {ApprovalId}: approvers notified through the webhook", context.Message.ApprovalId);
        }
        else
        {
            logger.LogWarning("Approval {ApprovalId}: no notification channel is configured (Notifications:DaprBinding with a " +
                              "sidecar, or Notifications:WebhookUrl); approvers find it in the console", context.Message.ApprovalId);
        }
    }

    /// <summary>A Slack-compatible message: a plain text fallback and blocks, plus the approval as data.</summary>
    public static JsonObject Payload(ApprovalRequested approval, string link)
    {
        var action = approval.Action;
        var what = ActionText(action);
        var who = approval.Requester.ClientId is { } client && client != approval.Requester.Subject
            ? $"{approval.Requester.Subject} (client {client})"
            : approval.Requester.Subject;
        var text = $"Approval needed: {who} wants to run a {action.Protocol} action on '{action.Connection}' " +
                   $"(rule {approval.RuleId ?? "default"}). {link}";
        return new JsonObject
        {
            ["text"] = text,
            ["blocks"] = new JsonArray(
                Section($"*Approval needed* for *{Escape(who)}* on connection *{Escape(action.Connection)}*\n" +
                        $"Rule `{Escape(approval.RuleId ?? "default")}`: {Escape(approval.Reason)}"),
                Section($"```{Escape(what)}```"),
                Section($"{Escape(BindingText(action, approval.BodyPreview, approval.ActionHash))}"),
                Section($"Approvers: {Escape(string.Join(", ", approval.ApproverGroups))}. Expires {approval.ExpiresAt:u}.\n" +
                        $"<{link}|Review and approve or deny>")),
            ["approval"] = new JsonObject
            {
                ["id"] = approval.ApprovalId.ToString(),
                ["requester"] = approval.Requester.Subject,
                ["connection"] = action.Connection,
                ["protocol"] = action.Protocol,
                ["action"] = what,
                ["parameters"] = action.Parameters,
                ["body"] = approval.BodyPreview,
                ["actionHash"] = approval.ActionHash,
                ["rule"] = approval.RuleId,
                ["reason"] = approval.Reason,
                ["expiresAt"] = approval.ExpiresAt.ToString("O"),
                ["link"] = link,
            },
        };
    }

    /// <summary>The action as an approver reads it: the SQL, the command, or the method and path.</summary>
    public static string ActionText(AgentAction action) => action switch
    {
        { Sql: { } sql } => sql,
        { Command: { } command } => command,
        { Tool: { } tool } => $"MCP tool {tool} {action.Arguments}",
        { Resource: { } uri } => $"MCP resource {uri}",
        { Prompt: { } prompt } => $"MCP prompt {prompt} {action.Arguments}",
        _ => $"{action.Method} {action.Path}{action.Query}",
    };

    /// <summary>
    /// What else the approval covers besides <see cref="ActionText"/>: the SQL parameters, the start of an HTTP body,
    /// and the hash of the whole action (an approval runs that action and no other).
    /// </summary>
    public static string BindingText(AgentAction action, string? bodyPreview, string? actionHash)
    {
        var lines = new List<string>();
        if (action.Parameters is { } parameters) lines.Add($"Parameters: {parameters}");
        if (bodyPreview is { } body) lines.Add($"Body {body}");
        lines.Add($"Action hash: {actionHash ?? "none (this approval covers no action)"}");
        return string.Join("\n", lines);
    }

    private static JsonObject Section(string markdown) => new()
    {
        ["type"] = "section",
        ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = markdown },
    };

    // Slack's three control characters; everything else is shown as written.
    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}

/// <summary>The approval a notification is about is not stored yet: the notification is retried (the endpoint's retry policy).</summary>
public sealed class ApprovalNotStoredYetException(Guid approvalId)
    : Exception($"Approval {approvalId} is not stored yet; approvers are notified once it is.");
