// affinity.mjs CASE [ARG] - resources that belong to a key, through
// Google's @google/genai npm package against gb-serve: a file uploaded
// with files.upload, a cache made with caches.create, an interaction
// continued with previous_interaction_id, each used three times between
// plain calls. GB_URL is the server, GB_TOKEN the client token. One
// compact JSON line per result.
import { GoogleGenAI } from "@google/genai";

const ai = new GoogleGenAI({
  apiKey: process.env.GB_TOKEN,
  httpOptions: { baseUrl: process.env.GB_URL },
});
const model = "gemini-2.5-flash";
const out = (v) => console.log(JSON.stringify(v));
const plain = async () =>
  (await ai.models.generateContent({ model, contents: "plain" })).text;

async function upload() {
  const blob = new Blob(["hello, file"], { type: "text/plain" });
  return ai.files.upload({ file: blob, config: { displayName: "greeting" } });
}

const cases = {
  // upload, then file / plain / file / plain / file / plain
  async files() {
    const f = await upload();
    const texts = [];
    for (let i = 0; i < 3; i++) {
      const r = await ai.models.generateContent({
        model,
        contents: [{ role: "user", parts: [
          { fileData: { fileUri: f.uri, mimeType: f.mimeType } },
          { text: "file " + i },
        ] }],
      });
      texts.push(r.text, await plain());
    }
    const got = await ai.files.get({ name: f.name });
    out([f.name, f.sizeBytes, got.displayName, texts]);
  },
  async upload() {
    const f = await upload();
    out([f.name, f.uri]);
  },
  async list() {
    const names = [];
    for await (const f of await ai.files.list()) names.push(f.name);
    out(names.sort());
  },
  async delete() {
    await ai.files.delete({ name: process.argv[3] });
    out(["deleted"]);
  },
  // a cache made from an uploaded file, used three times between plain calls
  async caches() {
    const f = await upload();
    const c = await ai.caches.create({ model, config: {
      contents: [{ role: "user", parts: [
        { fileData: { fileUri: f.uri, mimeType: f.mimeType } }] }],
      ttl: "300s",
    } });
    const texts = [];
    for (let i = 0; i < 3; i++) {
      const r = await ai.models.generateContent({ model,
        contents: "cached " + i, config: { cachedContent: c.name } });
      texts.push(r.text, await plain());
    }
    const u = await ai.caches.update({ name: c.name,
      config: { ttl: "600s" } });
    await ai.caches.delete({ name: c.name });
    out([c.name.startsWith("cachedContents/"), u.name === c.name, texts]);
  },
  // an interaction continued three times, plain calls between
  async interactions() {
    let it = await ai.interactions.create({ model, input: "first" });
    const first = it.id;
    const texts = [];
    for (let i = 0; i < 3; i++) {
      it = await ai.interactions.create({ model, input: "next " + i,
        previous_interaction_id: it.id });
      texts.push(it.outputs[0].text, await plain());
    }
    const got = await ai.interactions.get(first);
    out([got.id === first, texts]);
  },
  // an error's status and message
  async generate() {
    try {
      const r = await ai.models.generateContent({ model,
        contents: [{ role: "user", parts: [
          { fileData: { fileUri: process.argv[3], mimeType: "text/plain" } },
          { text: "x" }] }] });
      out([r.text]);
    } catch (e) {
      out([e.status, e.message.includes("API key that owns")]);
    }
  },
};

await cases[process.argv[2]]();
