// Reference tokenizer for tests: llama.cpp through node-llama-cpp, vocabulary only.
// One process serves every request so start-up is paid once.
// stdin:  {"entry": "<node-llama-cpp dist/index.js>",
//          "jobs": [{"model": "<gguf>", "items": [{"text": "...", "special": false}],
//                    "detokenize": [[ids], ...]}]}
// stdout: {"results": [{"ids": [[...], ...], "texts": ["...", ...]}]}
// Token ids come from llama_tokenize with add_special = false (no BOS) and parse_special =
// item.special; texts from llama_detokenize with special tokens not rendered.
import { pathToFileURL } from "node:url";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(request.entry).href);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const results = [];
for (const job of request.jobs) {
  const model = await llama.loadModel({ modelPath: job.model, vocabOnly: true });
  const ids = job.items.map((item) => Array.from(model.tokenize(item.text, item.special)));
  const texts = (job.detokenize ?? []).map((list) => model.detokenize(list));
  results.push({ ids, texts });
  await model.dispose();
}
process.stdout.write(JSON.stringify({ results }));
await llama.dispose();
