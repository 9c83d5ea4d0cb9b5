// genai.mjs CASE - Google's @google/genai npm package against gb-serve's
// native routes. GB_URL is the server, GB_TOKEN the client token (sent
// as x-goog-api-key). One compact JSON line per result.
import { GoogleGenAI } from "@google/genai";

const ai = new GoogleGenAI({
  apiKey: process.env.GB_TOKEN,
  httpOptions: { baseUrl: process.env.GB_URL },
});
const model = "gemini-2.0-flash";
const out = (v) => console.log(JSON.stringify(v));

const cases = {
  async generate() {
    const r = await ai.models.generateContent({ model, contents: "yo" });
    out([r.text, r.candidates[0].finishReason]);
  },
  async stream() {
    const s = await ai.models.generateContentStream({ model, contents: "yo" });
    let text = "", n = 0;
    for await (const c of s) {
      n++;
      text += c.text ?? "";
    }
    out([text, n > 1]);
  },
  async count() {
    const r = await ai.models.countTokens({ model, contents: "yo yo yo" });
    out([r.totalTokens]);
  },
  async autherror() {
    const bad = new GoogleGenAI({ apiKey: "wrong",
      httpOptions: { baseUrl: process.env.GB_URL } });
    try {
      await bad.models.generateContent({ model, contents: "yo" });
      out(["no error"]);
    } catch (e) {
      out([e.status]);
    }
  },
};

await cases[process.argv[2]]();
