// Official MCP TypeScript SDK as a stdio server that praxis consumes.
// Tools: echo, add, fail (an isError result), crash (the process exits).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "node-interop", version: "1.0.0" });
server.registerTool("echo", {
  description: "Echo the text back",
  inputSchema: { text: z.string() },
  annotations: { readOnlyHint: true, openWorldHint: false },
}, async ({ text }) => ({ content: [{ type: "text", text }] }));
server.registerTool("add", {
  description: "Add two numbers",
  inputSchema: { a: z.number(), b: z.number() },
  outputSchema: { sum: z.number() },
}, async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }], structuredContent: { sum: a + b } }));
server.registerTool("fail", { description: "Always fails" },
  async () => ({ content: [{ type: "text", text: "it failed on purpose" }], isError: true }));
server.registerTool("crash", { description: "Kills the server" }, async () => { process.exit(7); });

await server.connect(new StdioServerTransport());
