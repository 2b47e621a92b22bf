// Runs mainline llama.cpp (node-llama-cpp) on GGUF files and reports the next token after a
// prompt. Request on stdin (JSON): { entry, prompt, contextSize, models: [path, ...] }.
// Reply on stdout (JSON): one { path, promptTokens, token, text, nVocab, top, probabilitySum }
// per model, where `top` is the 5 most probable [token, probability] pairs.
import { pathToFileURL } from "node:url";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(request.entry).href);
// build: "never" makes a missing prebuilt binary an error instead of a compile from source.
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const results = [];
for (const path of request.models) {
  const model = await llama.loadModel({ modelPath: path });
  // One thread: ggml's spinning barriers slow a tiny model's eval from 0.2 s to over a minute
  // when the 2 shared cores are busy with other work.
  const context = await model.createContext({ contextSize: request.contextSize, threads: 1 });
  const sequence = context.getSequence();
  const promptTokens = request.tokens ?? model.tokenize(request.prompt);
  const evaluation = sequence.evaluateWithMetadata(
    promptTokens,
    { probabilities: true },
    { temperature: 0 },
  );
  const { value } = await evaluation.next();
  await evaluation.return();
  const entries = [...value.probabilities.entries()];
  const probabilities = request.full ? new Array(entries.length).fill(0) : undefined;
  if (probabilities) { for (const [id, p] of entries) probabilities[id] = p; }
  const probabilitySum = entries.reduce((sum, [, p]) => sum + p, 0);
  const top = entries.sort((a, b) => b[1] - a[1]).slice(0, 5);
  results.push({
    path,
    promptTokens,
    token: value.token,
    text: model.detokenize([value.token]),
    nVocab: entries.length,
    top,
    probabilitySum,
    probabilities,
  });
  await context.dispose();
  await model.dispose();
}
await llama.dispose();
process.stdout.write(JSON.stringify(results));
