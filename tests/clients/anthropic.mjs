// anthropic.mjs CASE - the official @anthropic-ai/sdk against gb-serve's
// POST /v1/messages. GB_URL is the server, GB_TOKEN the client token
// (sent as x-api-key, as ANTHROPIC_API_KEY is). Prints one compact JSON
// line per result.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({
  apiKey: process.env.GB_TOKEN,
  baseURL: process.env.GB_URL,
  maxRetries: 0,
  timeout: 30000,
});
const model = "gemini-2.5-flash";
const out = (v) => console.log(JSON.stringify(v));
const hi = [{ role: "user", content: "hi" }];
const tools = [{
  name: "get_weather", description: "weather in a city",
  input_schema: {
    type: "object", properties: { city: { type: "string" } },
    required: ["city"], additionalProperties: false,
  },
}];

const cases = {
  async create() {
    const m = await client.messages.create({
      model, max_tokens: 100, system: "be brief", messages: hi,
    });
    out([m.type, m.role, m.model, m.content[0].type, m.content[0].text,
      m.stop_reason, m.id.startsWith("msg_"), m.usage.input_tokens,
      m.usage.output_tokens]);
  },
  // raw events with their arrival times, then the SDK's helper
  async stream() {
    const t0 = Date.now();
    const s = await client.messages.create({
      model, max_tokens: 100, messages: hi, stream: true,
    });
    const types = [], at = [];
    let text = "";
    for await (const e of s) {
      types.push(e.type);
      if (e.type === "content_block_delta" && e.delta.type === "text_delta") {
        text += e.delta.text;
        at.push(Date.now() - t0);
      }
    }
    out([text, types[0], types[types.length - 1]]);
    out(at);
    const f = await client.messages.stream({ model, max_tokens: 100, messages: hi })
      .finalMessage();
    out([f.content[0].text, f.stop_reason, f.usage.output_tokens]);
  },
  // a tool_use, whole and streamed, then its result sent back
  async tools() {
    const m = await client.messages.create({ model, max_tokens: 100, messages: hi, tools });
    const tu = m.content.find((b) => b.type === "tool_use");
    out([m.stop_reason, tu.name, tu.input, tu.id.startsWith("toolu_")]);
    const f = await client.messages.stream({ model, max_tokens: 100, messages: hi, tools })
      .finalMessage();
    const st = f.content.find((b) => b.type === "tool_use");
    out([f.stop_reason, st.name, st.input]);
    const r2 = await client.messages.create({
      model, max_tokens: 100, tools,
      messages: [...hi, { role: "assistant", content: m.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: tu.id,
          content: "sunny" }] }],
    });
    out([r2.content[0].text, r2.stop_reason]);
  },
  // thinking asked for: a thinking block, whole and streamed
  async thinking() {
    const thinking = { type: "enabled", budget_tokens: 2048 };
    const m = await client.messages.create({ model, max_tokens: 4096, messages: hi,
      thinking });
    out(m.content.map((b) => [b.type, b.thinking ?? b.text]));
    const s = client.messages.stream({ model, max_tokens: 4096, messages: hi, thinking });
    let th = "";
    s.on("thinking", (d) => { th += d; });
    const f = await s.finalMessage();
    out([th, f.content.map((b) => b.type)]);
  },
  async count() {
    const c = await client.messages.countTokens({ model, system: "be brief",
      messages: [{ role: "user", content: "one two three" }] });
    out([c.input_tokens]);
  },
  async error() {
    try {
      await client.messages.create({ model, max_tokens: 100, messages: hi });
      out(["no error"]);
    } catch (e) {
      out([e.status, e.constructor.name, e.error?.error?.type ?? null,
        e.headers?.get?.("retry-after") ?? null]);
    }
  },
  // a stream cut after its first event: the SDK throws
  async cut() {
    const s = await client.messages.create({ model, max_tokens: 100, messages: hi,
      stream: true });
    const types = [];
    try {
      for await (const e of s) types.push(e.type);
      types.push("ended");
    } catch (e) {
      types.push("threw " + e.constructor.name);
    }
    out([types.includes("content_block_delta"), types[types.length - 1]]);
  },
  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push([m.type, m.id]);
    const one = await client.models.retrieve("gemini-2.0-flash");
    out([ids.some(([t, id]) => t === "model" && id === "gemini-2.5-flash"),
      one.type, one.id]);
    try {
      await client.models.retrieve("no-such-model");
      out(["no error"]);
    } catch (e) {
      out([e.status, e.error?.error?.type ?? null]);
    }
  },
  async bearer() {
    const b = new Anthropic({ authToken: process.env.GB_TOKEN, apiKey: null,
      baseURL: process.env.GB_URL, maxRetries: 0 });
    const m = await b.messages.create({ model, max_tokens: 100, messages: hi });
    out([m.content[0].text]);
  },
};

await cases[process.argv[2]]();
