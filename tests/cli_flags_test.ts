import assert from "node:assert/strict";
import { commaList, normalizeLlamaFlags } from "../cli/llama_flags.ts";
import { ProgressBar, type ProgressSink, renderProgressLine } from "../cli/progress.ts";
import { UsageError } from "../cli/usage.ts";

Deno.test("normalizeLlamaFlags rewrites -ctk and -pg to long flags", () => {
  assert.deepEqual(
    normalizeLlamaFlags(["-m", "a.gguf", "-ctk", "q8_0", "-pg", "512,64"], ["-ctk", "-pg"]),
    ["-m", "a.gguf", "--cache-type-k", "q8_0", "--gp", "512,64"],
  );
  assert.deepEqual(normalizeLlamaFlags(["-ctk=f16"], ["-ctk"]), ["--cache-type-k=f16"]);
  // Values and single-letter flags pass through; so does everything after "--".
  assert.deepEqual(normalizeLlamaFlags(["-n", "-1", "--", "-ctk"], ["-ctk"]), [
    "-n",
    "-1",
    "--",
    "-ctk",
  ]);
});

Deno.test("normalizeLlamaFlags refuses unknown multi-letter single-dash flags", () => {
  assert.throws(() => normalizeLlamaFlags(["-xyz"], ["-ctk"]), UsageError);
  assert.throws(() => normalizeLlamaFlags(["-ngl", "99"], ["-ctk"]), /not accepted by this/);
  assert.throws(() => normalizeLlamaFlags(["-ctk", "f16"], []), /Unknown flag "-ctk"/);
});

Deno.test("commaList splits, trims, dedupes and refuses empty items", () => {
  assert.deepEqual(commaList("-d", ["0,4096", " 16384 ", "0"]), ["0", "4096", "16384"]);
  assert.throws(() => commaList("-d", ["0,,4096"]), /-d has an empty item in "0,,4096"/);
});

function fakeTerminal(terminal: boolean): ProgressSink & { text: () => string } {
  const chunks: Uint8Array[] = [];
  return {
    isTerminal: () => terminal,
    writeSync: (bytes) => {
      chunks.push(bytes.slice());
      return bytes.length;
    },
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
  };
}

Deno.test("renderProgressLine fills the bar in proportion", () => {
  assert.equal(renderProgressLine("load", 0.5, 8), "load [████····]  50%");
  assert.equal(renderProgressLine("pp", 1, 4, "8/8 tokens"), "pp [████] 100% 8/8 tokens");
  assert.equal(renderProgressLine("x", 0, 2), "x [··]   0%");
});

Deno.test("ProgressBar draws on a terminal, throttles, and erases on finish", () => {
  const sink = fakeTerminal(true);
  let clock = 0;
  const bar = new ProgressBar("load", { sink, width: 4, minIntervalMs: 100, now: () => clock });
  bar.update(0.1);
  clock = 10;
  bar.update(0.5); // throttled: too soon
  clock = 200;
  bar.update(0.5);
  clock = 210;
  bar.update(1); // 100% always draws
  bar.finish();
  bar.finish();
  bar.update(0.7); // ignored after finish
  const text = sink.text();
  const draws = text.split("\r\x1b[2K").filter((s) => s !== "");
  assert.deepEqual(draws, ["load [····]  10%", "load [██··]  50%", "load [████] 100%"]);
  assert.ok(text.endsWith("\r\x1b[2K"));
});

Deno.test("ProgressBar draws nothing when the sink is not a terminal", () => {
  const sink = fakeTerminal(false);
  const bar = new ProgressBar("load", { sink });
  bar.update(0.5);
  bar.finish();
  assert.equal(bar.enabled, false);
  assert.equal(sink.text(), "");
});
