// The official TypeScript MCP client against the Portcullis gateway: list the tools, run an allowed query,
// try a command the policy denies, and print what came back as one JSON document for the test to check.
// Usage: node run.mjs <gateway-mcp-url> <bearer-token> <sql> <command>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, sql, command] = process.argv.slice(2);
if (!url || !token || !sql || !command) {
  console.error("usage: node run.mjs <gateway-mcp-url> <bearer-token> <sql> <command>");
  process.exit(2);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "portcullis-ts-test", version: "1.0.0" });
await client.connect(transport);

const tools = await client.listTools();
const connections = await client.callTool({ name: "list_connections", arguments: {} });
const query = await client.callTool({ name: "sql_query", arguments: { connection: "warehouse", sql } });
const denied = await client.callTool({ name: "run_command", arguments: { connection: "ops", command } });

console.log(JSON.stringify({
  sessionId: transport.sessionId,
  tools: tools.tools.map((t) => t.name),
  connections,
  query,
  denied,
}));
await client.close();
