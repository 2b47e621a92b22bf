/**
 * llama.cpp spells some flags with one dash and several letters (`-ctk q8_0`, `-pg 512,64`).
 * `node:util` parseArgs reads `-ctk` as the short-flag group `-c -t -k` and would silently
 * take `tk` as the value of `-c`, so these spellings are rewritten to long flags first, and
 * any other multi-letter single-dash flag is refused before parseArgs can misread it.
 * @module
 */
import { UsageError } from "./usage.ts";

/** llama.cpp multi-letter single-dash flags and the long flag each becomes here. */
export const LLAMA_FLAG_ALIASES: Readonly<Record<string, string>> = {
  "-ctk": "--cache-type-k",
  "-pg": "--gp",
  "-gp": "--gp",
  "-fa": "--flash-attn",
  "-nkvo": "--no-kv-offload",
  "-ngl": "--n-gpu-layers",
  "-rtr": "--run-time-repack",
};

/**
 * Rewrites llama.cpp's multi-letter single-dash flags (`-ctk`, `-ctk=f16`, `-pg`) to their
 * long forms, leaving every other argument as is. Arguments after `--` are not touched, and
 * a value that follows a flag (`-p -ctk` as a prompt) is mistaken for a flag only when it
 * looks exactly like one.
 *
 * @param args Raw arguments.
 * @param known Multi-letter single-dash flags this command accepts (keys of
 *   `LLAMA_FLAG_ALIASES`); others throw.
 * @returns Arguments parseArgs reads correctly.
 * @throws {UsageError} For `-xyz` flags that are not in `known`.
 *
 * @example
 * ```ts
 * import { normalizeLlamaFlags } from "./llama_flags.ts";
 * normalizeLlamaFlags(["-m", "a.gguf", "-ctk", "q8_0"], ["-ctk"]);
 * // ["-m", "a.gguf", "--cache-type-k", "q8_0"]
 * ```
 */
export function normalizeLlamaFlags(args: string[], known: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const match = /^(-[A-Za-z][A-Za-z]+)(=.*)?$/.exec(arg);
    if (match === null) {
      out.push(arg);
      continue;
    }
    const [, flag, value = ""] = match;
    const long = known.includes(flag) ? LLAMA_FLAG_ALIASES[flag] : undefined;
    if (long === undefined) {
      const hint = LLAMA_FLAG_ALIASES[flag] !== undefined ? " by this command" : "";
      throw new UsageError(
        `Unknown flag "${flag}": single-dash flags are one letter; "${flag}" is not accepted${hint}`,
      );
    }
    out.push(long + value);
  }
  return out;
}

/**
 * Splits a comma list flag (`-p 128,512`, `--attn heads,kvsplit`) into trimmed, non-empty
 * items, refusing empty items.
 *
 * @param flag The flag, for the message.
 * @param values Raw values (a flag given several times contributes each occurrence).
 * @returns The items in order, duplicates removed.
 *
 * @example
 * ```ts
 * import { commaList } from "./llama_flags.ts";
 * commaList("-d", ["0,4096", "16384"]); // ["0", "4096", "16384"]
 * ```
 */
export function commaList(flag: string, values: readonly string[]): string[] {
  const items: string[] = [];
  for (const value of values) {
    for (const raw of value.split(",")) {
      const item = raw.trim();
      if (item === "") throw new UsageError(`${flag} has an empty item in "${value}"`);
      if (!items.includes(item)) items.push(item);
    }
  }
  return items;
}
