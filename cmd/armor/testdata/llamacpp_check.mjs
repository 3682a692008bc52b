// Loads a GGUF file with llama.cpp (through the node-llama-cpp package) and
// prints, as JSON on stdout, the perplexity of the given token windows and
// llama.cpp's tokenization of the given texts.
//
//   node llamacpp_check.mjs MODEL.gguf INPUT.json
//
// INPUT.json: {"windows": [[id, ...], ...], "texts": ["...", ...]}.
// Each window is evaluated from an empty context; token t+1 is scored from
// the logits after tokens 0..t (all of them but the first), as `armor eval`
// does: NLL = Σ logsumexp(z) − z[next], ppl = exp(NLL / scored tokens).
// NODE_LLAMA_CPP_DIR names the node_modules directory holding node-llama-cpp.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modelPath, inputPath] = process.argv.slice(2);
if (!modelPath || !inputPath) {
  console.error("usage: node llamacpp_check.mjs MODEL.gguf INPUT.json");
  process.exit(2);
}
const dir = process.env.NODE_LLAMA_CPP_DIR;
const entry = dir ? pathToFileURL(path.join(dir, "node-llama-cpp", "dist", "index.js")).href : "node-llama-cpp";
const { getLlama, LlamaLogLevel } = await import(entry);
const input = JSON.parse(readFileSync(inputPath, "utf8"));

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const L = Math.max(...input.windows.map((w) => w.length));
const context = await model.createContext({ contextSize: Math.max(L, 64), batchSize: Math.max(L, 64), threads: 1 });

let nll = 0;
let scored = 0;
const seq = context.getSequence();
for (const win of input.windows) {
  await seq.clearHistory();
  const items = win.map((tok, i) => (i + 1 < win.length ? [tok, { generateNext: { logits: true } }] : tok));
  const res = await seq.controlledEvaluate(items);
  for (let i = 0; i + 1 < win.length; i++) {
    const logits = res[i]?.next?.logits;
    if (!logits) throw new Error(`no logits for position ${i}`);
    let max = -Infinity;
    for (const v of logits.values()) max = Math.max(max, v);
    let sum = 0;
    for (const v of logits.values()) sum += Math.exp(v - max);
    const target = logits.get(win[i + 1]);
    if (target === undefined) throw new Error(`no logit for token ${win[i + 1]}`);
    nll += max + Math.log(sum) - target;
    scored++;
  }
}
const tokens = (input.texts ?? []).map((t) => Array.from(model.tokenize(t, false)));
const meta = {
  vocab: model.fileInfo?.metadata?.tokenizer?.ggml?.model,
  architecture: model.fileInfo?.metadata?.general?.architecture,
};
console.log(JSON.stringify({ nll, scored, perplexity: Math.exp(nll / scored), tokens, meta }));
await context.dispose();
await model.dispose();
await llama.dispose();
