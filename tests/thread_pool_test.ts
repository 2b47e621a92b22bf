import assert from "node:assert/strict";
import { physicalCoreCount, ThreadPool } from "../src/thread_pool.ts";
import { OptionError } from "../src/errors.ts";

Deno.test("ThreadPool starts and closes exactly once", () => {
  const pool = new ThreadPool(3);
  assert.equal(pool.threads, 3);
  pool.close();
  pool.close();
  assert.throws(() => pool.handle, OptionError);
});

Deno.test("ThreadPool rejects thread counts outside 1..64", () => {
  assert.throws(() => new ThreadPool(0), /between 1 and 64, got 0/);
  assert.throws(() => new ThreadPool(65), OptionError);
  assert.throws(() => new ThreadPool(1.5), OptionError);
});

Deno.test("physicalCoreCount is a positive integer", () => {
  const n = physicalCoreCount();
  assert.ok(Number.isInteger(n) && n >= 1);
});
