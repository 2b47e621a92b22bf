/**
 * `chat`: an interactive multi-turn conversation using the model's chat template. Ctrl-C
 * stops the reply being generated, not the program; at the prompt, Ctrl-D or `/exit` quits.
 * @module
 */
import { type ChatMessage, chatPrompt, type ModelLike, openModel } from "../engine.ts";
import {
  GENERATION_OPTIONS,
  generationOptions,
  generationUsage,
  type GenerationValues,
  timingLine,
} from "../generation_flags.ts";
import { normalizeLlamaFlags } from "../llama_flags.ts";
import { type Command, parseFlags } from "../usage.ts";
import { withInterrupt, yieldToEventLoop } from "./run.ts";

const USAGE = `flashmla chat — talk with a model

Usage: chat -m MODEL [flags]

  --system TEXT            system message
  --timings                print a timing line after each reply
${generationUsage(512)}
  -h, --help               this text

Commands at the prompt: /exit (or Ctrl-D) quits, /reset starts a new conversation.
Ctrl-C stops the reply being generated.`;

const OPTIONS = {
  ...GENERATION_OPTIONS,
  system: { type: "string" },
  timings: { type: "boolean" },
} as const;

/** Reads lines from a byte stream, one at a time. */
export class LineReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #done = false;

  /**
   * Wraps a byte stream.
   *
   * @param stream Input, e.g. `Deno.stdin.readable`.
   */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /**
   * The next line without its newline, or `null` at the end of input.
   *
   * @returns The line.
   */
  async next(): Promise<string | null> {
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      if (this.#done) {
        if (this.#buffer === "") return null;
        const line = this.#buffer;
        this.#buffer = "";
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#buffer += value;
    }
  }

  /** Releases the stream. */
  release(): void {
    this.#reader.releaseLock();
  }
}

/**
 * The text to evaluate for the next turn when the cache already holds the conversation up to
 * the last reply: what closes that reply (the template's end-of-turn token) plus the new user
 * turn and the assistant opener — the difference between the conversation rendered with and
 * without the new message, as llama-cli computes it. Returns undefined when the template
 * does not render the past as a prefix of the future, so the caller must re-evaluate all.
 *
 * @param past Conversation rendered up to and including the last reply, no opener.
 * @param next Conversation with the new user message, with the opener.
 * @param lastReply The last reply's text as generated.
 * @returns Text to append, or undefined.
 *
 * @example
 * ```ts
 * import { turnDelta } from "./chat.ts";
 * turnDelta("User: a\n\nAssistant: b<eos>", "User: a\n\nAssistant: b<eos>User: c\n\nAssistant:", "b");
 * // "<eos>User: c\n\nAssistant:"
 * ```
 */
export function turnDelta(past: string, next: string, lastReply: string): string | undefined {
  if (!next.startsWith(past)) return undefined;
  const replyAt = lastReply === "" ? past.length : past.lastIndexOf(lastReply);
  if (replyAt < 0) return undefined;
  return past.slice(replyAt + lastReply.length) + next.slice(past.length);
}

/**
 * Runs the conversation loop on `input`/`output` until end of input or `/exit`. The cache
 * keeps the conversation: each turn evaluates only the new text (end of the last reply, the
 * user's message, the assistant opener) on top of what is cached, as llama-cli does. When
 * that is not possible (first turn, unusual template, context full) the cache is cleared and
 * the whole conversation is evaluated; when even that does not fit, the conversation
 * restarts from the newest message.
 *
 * @param model The model.
 * @param values Parsed flag values.
 * @param io Input lines and output sink.
 * @returns The number of replies given.
 */
export async function chatLoop(
  model: ModelLike,
  values: GenerationValues & { system?: string; timings?: boolean },
  io: { lines: { next(): Promise<string | null> }; out: { writeSync(b: Uint8Array): number } },
): Promise<number> {
  const { context, generate } = generationOptions(values, 512);
  using ctx = model.createContext(context);
  const encoder = new TextEncoder();
  const write = (text: string) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += io.out.writeSync(bytes.subarray(written));
  };
  const system = values.system;
  const fresh = (): ChatMessage[] => (system ? [{ role: "system", content: system }] : []);
  const ctxLen = context.ctxLen ?? 4096;
  const reserve = generate.maxTokens ?? 512;
  let messages = fresh();
  let cached = false; // whether ctx holds `messages` up to the last reply
  let replies = 0;
  while (true) {
    write("> ");
    const line = await io.lines.next();
    if (line === null || line.trim() === "/exit") break;
    if (line.trim() === "/reset") {
      messages = fresh();
      cached = false;
      write("(new conversation)\n");
      continue;
    }
    if (line.trim() === "") continue;
    const past = cached ? await chatPrompt(model, messages, false) : undefined;
    const lastReply = messages.at(-1)?.content ?? "";
    messages.push({ role: "user", content: line });
    const next = await chatPrompt(model, messages);
    let prompt = past === undefined ? undefined : turnDelta(past, next, lastReply);
    const fits = (text: string, base: number) =>
      base + model.tokenize(text, { special: true, addBos: base === 0 }).length + reserve <= ctxLen;
    if (prompt === undefined || !fits(prompt, ctx.nPast)) {
      ctx.reset();
      prompt = next;
      if (!fits(prompt, 0)) {
        write("(context full: starting over from this message)\n");
        messages = [...fresh(), { role: "user", content: line }];
        prompt = await chatPrompt(model, messages);
      }
    }
    let reply = "";
    if (!fits(prompt, 0)) {
      // Even alone the message does not fit: say so and keep the REPL going.
      write(`(that message is too long for the ${ctxLen}-token context; try a shorter one)\n`);
      messages.pop();
      ctx.reset();
      continue;
    }
    const interrupted = await withInterrupt(async (signal) => {
      for await (
        const piece of ctx.generate(prompt, {
          ...generate,
          signal,
          special: true,
          onContextFull: "stop",
        })
      ) {
        reply += piece;
        write(piece);
        await yieldToEventLoop();
      }
      return signal.aborted;
    });
    write(interrupted ? " [stopped]\n" : "\n");
    messages.push({ role: "assistant", content: reply });
    cached = true;
    replies++;
    if (values.timings) write(`(${timingLine(ctx.stats)})\n`);
  }
  return replies;
}

/** The `chat` command. */
export const command: Command = {
  summary: "interactive multi-turn chat using the model's chat template",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values } = parseFlags(normalizeLlamaFlags(args, ["-ctk"]), OPTIONS);
    generationOptions(values, 512);
    using model = await openModel(values.model);
    const lines = new LineReader(Deno.stdin.readable);
    console.error("Chat started: /exit or Ctrl-D quits, /reset starts over, Ctrl-C stops a reply.");
    await chatLoop(model, values, { lines, out: Deno.stdout });
    lines.release();
    return 0;
  },
};
