// openai.mjs CASE - the official openai npm package against gb-serve.
// GB_URL is the server (http://127.0.0.1:PORT), GB_TOKEN the client
// token. Prints one compact JSON line per result for the bats test.
import OpenAI from "openai";

const client = new OpenAI({
  apiKey: process.env.GB_TOKEN,
  baseURL: process.env.GB_URL + "/v1",
  maxRetries: 0,
  timeout: 30000,
});
const model = "gemini-2.0-flash";
const hi = [{ role: "user", content: "hi" }];
const out = (v) => console.log(JSON.stringify(v));

const cases = {
  async chat() {
    const r = await client.chat.completions.create({ model, messages: hi });
    out([r.object, r.model, r.choices[0].message.content,
      r.choices[0].finish_reason, r.usage.total_tokens]);
  },
  async stream() {
    const s = await client.chat.completions.create({
      model, messages: hi, stream: true,
      stream_options: { include_usage: true },
    });
    let text = "", usage = null, n = 0;
    for await (const c of s) {
      n++;
      if (c.choices.length > 0) text += c.choices[0].delta.content ?? "";
      if (c.usage) usage = c.usage;
    }
    out([text, usage, n > 2]);
  },
  async tools() {
    const tools = [{
      type: "function",
      function: {
        name: "get_weather", description: "weather in a city",
        parameters: { type: "object", properties: { city: { type: "string" } },
          required: ["city"] },
      },
    }];
    const r = await client.chat.completions.create({ model, messages: hi, tools });
    const call = r.choices[0].message.tool_calls[0];
    out([r.choices[0].finish_reason, call.type, call.function.name,
      JSON.parse(call.function.arguments), call.id.startsWith("call_")]);
    // the same answer streamed, merged by the SDK's helper
    const f = await client.chat.completions.stream({ model, messages: hi, tools })
      .finalChatCompletion();
    const sc = f.choices[0].message.tool_calls[0];
    out([f.choices[0].finish_reason, sc.function.name,
      JSON.parse(sc.function.arguments)]);
    // and the result sent back: a second turn the server must convert
    const r2 = await client.chat.completions.create({
      model, tools, messages: [...hi, r.choices[0].message,
        { role: "tool", tool_call_id: call.id, content: "sunny" }],
    });
    out([r2.choices[0].message.content]);
  },
  async embeddings() {
    // no encoding_format: the SDK asks for base64 and decodes it
    const r = await client.embeddings.create({
      model: "text-embedding-004", input: ["a", "b"],
    });
    out([r.object, r.data.length, r.data.map((d) => d.index),
      r.data.every((d) => Array.isArray(d.embedding) && d.embedding.length > 0 &&
        d.embedding.every((x) => typeof x === "number" && Number.isFinite(x)))]);
  },
  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    const one = await client.models.retrieve("models/gemini-2.0-flash");
    out([ids.includes("gemini-2.0-flash"), one.id, one.object]);
    try {
      await client.models.retrieve("no-such-model");
      out(["no error"]);
    } catch (e) {
      out([e.status, e.code]);
    }
  },
  async autherror() {
    const bad = new OpenAI({ apiKey: "wrong", baseURL: process.env.GB_URL + "/v1",
      maxRetries: 0 });
    try {
      await bad.chat.completions.create({ model, messages: hi });
      out(["no error"]);
    } catch (e) {
      out([e.status, e.constructor.name, e.code]);
    }
  },
};

await cases[process.argv[2]]();
