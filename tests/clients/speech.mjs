// speech.mjs CASE PARAMS [FILE] - the official openai npm package's
// audio.speech.create against gb-serve. GB_URL is the server
// (http://127.0.0.1:PORT), GB_TOKEN the client token, PARAMS the
// request's parameters as JSON. Prints one compact JSON line for the
// bats test (tests/gb-serve-speech.bats):
//   create  the audio written to FILE; [content type, bytes]
//   error   the call must fail: [status, error class, message,
//           retry-after header or null]
import { writeFileSync } from "node:fs";
import OpenAI from "openai";

const client = new OpenAI({
  apiKey: process.env.GB_TOKEN,
  baseURL: process.env.GB_URL + "/v1",
  maxRetries: 0,
  timeout: 30000,
});
const params = JSON.parse(process.argv[3] ?? "{}");
const out = (v) => console.log(JSON.stringify(v));

const cases = {
  async create() {
    const r = await client.audio.speech.create(params);
    const bytes = Buffer.from(await r.arrayBuffer());
    writeFileSync(process.argv[4], bytes);
    out([r.headers.get("content-type"), bytes.length]);
  },
  async error() {
    try {
      const r = await client.audio.speech.create(params);
      await r.arrayBuffer();
      out(["no error"]);
    } catch (e) {
      out([e.status, e.constructor.name, e.error?.message ?? e.message,
        e.headers?.get?.("retry-after") ?? null]);
    }
  },
};

await cases[process.argv[2]]();
