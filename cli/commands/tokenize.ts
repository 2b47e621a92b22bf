/**
 * `tokenize`: text → token ids with the model's own tokenizer, like llama.cpp's
 * `llama-tokenize`. MODEL may be a full model or a vocabulary-only GGUF.
 * @module
 */
import { GgufFile } from "../../src/gguf/reader.ts";
import { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { type Command, parseFlags, UsageError } from "../usage.ts";

const USAGE = `flashmla tokenize — text to token ids

Usage: tokenize -m MODEL (-p TEXT | --stdin) [--ids] [--no-bos] [--special]
       tokenize -m MODEL --stdin --jsonl [--no-bos] [--special]

  -m, --model FILE   GGUF model or vocabulary-only GGUF (tokenizer metadata only)
  -p, --prompt TEXT  text to tokenize
  --stdin            read the text from standard input
  --jsonl            with --stdin: read a JSON array of strings, print one JSON array of
                     ids per string, one per line (batch use, one start-up)
  --ids              print only the ids, as [id, id, ...]
  --no-bos           do not prepend BOS (default: the model's add_bos_token)
  --special          recognise control tokens such as <｜end▁of▁sentence｜> in the text
  -h, --help         this text

Default output is one line per token: id -> 'piece'.`;

const OPTIONS = {
  model: { type: "string", short: "m" },
  prompt: { type: "string", short: "p" },
  stdin: { type: "boolean" },
  jsonl: { type: "boolean" },
  ids: { type: "boolean" },
  "no-bos": { type: "boolean" },
  special: { type: "boolean" },
} as const;

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

function parseJsonStrings(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--jsonl input is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string")) {
    throw new UsageError("--jsonl input must be a JSON array of strings");
  }
  return value;
}

function loadTokenizer(path: string): Tokenizer {
  try {
    if (!Deno.statSync(path).isFile) throw new UsageError(`Model path "${path}" is not a file`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`Model file "${path}" does not exist`);
  }
  using file = GgufFile.open(path);
  return Tokenizer.fromGguf(file);
}

/** The `tokenize` command. */
export const command: Command = {
  summary: "text to token ids (model or vocabulary-only GGUF)",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values } = parseFlags(args, OPTIONS);
    if (values.model === undefined) throw new UsageError("-m MODEL is required");
    if ((values.prompt === undefined) === (values.stdin !== true)) {
      throw new UsageError("give exactly one of -p TEXT and --stdin");
    }
    if (values.jsonl && !values.stdin) throw new UsageError("--jsonl needs --stdin");
    if (values.jsonl && values.ids) throw new UsageError("--jsonl already prints ids; drop --ids");
    const tokenizer = loadTokenizer(values.model);
    const opts = {
      addBos: values["no-bos"] ? false : tokenizer.addBos,
      special: values.special === true,
    };
    const text = values.prompt ?? await readStdin();
    const encoder = new TextEncoder();
    const write = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
    if (values.jsonl) {
      const lines = parseJsonStrings(text).map((s) => JSON.stringify(tokenizer.encode(s, opts)));
      if (lines.length > 0) write(lines.join("\n"));
      return 0;
    }
    const ids = tokenizer.encode(text, opts);
    if (values.ids) {
      write(`[${ids.join(", ")}]`);
      return 0;
    }
    const decoder = new TextDecoder();
    const lines = ids.map((id) => {
      const piece = decoder.decode(tokenizer.tokenPiece(id, { special: true }));
      return `${String(id).padStart(6)} -> '${piece}'`;
    });
    if (lines.length > 0) write(lines.join("\n"));
    return 0;
  },
};
