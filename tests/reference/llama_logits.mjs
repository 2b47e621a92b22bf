// Mainline llama.cpp (node-llama-cpp) next-token distributions at every position of a token
// sequence, for the conformance test. Request on stdin (JSON): { entry, model, tokens, top,
// contextSize }. Reply (JSON): { positions: [[[id, prob], …top entries, most probable first], …] }.
import { pathToFileURL } from "node:url";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(request.entry).href);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: request.model });
// One thread: ggml's spinning barriers crawl when the 2 shared cores are busy.
const context = await model.createContext({ contextSize: request.contextSize, threads: 1 });
const sequence = context.getSequence();
const input = request.tokens.map((t) => [t, { generateNext: { probabilities: true } }]);
const outputs = await sequence.controlledEvaluate(input);
const positions = outputs.map((o) => [...o.next.probabilities.entries()].slice(0, request.top));
await context.dispose();
await model.dispose();
await llama.dispose();
process.stdout.write(JSON.stringify({ positions }));
