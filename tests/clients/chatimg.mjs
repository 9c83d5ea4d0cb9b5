// chatimg.mjs CASE - images in chat answers through the official openai
// npm package against gb-serve. GB_URL is the server, GB_TOKEN the
// client token, PIXEL the file the upstream's image must equal (byte for
// byte), MODEL the model (default gemini-2.5-flash-image). Prints one
// compact JSON line per result for the bats test.
import { readFileSync } from "node:fs";
import OpenAI from "openai";

const client = new OpenAI({
  apiKey: process.env.GB_TOKEN,
  baseURL: process.env.GB_URL + "/v1",
  maxRetries: 0,
  timeout: 30000,
});
const model = process.env.MODEL || "gemini-2.5-flash-image";
const messages = [{ role: "user", content: "a red dot" }];
const pixel = readFileSync(process.env.PIXEL);
const out = (v) => console.log(JSON.stringify(v));

// A data URL -> [its MIME type, whether its bytes are PIXEL's]; the
// base64 must be strict (Node's decoder would skip what is not).
function check(url) {
  const m = /^data:([^;,]+);base64,([A-Za-z0-9+/]*={0,2})$/.exec(url);
  if (m === null) return ["not a base64 data URL", false];
  return [m[1], Buffer.from(m[2], "base64").equals(pixel)];
}

// The text around the markdown image(s): the content with each
// ![image](data:...) replaced by [IMG:<mime>:<bytes equal>].
function around(content) {
  return content.replace(/!\[image\]\((data:[^)]*)\)/g,
    (_, url) => "[IMG:" + check(url).join(":") + "]");
}

const cases = {
  async whole() {
    const r = await client.chat.completions.create({ model, messages });
    const msg = r.choices[0].message;
    out([r.choices[0].finish_reason, around(msg.content),
      (msg.images ?? []).map((i) => [i.type, ...check(i.image_url.url)])]);
  },
  // every delta: what it holds; then the joined content and images
  async stream() {
    const s = await client.chat.completions.create({
      model, messages, stream: true,
    });
    const deltas = [], images = [];
    let content = "";
    for await (const c of s) {
      if (c.choices.length === 0) continue;
      const d = c.choices[0].delta;
      content += d.content ?? "";
      for (const i of d.images ?? []) images.push(check(i.image_url.url));
      if (d.content || d.images)
        deltas.push([around(d.content ?? ""), (d.images ?? []).length]);
    }
    out(deltas);
    out([around(content), images]);
  },
  // the SDK's own stream helper, as chat front-ends join a stream: the
  // markdown carries the image
  async helper() {
    const f = await client.chat.completions.stream({ model, messages })
      .finalChatCompletion();
    out([f.choices[0].finish_reason, around(f.choices[0].message.content)]);
  },
  // modalities and image_config asked of a model that is not in
  // IMAGE_MODELS (the bats test reads what the upstream got)
  async modalities() {
    const r = await client.chat.completions.create({
      model, messages, modalities: ["text", "image"],
      image_config: { aspect_ratio: "16:9" },
    });
    out([r.choices[0].finish_reason, around(r.choices[0].message.content)]);
  },
  // the Responses API: the image as markdown in the output text
  async responses() {
    const r = await client.responses.create({ model, input: "a red dot" });
    out([r.status, around(r.output_text)]);
  },
};

try {
  await cases[process.argv[2]]();
} catch (e) {
  out(["error", e.status ?? null, e.message]);
  process.exitCode = 1;
}
