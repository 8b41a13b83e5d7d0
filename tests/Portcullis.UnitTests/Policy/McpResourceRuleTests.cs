using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>Rules on proxied MCP resources and prompts, and tool names that spoof another connection's prefix.</summary>
public class McpResourceRuleTests
{
    private const string Yaml = """
        connections:
          docs: { kind: mcp, url: "http://127.0.0.1:1/mcp", default_effect: allow }
          evil: { kind: mcp, command: evil-server, default_effect: deny }
        policy:
          default_effect: deny
          rules:
            - id: docs-no-secrets
              effect: deny
              reason: The secret documents are not for agents.
              match: { connections: [docs], mcp: { resources: ["demo://resource/static/secret/**", "file:///etc/**"] } }
            - id: docs-no-admin-prompt
              effect: deny
              match: { connections: [docs], mcp: { prompts: ["admin-*"] } }
            - id: docs-prompt-city
              effect: require_approval
              approvers: [approvers]
              match: { connections: [docs], mcp: { prompts: [args-prompt], arguments: [{ path: "$.city", equals: Oslo }] } }
            - id: docs-tools-only
              effect: deny
              match: { connections: [docs], mcp: { tools: ["*"] } }
            - id: allow-file-reads
              effect: allow
              match: { mcp: { tools: ["docs.read_*"] } }
        """;

    private static readonly CompiledPolicy Policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static PolicyEvaluated Decide(AgentAction action) =>
        Evaluator.Evaluate(Policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-1", "agent-1", ["agents"]),
            action, DateTimeOffset.UtcNow)).Evaluated;

    [Theory]
    [InlineData("demo://resource/static/secret/keys.md")]
    [InlineData("demo://resource/static/public/../secret/keys.md")]
    [InlineData("demo://resource/static/public/%2e%2e/secret/keys.md")]
    [InlineData("file:///srv/docs/../../etc/passwd")]
    public void A_resource_under_a_denied_uri_glob_is_denied_even_through_dot_segments(string uri)
    {
        var decision = Decide(new AgentAction(Protocols.Mcp, "docs", Resource: uri));
        Assert.Equal(Decision.Deny, decision.Decision);
        Assert.Equal("docs-no-secrets", decision.RuleId);
    }

    [Theory]
    [InlineData("file:///etc")]
    [InlineData("file:///etc.json")]
    [InlineData("demo://resource/static/secret.md")]
    [InlineData("demo://resource/static/secret;v=1")]
    [InlineData("demo://resource/static/secret/deeper/keys.md")]
    public void A_denied_uri_glob_covers_its_uri_with_a_format_suffix_and_everything_beneath_it(string uri)
    {
        var decision = Decide(new AgentAction(Protocols.Mcp, "docs", Resource: uri));
        Assert.Equal(Decision.Deny, decision.Decision);
        Assert.Equal("docs-no-secrets", decision.RuleId);
    }

    [Fact]
    public void A_uri_that_only_starts_like_a_denied_one_is_not_covered()
    {
        Assert.Equal(Decision.Allow, Decide(new AgentAction(Protocols.Mcp, "docs", Resource: "demo://resource/static/secretary/a.md")).Decision);
    }

    [Fact]
    public void Another_resource_is_allowed_and_a_tool_rule_does_not_apply_to_resources_or_prompts()
    {
        Assert.Equal(Decision.Allow, Decide(new AgentAction(Protocols.Mcp, "docs", Resource: "demo://resource/static/public/a.md")).Decision);
        Assert.Equal(Decision.Allow, Decide(new AgentAction(Protocols.Mcp, "docs", Prompt: "simple-prompt", Arguments: "{}")).Decision);
        Assert.Equal("docs-tools-only", Decide(new AgentAction(Protocols.Mcp, "docs", Tool: "echo", Arguments: "{}")).RuleId);
    }

    [Fact]
    public void Prompts_are_matched_by_name_and_by_their_arguments()
    {
        var admin = Decide(new AgentAction(Protocols.Mcp, "docs", Prompt: "admin-reset", Arguments: "{}"));
        Assert.Equal(Decision.Deny, admin.Decision);
        Assert.Equal("docs-no-admin-prompt", admin.RuleId);
        Assert.Equal(Decision.RequireApproval, Decide(new AgentAction(Protocols.Mcp, "docs", Prompt: "args-prompt", Arguments: """{"city":"Oslo"}""")).Decision);
        Assert.Equal(Decision.Allow, Decide(new AgentAction(Protocols.Mcp, "docs", Prompt: "args-prompt", Arguments: """{"city":"Bergen"}""")).Decision);
    }

    [Fact]
    public void An_allow_rule_on_a_listed_name_does_not_vouch_for_another_connections_tool_that_spoofs_the_prefix()
    {
        // Connection evil names its tool "docs.read_file": listed as evil.docs.read_file, not docs.read_file.
        var spoofed = Decide(new AgentAction(Protocols.Mcp, "evil", Tool: "docs.read_file", Arguments: "{}"));
        Assert.Equal(Decision.Deny, spoofed.Decision);
        Assert.DoesNotContain("allow-file-reads", spoofed.MatchedRules);
    }

    [Fact]
    public void A_rule_that_names_no_tools_resources_or_prompts_matches_every_mcp_action()
    {
        const string yaml = """
            connections:
              docs: { kind: mcp, url: "http://127.0.0.1:1/mcp", default_effect: allow }
            policy:
              rules:
                - id: docs-closed
                  effect: deny
                  match: { connections: [docs], mcp: {} }
            """;
        var policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(yaml));
        foreach (var action in new[]
                 {
                     new AgentAction(Protocols.Mcp, "docs", Tool: "echo", Arguments: "{}"),
                     new AgentAction(Protocols.Mcp, "docs", Resource: "demo://x"),
                     new AgentAction(Protocols.Mcp, "docs", Prompt: "p", Arguments: "{}"),
                 })
            Assert.Equal("docs-closed", Evaluator.Evaluate(policy, new RequestReceived(Guid.NewGuid(), "s1",
                new Principal("a", "a", []), action, DateTimeOffset.UtcNow)).Evaluated.RuleId);
    }
}
