// The official TypeScript MCP client calling a third-party MCP server's tools through the Portcullis gateway:
// list the tools, read a file through the proxied filesystem server, try a path the policy refuses, and print
// what came back as one JSON document for the test to check.
// Usage: node proxied.mjs <gateway-mcp-url> <bearer-token> <allowed-path> <refused-path>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, allowed, refused] = process.argv.slice(2);
if (!url || !token || !allowed || !refused) {
  console.error("usage: node proxied.mjs <gateway-mcp-url> <bearer-token> <allowed-path> <refused-path>");
  process.exit(2);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "portcullis-ts-proxy-test", version: "1.0.0" });
await client.connect(transport);

const tools = await client.listTools();
const read = await client.callTool({ name: "files.read_text_file", arguments: { path: allowed } });
const denied = await client.callTool({ name: "files.read_text_file", arguments: { path: refused } });

console.log(JSON.stringify({ sessionId: transport.sessionId, tools: tools.tools.map((t) => t.name), read, denied }));
await client.close();
