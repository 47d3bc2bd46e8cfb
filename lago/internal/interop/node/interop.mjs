// Reads one lagod SSE stream with an official client and prints what the
// client made of it as JSON. Driven by ../interop_test.go:
//   node interop.mjs openai|anthropic|vercel URL
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [, , mode, url] = process.argv;
if (!mode || !url) {
  console.error("usage: node interop.mjs openai|anthropic|vercel URL");
  process.exit(2);
}

// The clients POST to their own endpoints; lagod replays a stored run with
// GET, so the fetch they are given redirects the request there.
const replay = async (_input, init) =>
  fetch(url, { method: "GET", headers: { accept: "text/event-stream" }, signal: init?.signal });

if (mode === "openai") {
  const client = new OpenAI({ apiKey: "unused", baseURL: "http://lagod.invalid/v1", fetch: replay, maxRetries: 0 });
  const stream = client.chat.completions.stream({ model: "mock", messages: [{ role: "user", content: "hi" }] });
  let chunks = 0;
  for await (const _ of stream) chunks++;
  const final = await stream.finalChatCompletion();
  console.log(JSON.stringify({ chunks, final }));
} else if (mode === "anthropic") {
  const client = new Anthropic({ apiKey: "unused", baseURL: "http://lagod.invalid", fetch: replay, maxRetries: 0 });
  const stream = client.messages.stream({ model: "mock", max_tokens: 100, messages: [{ role: "user", content: "hi" }] });
  let events = 0;
  for await (const _ of stream) events++;
  const final = await stream.finalMessage();
  console.log(JSON.stringify({ events, final }));
} else if (mode === "vercel") {
  const transport = new DefaultChatTransport({ api: "http://lagod.invalid/api/chat", fetch: replay });
  const stream = await transport.sendMessages({ chatId: "c", messages: [], trigger: "submit-message" });
  let message;
  let errors = [];
  for await (const m of readUIMessageStream({ stream, onError: (e) => errors.push(String(e)), terminateOnError: true })) {
    message = m;
  }
  if (errors.length) {
    console.error(errors.join("\n"));
    process.exit(1);
  }
  console.log(JSON.stringify({ message }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
