import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Model } from "../src/model.ts";
import { argmax } from "../src/sampler.ts";
import { tinyModel } from "./reference/tiny_models.ts";

const MAIN = fileURLToPath(new URL("../cli/main.ts", import.meta.url));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

interface LogitsJson {
  tokens: number[];
  positions: { pos: number; token: number; top: [number, number][] }[];
}

Deno.test("logits CLI prints every prompt position and the greedy continuation as JSON", async () => {
  const path = await tinyModel({ layout: "kb-vb", qLoraRank: 0, wtype: "F16", layers: 2 });
  const { code, stdout, stderr } = await cli([
    "logits",
    "-m",
    path,
    "-p",
    "Hello world",
    "--top",
    "4",
    "--gen",
    "3",
    "-ctk",
    "q8_0",
  ]);
  assert.equal(code, 0, stderr);
  const json: LogitsJson = JSON.parse(stdout);
  using model = await Model.load(path);
  assert.deepEqual(json.tokens, model.tokenize("Hello world"));
  assert.equal(json.positions.length, json.tokens.length + 3);
  using ctx = model.createContext({ ctxLen: 32, cacheType: "q8_0" });
  const V = model.info.vocabSize;
  const all = ctx.evalLogits(json.tokens, { allLogits: true });
  json.positions.forEach((p, i) => {
    assert.equal(p.pos, i);
    assert.equal(p.top.length, 4);
    for (let j = 1; j < 4; j++) assert.ok(p.top[j - 1][1] >= p.top[j][1], "best first");
    if (i < json.tokens.length) {
      assert.equal(p.token, json.tokens[i]);
      const row = all.subarray(i * V, (i + 1) * V);
      assert.equal(p.top[0][0], argmax(row));
      assert.ok(Math.abs(p.top[0][1] - row[argmax(row)]) < 1e-3);
    } else {
      // A decoded token is the argmax of the previous position.
      assert.equal(p.token, json.positions[i - 1].top[0][0]);
    }
  });
});

Deno.test("logits CLI refuses missing flags and bad values with exit code 2", async () => {
  assert.equal((await cli(["logits", "-p", "hi"])).code, 2);
  const bad = await cli(["logits", "-m", "x.gguf", "-p", "hi", "-ctk", "q4"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /-ctk must be one of f16, q8_0, q8_KV/);
  const missing = await cli(["logits", "-m", "/nonexistent.gguf", "-p", "hi"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nonexistent\.gguf/);
});
