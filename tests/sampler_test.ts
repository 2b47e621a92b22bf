import assert from "node:assert/strict";
import { argmax, Rng, Sampler } from "../src/sampler.ts";
import { OptionError } from "../src/errors.ts";

/** Empirical frequencies of `n` draws. */
function histogram(sampler: Sampler, logits: Float32Array, n: number): Float64Array {
  const h = new Float64Array(logits.length);
  for (let i = 0; i < n; i++) h[sampler.sample(logits)]++;
  return h.map((c) => c / n);
}

function softmax(x: number[], t = 1): number[] {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp((v - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

Deno.test("Sampler greedy picks the argmax, lowest id on ties", () => {
  const s = new Sampler();
  assert.equal(s.sample(new Float32Array([1, 5, 2, 5])), 1);
  assert.equal(argmax(new Float32Array([-3, -1, -2])), 1);
});

Deno.test("Rng is reproducible and roughly uniform", () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const c = new Rng(8);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.nextU32()));
  let sum = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) sum += a.nextFloat();
  // Mean of n U(0,1) has std 1/sqrt(12n) ≈ 0.0009; 5 std is 0.0046.
  assert.ok(Math.abs(sum / n - 0.5) < 0.0046, `mean ${sum / n}`);
});

Deno.test("Sampler temperature draws follow softmax(logits / T)", () => {
  const logits = [1, 0.5, 0, -1, 2];
  const t = 0.8;
  const n = 40_000;
  const h = histogram(new Sampler({ temperature: t, seed: 1 }), new Float32Array(logits), n);
  const p = softmax(logits, t);
  for (let i = 0; i < p.length; i++) {
    // Binomial std sqrt(p(1-p)/n) ≤ 0.0025; allow 5 std.
    assert.ok(Math.abs(h[i] - p[i]) < 0.0125, `token ${i}: ${h[i]} vs ${p[i]}`);
  }
});

Deno.test("Sampler same seed gives the same sequence", () => {
  const logits = new Float32Array(Array.from({ length: 50 }, (_, i) => Math.sin(i)));
  const run = (seed: number) => {
    const s = new Sampler({ temperature: 1, seed });
    return Array.from({ length: 20 }, () => s.sample(logits));
  };
  assert.deepEqual(run(3), run(3));
  assert.notDeepEqual(run(3), run(4));
});

Deno.test("Sampler topK keeps only the K best tokens", () => {
  const logits = new Float32Array([0, 3, 1, 2, 2.5]);
  const h = histogram(new Sampler({ temperature: 5, topK: 2, seed: 2 }), logits, 5000);
  assert.equal(h[0] + h[2] + h[3], 0);
  assert.ok(h[1] > 0 && h[4] > 0);
});

Deno.test("Sampler topP keeps the smallest set reaching P", () => {
  // Probabilities at T=1: softmax([2,1,0,-5]) ≈ [0.665, 0.245, 0.090, 0.0006].
  const logits = new Float32Array([2, 1, 0, -5]);
  const h = histogram(new Sampler({ temperature: 1, topP: 0.8, seed: 5 }), logits, 5000);
  assert.equal(h[2] + h[3], 0); // 0.665 < 0.8 ≤ 0.665 + 0.245
  const h2 = histogram(new Sampler({ temperature: 1, topP: 0.95, seed: 5 }), logits, 5000);
  assert.ok(h2[2] > 0);
  assert.equal(h2[3], 0);
});

Deno.test("Sampler minP drops tokens below minP times the best", () => {
  const logits = new Float32Array([0, Math.log(0.5), Math.log(0.05)]);
  const h = histogram(new Sampler({ temperature: 1, minP: 0.1, seed: 9 }), logits, 5000);
  assert.equal(h[2], 0);
  assert.ok(h[1] > 0.25 && h[1] < 0.42); // 0.5/1.5 = 0.333
});

Deno.test("Sampler penalties follow llama.cpp's rules", () => {
  // Token 0 (logit 2) seen twice and token 1 (logit -1) once.
  const s = new Sampler({ repeatPenalty: 2, frequencyPenalty: 0.5, presencePenalty: 0.25 });
  s.accept(0);
  s.accept(0);
  s.accept(1);
  // token0: 2/2 - 2·0.5 - 0.25 = -0.25 ; token1: -1·2 - 0.5 - 0.25 = -2.75 ; token2: 0.
  assert.equal(s.sample(new Float32Array([2, -1, -0.1])), 2);
  assert.equal(s.sample(new Float32Array([2, -1, -0.3])), 0);
  const window = new Sampler({ repeatPenalty: 100, penaltyLastN: 1 });
  window.accept(0);
  window.accept(1);
  assert.equal(window.sample(new Float32Array([2, 3])), 0); // only token 1 is in the window
});

Deno.test("Sampler rejects out-of-range options", () => {
  assert.throws(() => new Sampler({ temperature: -1 }), OptionError);
  assert.throws(() => new Sampler({ topP: 1.5 }), /topP/);
  assert.throws(() => new Sampler({ topK: 2.5 }), OptionError);
  assert.throws(() => new Sampler({ seed: 0.5 }), OptionError);
  assert.throws(() => new Sampler().sample(new Float32Array(0)), OptionError);
});
