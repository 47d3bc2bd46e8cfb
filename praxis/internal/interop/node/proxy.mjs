// The SDK client against `praxis mcp serve --servers ...` that proxies an SDK
// server: lists the tools and calls the proxied echo.
// usage: node proxy.mjs <command> [args...]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = process.argv.slice(2);
const client = new Client({ name: "praxis-proxy-interop", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command, args, stderr: "inherit" }));
const { tools } = await client.listTools();
const res = await client.callTool({ name: "node__echo", arguments: { text: "through praxis" } });
console.log(JSON.stringify({ tools: tools.map((t) => t.name).sort(), echo: res }));
await client.close();
