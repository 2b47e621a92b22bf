/**
 * `run`: generates text from a prompt, streaming it to stdout as it comes, then prints one line
 * of timings (prompt and generation tokens per second) to stderr. Ctrl-C stops generation
 * early and still prints the timings.
 * @module
 */
import { chatPrompt, type ModelLike, openModel } from "../engine.ts";
import {
  GENERATION_OPTIONS,
  generationOptions,
  generationUsage,
  type GenerationValues,
  timingLine,
} from "../generation_flags.ts";
import { normalizeLlamaFlags } from "../llama_flags.ts";
import { countProgress } from "../progress.ts";
import { type Command, parseFlags, UsageError } from "../usage.ts";

const USAGE = `flashmla run — generate text from a prompt

Usage: run -m MODEL -p PROMPT [flags]

  -p, --prompt TEXT        the prompt
  -f, --file FILE          read the prompt from a file instead
  --chat                   wrap the prompt in the model's chat template (one user turn)
  --stop TEXT              stop when TEXT is generated (repeatable)
${generationUsage(128)}
  -h, --help               this text

Text streams to stdout; the timing line goes to stderr. Ctrl-C stops generation.
Example: run -m tiny.gguf -p "The capital of France is" -n 32 --temp 0`;

const OPTIONS = {
  ...GENERATION_OPTIONS,
  prompt: { type: "string", short: "p" },
  file: { type: "string", short: "f" },
  chat: { type: "boolean" },
  stop: { type: "string", multiple: true },
} as const;

/**
 * Streams `pieces` to `out`, returning when the generator ends.
 *
 * @param pieces Text pieces.
 * @param out Where to write (stdout).
 */
async function stream(
  pieces: AsyncGenerator<string>,
  out: { writeSync(bytes: Uint8Array): number },
): Promise<void> {
  const encoder = new TextEncoder();
  for await (const piece of pieces) {
    const bytes = encoder.encode(piece);
    let written = 0;
    while (written < bytes.length) written += out.writeSync(bytes.subarray(written));
    await yieldToEventLoop();
  }
}

let lastYieldMs = 0;

/**
 * Lets timers and signal handlers run (at most every 50 ms): an async generator that only
 * awaits promises never returns to the event loop, so without this a Ctrl-C would be seen
 * only after generation ends.
 */
export async function yieldToEventLoop(): Promise<void> {
  const nowMs = performance.now();
  if (nowMs - lastYieldMs < 50) return;
  lastYieldMs = nowMs;
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Runs a stop-on-SIGINT scope: the returned signal aborts on Ctrl-C while `body` runs, and
 * the listener is removed afterwards so a later Ctrl-C ends the program as usual.
 *
 * @param body Work that honours the signal.
 * @returns What `body` returns.
 */
export async function withInterrupt<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  let listening = false;
  try {
    Deno.addSignalListener("SIGINT", onSigint);
    listening = true;
  } catch {
    // Signals are unsupported on some platforms; generation then simply cannot be interrupted.
  }
  try {
    return await body(controller.signal);
  } finally {
    if (listening) Deno.removeSignalListener("SIGINT", onSigint);
  }
}

/**
 * Generates from `promptText` with the options, streaming to stdout, and returns the timing
 * line. Exposed for tests with a fake model.
 *
 * @param model The model.
 * @param promptText Prompt text.
 * @param args Parsed options.
 * @param out Output sink.
 * @returns The timing line.
 */
export async function generateToStream(
  model: ModelLike,
  promptText: string,
  args: { chat: boolean; stop: string[]; values: GenerationValues },
  out: { writeSync(bytes: Uint8Array): number },
): Promise<string> {
  const { context, generate } = generationOptions(args.values, 128);
  using ctx = model.createContext(context);
  const prompt = args.chat
    ? await chatPrompt(model, [{ role: "user", content: promptText }])
    : promptText;
  const progress = countProgress("prompt", "tokens");
  await withInterrupt((signal) =>
    stream(
      ctx.generate(prompt, {
        ...generate,
        stop: args.stop.length > 0 ? args.stop : undefined,
        special: args.chat,
        signal,
        onPrefillProgress: progress.onProgress,
        onContextFull: "stop",
      }),
      {
        writeSync: (bytes) => {
          progress.finish();
          return out.writeSync(bytes);
        },
      },
    )
  );
  progress.finish();
  return timingLine(ctx.stats);
}

/** The `run` command. */
export const command: Command = {
  summary: "generate text from a prompt, streaming, then print timings",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values } = parseFlags(normalizeLlamaFlags(args, ["-ctk"]), OPTIONS);
    if (values.prompt !== undefined && values.file !== undefined) {
      throw new UsageError("Give the prompt with -p or -f, not both");
    }
    let promptText = values.prompt;
    if (values.file !== undefined) {
      try {
        promptText = Deno.readTextFileSync(values.file);
      } catch {
        throw new UsageError(`Prompt file "${values.file}" cannot be read`);
      }
    }
    if (promptText === undefined) throw new UsageError("-p PROMPT (or -f FILE) is required");
    // Validate every value before the (slow) model load.
    generationOptions(values, 128);
    using model = await openModel(values.model);
    const line = await generateToStream(
      model,
      promptText,
      { chat: values.chat ?? false, stop: values.stop ?? [], values },
      Deno.stdout,
    );
    console.error(`\n${line}`);
    return 0;
  },
};
