import assert from "node:assert/strict";

/**
 * The bench scripts' command lines (bench/bench_args.ts): a bad flag or value ends in a one-line
 * error and the usage with status 2, before any measuring starts, and never in a stack trace.
 */
async function runBench(script: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `bench/${script}`, ...args],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

for (
  const [script, args, message] of [
    ["machine_table.ts", ["--bogus"], "Unknown option '--bogus'"],
    ["gemv_table.ts", ["--types", "Q4_0,Q9_9"], 'unknown type "Q9_9" in --types'],
    ["gemv_table.ts", ["--seconds=0"], '--seconds wants a number > 0, got "0"'],
    ["probes_table.ts", ["--threads", "two"], '--threads wants an integer ≥ 1, got "two"'],
    ["flash_mla_table.ts", ["--depths", "128,1.5"], '--depths wants an integer ≥ 1, got "1.5"'],
    [
      "flash_mla_table.ts",
      ["--types", "f16,f32"],
      'unknown cache type "f32" in --types (f16, q8_0, q8_KV)',
    ],
  ] as const
) {
  Deno.test(`bench/${script} ${args.join(" ")}: an error naming the problem, the usage, status 2`, async () => {
    const { code, stderr } = await runBench(script, [...args]);
    assert.equal(code, 2, stderr);
    assert.ok(stderr.startsWith(`error: ${message}\n`), stderr);
    assert.match(stderr, new RegExp(`Usage: deno run -A bench/${script}`));
    assert.doesNotMatch(stderr, /at file:|Uncaught/);
  });
}

Deno.test("bench/gemv_table.ts --help prints the usage and exits 0", async () => {
  const { code, stdout } = await runBench("gemv_table.ts", ["--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /^Usage: deno run -A bench\/gemv_table\.ts \[--types/);
});
