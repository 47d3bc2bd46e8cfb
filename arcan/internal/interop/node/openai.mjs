// Calls arcand's /v1/chat/completions with the official openai client,
// without and with streaming, and prints what it got as one JSON line.
import OpenAI from "openai";

const [baseURL, prompt] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "not-needed-on-loopback", maxRetries: 0 });

const plain = await client.chat.completions.create({
  model: "arcan-agent",
  messages: [{ role: "user", content: prompt }],
});

const stream = await client.chat.completions.create({
  model: "arcan-agent",
  messages: [{ role: "user", content: prompt }],
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let usage = null;
let finish = null;
for await (const chunk of stream) {
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? "";
    finish = c.finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}

console.log(JSON.stringify({
  plain: plain.choices[0].message.content,
  plainFinish: plain.choices[0].finish_reason,
  plainUsage: plain.usage,
  streamed,
  finish,
  usage,
}));
