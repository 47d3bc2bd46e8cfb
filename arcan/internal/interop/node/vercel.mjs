// Runs the agent through arcand's /runs endpoint in the vercel format and
// parses the stream with the official `ai` package (DefaultChatTransport
// validates every chunk against the UI message stream schema;
// readUIMessageStream assembles the message).
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [runsURL, prompt] = process.argv.slice(2);
const transport = new DefaultChatTransport({
  api: runsURL,
  prepareSendMessagesRequest: () => ({ body: { input: prompt, stream: true, format: "vercel" } }),
});
const chunks = await transport.sendMessages({
  chatId: "c1",
  messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: prompt }] }],
  trigger: "submit-message",
  messageId: undefined,
  abortSignal: undefined,
});
let last;
for await (const msg of readUIMessageStream({ stream: chunks, onError: (e) => { throw e; } })) {
  last = msg;
}
const text = last.parts.filter((p) => p.type === "text").map((p) => p.text).join("\n");
const tools = last.parts.filter((p) => p.type === "dynamic-tool" || p.type.startsWith("tool-")).map((p) => ({ name: p.toolName ?? p.type.slice("tool-".length), state: p.state }));
console.log(JSON.stringify({ role: last.role, text, tools }));
