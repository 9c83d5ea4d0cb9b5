// responses.mjs CASE - the official openai npm package's Responses API
// client against gb-serve's POST /v1/responses. GB_URL is the server,
// GB_TOKEN the client token. Prints one compact JSON line per result.
import OpenAI from "openai";

const client = new OpenAI({
  apiKey: process.env.GB_TOKEN,
  baseURL: process.env.GB_URL + "/v1",
  maxRetries: 0,
  timeout: 30000,
});
const model = "gemini-2.5-flash";
const out = (v) => console.log(JSON.stringify(v));
const tools = [{
  type: "function", name: "get_weather", description: "weather in a city",
  parameters: {
    type: "object", properties: { city: { type: "string" } },
    required: ["city"], additionalProperties: false,
  },
  strict: true,
}];

const cases = {
  async create() {
    const r = await client.responses.create({
      model, instructions: "be brief", input: "hi", store: false,
    });
    out([r.object, r.status, r.model, r.output_text, r.id.startsWith("resp_"),
      r.usage.total_tokens]);
  },
  // every event with its arrival time, then what they add up to
  async stream() {
    const t0 = Date.now();
    const s = await client.responses.create({ model, input: "hi", stream: true });
    const types = [], seqs = [], at = [];
    let text = "", last = null;
    for await (const e of s) {
      types.push(e.type);
      seqs.push(e.sequence_number);
      if (e.type === "response.output_text.delta") {
        text += e.delta;
        at.push(Date.now() - t0);
      }
      last = e;
    }
    const ordered = seqs.every((n, i) => n === i);
    out([text, types[0], types[types.length - 1], ordered,
      last.response.status, last.response.usage.total_tokens]);
    out(at);
  },
  // the SDK's helper, which rebuilds the response from the events
  async helper() {
    const s = client.responses.stream({ model, input: "hi" });
    let deltas = 0;
    s.on("response.output_text.delta", () => deltas++);
    const r = await s.finalResponse();
    out([r.output_text, r.status, deltas > 0]);
  },
  // a call, whole and streamed, then its output sent back
  async tools() {
    const input = [{ role: "user", content: "weather in Paris?" }];
    const r = await client.responses.create({ model, input, tools });
    const call = r.output.find((o) => o.type === "function_call");
    out([call.name, JSON.parse(call.arguments), call.call_id.startsWith("call_"),
      call.id.startsWith("fc_")]);
    const f = await client.responses.stream({ model, input, tools }).finalResponse();
    const sc = f.output.find((o) => o.type === "function_call");
    out([sc.name, JSON.parse(sc.arguments)]);
    const r2 = await client.responses.create({
      model, tools,
      input: [...input, call, { type: "function_call_output", call_id: call.call_id,
        output: "sunny" }],
    });
    out([r2.output_text]);
  },
  // thoughts asked for with reasoning.summary come back as a reasoning item
  async reasoning() {
    const r = await client.responses.create({
      model, input: "hi", reasoning: { effort: "low", summary: "auto" },
    });
    const rs = r.output.find((o) => o.type === "reasoning");
    out([rs.summary[0].text, r.output_text,
      r.usage.output_tokens_details.reasoning_tokens]);
    const s = client.responses.stream({
      model, input: "hi", reasoning: { effort: "low", summary: "auto" },
    });
    let thought = "";
    s.on("response.reasoning_summary_text.delta", (e) => { thought += e.delta; });
    const f = await s.finalResponse();
    out([thought, f.output.map((o) => o.type)]);
  },
  // a failure the SDK must surface
  async error() {
    try {
      await client.responses.create({ model, input: "hi" });
      out(["no error"]);
    } catch (e) {
      out([e.status, e.constructor.name, e.headers?.get?.("retry-after") ?? null]);
    }
  },
  // a stream cut after its first event: the SDK sees response.failed
  async cut() {
    const s = await client.responses.create({ model, input: "hi", stream: true });
    const types = [];
    try {
      for await (const e of s) types.push(e.type);
    } catch (e) {
      types.push("threw " + e.constructor.name);
    }
    out([types.includes("response.output_text.delta"), types[types.length - 1],
      types.includes("response.completed")]);
  },
};

await cases[process.argv[2]]();
