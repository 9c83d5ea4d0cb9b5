// images.mjs CASE [ARGS...] - images.generate of the official openai npm
// package against gb-serve. GB_URL is the server, GB_TOKEN the client
// token, PIXEL the PNG the fake upstream draws. Prints one compact JSON
// line per result for the bats test (tests/gb-serve-images.bats).
import fs from "node:fs";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({
  apiKey: process.env.GB_TOKEN,
  baseURL: process.env.GB_URL + "/v1",
  maxRetries: 0,
  timeout: 30000,
});
const pixel = fs.readFileSync(process.env.PIXEL);
const out = (v) => console.log(JSON.stringify(v));

// [how many images, is each the fixture byte for byte, revised prompts]
const summary = (r) => [r.data.length,
  r.data.map((d) => Buffer.from(d.b64_json, "base64").equals(pixel)),
  r.data.map((d) => d.revised_prompt ?? null)];

// a refused request: [status, message, type]
const refused = async (body) => {
  try {
    const r = await client.images.generate(body);
    out(["no error", r.data.length]);
  } catch (e) {
    out([e.status, e.error?.message ?? e.message, e.error?.type ?? null]);
  }
};

const cases = {
  async gemini() {
    const r = await client.images.generate({
      model: "gemini-2.5-flash-image", prompt: "a red square",
      size: "1536x1024",
    });
    out([...summary(r), typeof r.created, r.usage ?? null]);
  },
  async imagen() {
    const r = await client.images.generate({
      model: "imagen-4.0-generate-001", prompt: "two cats", n: 2,
    });
    out([...summary(r), r.usage ?? null]);
  },
  async dalle() {
    // an OpenAI model name: IMAGE_MODEL draws
    const r = await client.images.generate({
      model: "dall-e-3", prompt: "a dog", size: "1792x1024",
      response_format: "b64_json",
    });
    out(summary(r));
  },
  async refuse() {
    await refused({ model: "imagen-4.0-generate-001", prompt: "x", n: 9 });
    await refused({ model: "imagen-4.0-generate-001", prompt: "x",
      response_format: "url" });
    await refused({ model: "imagen-4.0-generate-001" });
    await refused({ model: "imagen-4.0-generate-001", prompt: "x",
      size: "big" });
  },
  async edit() {
    // one image, n 2: the same edit asked twice
    const image = await toFile(pixel, "pixel.png", { type: "image/png" });
    const r = await client.images.edit({
      model: "gemini-2.5-flash-image", image, prompt: "make it blue", n: 2,
    });
    out(summary(r));
  },
  async edit2() {
    // two images (image[] parts), no model: a Gemini image model edits
    const a = await toFile(pixel, "a.png", { type: "image/png" });
    const b = await toFile(pixel, "b.png", { type: "image/png" });
    const r = await client.images.edit({
      model: "gpt-image-1", image: [a, b], prompt: "merge them",
      size: "1024x1536",
    });
    out(summary(r));
  },
  async editmask() {
    const image = await toFile(pixel, "pixel.png", { type: "image/png" });
    const mask = await toFile(pixel, "mask.png", { type: "image/png" });
    try {
      await client.images.edit({ image, mask, prompt: "x" });
      out(["no error"]);
    } catch (e) {
      out([e.status, e.error?.message ?? e.message]);
    }
  },
  async upstream() {
    await refused({ model: "gemini-2.5-flash-image", prompt: "x" });
  },
};

const name = process.argv[2];
if (!cases[name]) {
  console.error(`images.mjs: unknown case ${name}`);
  process.exit(100);
}
try {
  await cases[name]();
} catch (e) {
  console.error(`images.mjs: ${name}: ${e.status ?? ""} ${e.message}`);
  process.exit(1);
}
