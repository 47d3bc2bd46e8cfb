// Official MCP TypeScript SDK as a client of a praxis server.
// usage: node client.mjs stdio <command> [args...] | node client.mjs http <url>
// Prints one JSON object with what it saw; exits non-zero on protocol failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, target, ...rest] = process.argv.slice(2);
const transport = mode === "stdio"
  ? new StdioClientTransport({ command: target, args: rest, stderr: "inherit" })
  : new StreamableHTTPClientTransport(new URL(target));

const client = new Client({ name: "praxis-interop", version: "1.0.0" });
await client.connect(transport);

const textOf = (res) => (res.content || []).filter((c) => c.type === "text").map((c) => c.text).join("");
const out = { server: client.getServerVersion(), tools: [], calls: {} };
const listed = await client.listTools();
out.tools = listed.tools.map((t) => ({ name: t.name, readOnly: t.annotations?.readOnlyHint ?? null, schemaType: t.inputSchema?.type }));

const call = async (key, name, args) => {
  const res = await client.callTool({ name, arguments: args });
  out.calls[key] = { isError: res.isError === true, text: textOf(res), structured: res.structuredContent ?? null };
};
await call("read", "read_file", { path: "hello.txt" });
await call("denied", "read_file", { path: "../outside/secret.txt" });
await call("symlink", "read_file", { path: "escape/secret.txt" });
await call("write", "write_file", { path: "from-node.txt", content: "written by the TypeScript SDK\n" });
await call("grep", "grep", { pattern: "TypeScript" });
await call("bash", "bash", { command: "echo $((6*7))" });
await call("badargs", "read_file", { nope: 1 });

const prompts = await client.listPrompts();
out.prompts = prompts.prompts.map((p) => ({ name: p.name, description: p.description }));
const got = await client.getPrompt({ name: "greet" });
out.promptText = got.messages.map((m) => m.content.text).join("");

console.log(JSON.stringify(out));
await client.close();
