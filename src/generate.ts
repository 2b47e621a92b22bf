/**
 * The generation loop: prefill the prompt in batches (with progress), then decode one token at
 * a time, sampling each from the last logits, streaming text pieces as they complete, and
 * stopping on EOS/EOG, a stop string, the token limit, an AbortSignal or a full context.
 * @module
 */
import { ContextOverflowError } from "./errors.ts";
import type { ModelContext } from "./model.ts";
import { Sampler, type SamplerOptions } from "./sampler.ts";

/** Options of `ModelContext.generate`. */
export interface GenerateOptions extends SamplerOptions {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** Stop (and cut the text) when any of these strings appears in the output. */
  stop?: string[];
  /** Aborting stops generation after the current step. */
  signal?: AbortSignal;
  /** Prepend BOS to a text prompt (default: when the context is empty). */
  addBos?: boolean;
  /** Parse control-token text in the prompt (default false). */
  special?: boolean;
  /** Called after each prefill batch. */
  onPrefillProgress?: (done: number, total: number) => void;
  /**
   * When generation fills the context: throw `ContextOverflowError` ("error", default) or end
   * quietly ("stop"). A prompt that does not fit always throws: stopping there would return
   * nothing and hide the problem.
   */
  onContextFull?: "error" | "stop";
}

/**
 * Runs prompt + decode on `ctx`, yielding text pieces.
 *
 * @param ctx The context (its cache grows by the prompt and the generated tokens).
 * @param prompt Text or token ids.
 * @param opts Options.
 * @returns An async generator of text pieces; `ctx.stats` is updated as it runs.
 * @example
 * ```ts ignore
 * for await (const piece of generateText(ctx, "Once upon a time", { maxTokens: 32 })) {
 *   await Deno.stdout.write(new TextEncoder().encode(piece));
 * }
 * ```
 */
export async function* generateText(
  ctx: ModelContext,
  prompt: string | number[],
  opts: GenerateOptions = {},
): AsyncGenerator<string> {
  const model = ctx.model;
  const tokenizer = model.tokenizer;
  const maxTokens = opts.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new RangeError(`Option "maxTokens" must be a non-negative integer, got ${maxTokens}`);
  }
  const sampler = new Sampler(opts);
  const ids = typeof prompt === "string"
    ? tokenizer.encode(prompt, {
      addBos: opts.addBos ?? (ctx.nPast === 0 ? undefined : false),
      special: opts.special ?? false,
    })
    : [...prompt];
  if (ids.length === 0) throw new RangeError("The prompt has no tokens");
  const full = opts.onContextFull ?? "error";
  if (ctx.nPast + ids.length > ctx.options.ctxLen) {
    throw new ContextOverflowError(
      `The prompt of ${ids.length} tokens does not fit: ${ctx.nPast} of ctxLen ` +
        `${ctx.options.ctxLen} are used`,
    );
  }
  for (const id of ids) sampler.accept(id);
  const t0 = performance.now();
  let logits = ctx.evalLogits(ids, { onProgress: opts.onPrefillProgress });
  ctx.stats.promptTokens += ids.length;
  ctx.stats.promptMs += performance.now() - t0;

  const decoder = tokenizer.createStreamDecoder();
  const stops = opts.stop ?? [];
  const holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
  let pending = ""; // text not yet yielded (may hold the start of a stop string)
  for (let n = 0; n < maxTokens; n++) {
    if (opts.signal?.aborted) break;
    const id = sampler.sample(logits);
    sampler.accept(id);
    if (tokenizer.isEog(id)) break;
    pending += decoder.push(id);
    const hit = firstStop(pending, stops);
    if (hit >= 0) {
      if (hit > 0) yield pending.slice(0, hit);
      pending = "";
      ctx.stats.generatedTokens++;
      return;
    }
    if (pending.length > holdBack) {
      yield pending.slice(0, pending.length - holdBack);
      pending = pending.slice(pending.length - holdBack);
    }
    ctx.stats.generatedTokens++;
    if (n + 1 === maxTokens) break;
    if (ctx.nPast + 1 > ctx.options.ctxLen) {
      if (full === "stop") break;
      if (pending) yield pending;
      throw new ContextOverflowError(
        `Generation reached ctxLen ${ctx.options.ctxLen}; pass onContextFull: "stop" to end quietly`,
      );
    }
    const t1 = performance.now();
    logits = ctx.evalLogits([id]);
    ctx.stats.generateMs += performance.now() - t1;
    // Let the event loop run (abort signals, stream consumers) between tokens.
    await Promise.resolve();
  }
  pending += decoder.flush();
  const hit = firstStop(pending, stops);
  if (hit >= 0) pending = pending.slice(0, hit);
  if (pending) yield pending;
}

/** Index of the earliest stop string in `text`, or -1. */
function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    if (s.length === 0) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}
