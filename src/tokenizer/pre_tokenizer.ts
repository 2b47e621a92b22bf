/**
 * Pre-tokenization: llama.cpp's regex-list splitting for the DeepSeek vocabularies
 * (MLA_SPEC §5). Text is cut into words before BPE; each regex in the list is run over every
 * fragment left by the previous one, and both its matches and the gaps between them become
 * fragments ("isolated" splitting), so `$` means the end of a fragment.
 *
 * llama.cpp runs these through `std::wregex`, first replacing every non-ASCII whitespace code
 * point with U+000B so that ECMAScript `\s` (ASCII-only there) still matches it. We do the same
 * replacement and spell `\s` as the ASCII class, so a literal range such as U+3000..U+3002 in
 * the deepseek-llm list excludes the ideographic space exactly as llama.cpp does. Where
 * llama.cpp uses `\p{…}` it runs the regex on a "collapsed" copy of the text, one byte per
 * code point standing for its general category, with ASCII members spelled out by hand; we use
 * real Unicode property escapes. They agree with current llama.cpp (checked against
 * node-llama-cpp 3.21.1, whose ASCII symbol list is `$+<=>^`|~`); older llama.cpp and
 * ik_llama.cpp leave `~` out of `\p{S}`, which changes deepseek-v3 splits around `~` only
 * (the deepseek-llm and deepseek-coder lists never use `\p{S}`). Categories come from
 * different Unicode versions: V8's Unicode 16 knows 56 symbols that llama.cpp's 15.1 table
 * leaves unassigned, so `\p{S}` excludes them (`SYMBOL`); a scan of every BMP and SMP code
 * point against llama.cpp found no other difference.
 * @module
 */
import { GgufError } from "../errors.ts";

/**
 * The `tokenizer.ggml.pre` values this tokenizer implements.
 *
 * @example
 * ```ts
 * import { PRE_TOKENIZER_NAMES } from "./pre_tokenizer.ts";
 * console.log(PRE_TOKENIZER_NAMES.includes("deepseek-v3")); // true
 * ```
 */
export const PRE_TOKENIZER_NAMES = ["deepseek-llm", "deepseek-coder", "deepseek-v3"] as const;

/**
 * One of {@link PRE_TOKENIZER_NAMES}.
 *
 * @example
 * ```ts
 * import type { PreTokenizerName } from "./pre_tokenizer.ts";
 * const name: PreTokenizerName = "deepseek-llm";
 * ```
 */
export type PreTokenizerName = typeof PRE_TOKENIZER_NAMES[number];

// `\s` and `\S` after non-ASCII whitespace has been folded to U+000B.
const WS = String.raw`[\t\n\v\f\r ]`;
const NOT_WS = String.raw`[^\t\n\v\f\r ]`;

/**
 * `\p{S}` as llama.cpp's tables see it: without the symbols new in Unicode 16, which are
 * unassigned there (found by comparing every code point through node-llama-cpp 3.21.1).
 */
const SYMBOL = String.raw`[\p{S}--[\u{1F8B2}-\u{1F8BB}\u{1F8C0}\u{1F8C1}\u{1FA89}\u{1FA8F}` +
  String.raw`\u{1FABE}\u{1FAC6}\u{1FADC}\u{1FADF}\u{1FAE9}\u{1FBCB}-\u{1FBEF}]]`;

/** deepseek-llm regex 2: the letter ranges of the upstream pattern, as code point ranges. */
const DEEPSEEK_LLM_LETTERS = String.raw`A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA` +
  String.raw`\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D` +
  String.raw`\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481` +
  String.raw`\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA` +
  String.raw`\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D` +
  String.raw`\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D` +
  String.raw`\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3` +
  String.raw`\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113` +
  String.raw`\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139` +
  String.raw`\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4` +
  String.raw`\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787` +
  String.raw`\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A` +
  String.raw`\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}` +
  String.raw`\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}`;

/** CJK ideographs, the U+0800..U+4E00 block range exactly as upstream writes it, Hangul. */
const DEEPSEEK_CJK = String.raw`[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+`;

/**
 * Regex sources per pre-tokenizer, in application order (upstream `src/llama-vocab.cpp`),
 * rewritten as described in the module comment; compile with the `v` flag.
 */
export const REGEX_SOURCES: Readonly<Record<PreTokenizerName, readonly string[]>> = {
  "deepseek-llm": [
    String.raw`[\r\n]`,
    `${WS}?[${DEEPSEEK_LLM_LETTERS}]+`,
    `${WS}?` +
    String.raw`[\x21-\x2F\x3A-\x7E\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+`,
    `${WS}+$`,
    DEEPSEEK_CJK,
    String.raw`\p{N}+`,
  ],
  "deepseek-coder": [
    String.raw`[\r\n]`,
    `${WS}?` + String.raw`\p{L}+`,
    `${WS}?` + String.raw`\p{P}+`,
    DEEPSEEK_CJK,
    String.raw`\p{N}`,
  ],
  "deepseek-v3": [
    String.raw`\p{N}{1,3}`,
    String.raw`[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+`,
    [
      String.raw`[\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E][A-Za-z]+`,
      String.raw`[^\r\n\p{L}\p{P}${SYMBOL}]?[\p{L}\p{M}]+`,
      String.raw` ?[\p{P}${SYMBOL}]+[\r\n]*`,
      `${WS}*` + String.raw`[\r\n]+`,
      `${WS}+(?!${NOT_WS})`,
      `${WS}+`,
    ].join("|"),
  ],
};

/**
 * llama.cpp's whitespace set (Unicode White_Space). Its non-ASCII members are folded to U+000B
 * before matching. Note U+0085 is whitespace here although ECMAScript `\s` excludes it, and
 * U+FEFF is not although ECMAScript `\s` includes it.
 */
const NON_ASCII_WHITESPACE = /[\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/g;

/**
 * A compiled pre-tokenizer: splits text into the words BPE then encodes one by one.
 *
 * @example
 * ```ts
 * import { PreTokenizer } from "./pre_tokenizer.ts";
 * const pre = PreTokenizer.create("deepseek-llm");
 * console.log(pre.split("Hello, world!")); // ["Hello", ",", " world", "!"]
 * ```
 */
export class PreTokenizer {
  /** The `tokenizer.ggml.pre` name. */
  readonly name: PreTokenizerName;
  readonly #steps: readonly Step[];

  private constructor(name: PreTokenizerName) {
    this.name = name;
    this.#steps = REGEX_SOURCES[name].map(compileStep);
  }

  /**
   * Compiles the regex list for `name`.
   *
   * @param name A `tokenizer.ggml.pre` value.
   * @returns The pre-tokenizer.
   * @throws {GgufError} When `name` is not one this tokenizer implements.
   */
  static create(name: string): PreTokenizer {
    if (!(PRE_TOKENIZER_NAMES as readonly string[]).includes(name)) {
      throw new GgufError(
        `Pre-tokenizer "${name}" is not supported; supported: ${PRE_TOKENIZER_NAMES.join(", ")}`,
        { field: "tokenizer.ggml.pre" },
      );
    }
    return new PreTokenizer(name as PreTokenizerName);
  }

  /**
   * Splits `text` into words. Concatenated, the words give back `text`.
   *
   * @param text Text without special tokens.
   * @returns The words, none empty.
   */
  split(text: string): string[] {
    const ends = this.splitEnds(text);
    const words = new Array<string>(ends.length);
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      words[i] = text.slice(start, ends[i]);
      start = ends[i];
    }
    return words;
  }

  /**
   * Where the words of `text` end: word `i` is `text.slice(ends[i - 1] ?? 0, ends[i])`.
   *
   * @param text Text without special tokens.
   * @returns Ascending UTF-16 offsets, the last being `text.length` (empty for "").
   */
  splitEnds(text: string): number[] {
    if (text.length === 0) return [];
    const folded = text.replace(NON_ASCII_WHITESPACE, "\v");
    // Folding replaces BMP code points by one code unit, so offsets carry over to `text`.
    let ends = [folded.length];
    for (const step of this.#steps) {
      if (step.kind === "scan") ends = splitByScan(folded, ends, step.regex);
      else if (step.kind === "fragment") ends = splitEachFragment(folded, ends, step.regex);
      else ends = splitTrailingSpace(folded, ends);
    }
    return ends;
  }
}

/**
 * How one regex of the list is run. "scan": one global search over the whole text, valid
 * for regexes without anchors or lookarounds (see `splitByScan`); "fragment": searched in
 * each fragment separately; "trailingSpace": `\s+$`, done by hand.
 */
type Step =
  | { kind: "scan" | "fragment"; regex: RegExp }
  | { kind: "trailingSpace" };

function compileStep(source: string): Step {
  if (source === `${WS}+$`) return { kind: "trailingSpace" };
  const regex = new RegExp(source, "gv");
  const endSensitive = source.includes("$") || source.includes("(?");
  return { kind: endSensitive ? "fragment" : "scan", regex };
}

/** Searches one fragment `[start, end)`, appending match and gap ends (ending with `end`). */
function splitOne(text: string, start: number, end: number, regex: RegExp, out: number[]): void {
  const fragment = start === 0 && end === text.length ? text : text.slice(start, end);
  regex.lastIndex = 0;
  let done = 0;
  for (let m = regex.exec(fragment); m !== null; m = regex.exec(fragment)) {
    if (m[0].length === 0) throw new Error(`Pre-tokenizer regex ${regex} matched empty text`);
    if (m.index > done) out.push(start + m.index);
    done = m.index + m[0].length;
    out.push(start + done);
  }
  if (done < fragment.length) out.push(end);
}

/**
 * Runs `regex` over each fragment `[previous end, end)` of `text`; returns the new ends.
 *
 * @param text The (whitespace-folded) text.
 * @param ends Current fragment ends, ascending, the last being `text.length`.
 * @param regex A global regex.
 * @returns The new fragment ends.
 */
export function splitEachFragment(text: string, ends: readonly number[], regex: RegExp): number[] {
  const out: number[] = [];
  let start = 0;
  for (const end of ends) {
    splitOne(text, start, end, regex, out);
    start = end;
  }
  return out;
}

/**
 * Same result as `splitEachFragment` for a regex without anchors or lookarounds, with one
 * search over the whole text instead of one per fragment. Such a regex matches in a prefix of
 * a string only where it matches in the whole string, so the first match at or after `pos` in
 * the whole text is also the first in the fragment when it ends inside the fragment; when it
 * runs past the fragment's end, the rest of that fragment is searched on its own.
 *
 * @param text The (whitespace-folded) text.
 * @param ends Current fragment ends, ascending, the last being `text.length`.
 * @param regex A global regex without `$`, `^` or lookarounds.
 * @returns The new fragment ends.
 */
export function splitByScan(text: string, ends: readonly number[], regex: RegExp): number[] {
  const out: number[] = [];
  let k = 0; // the fragment being searched
  let pos = 0; // search position inside fragment k; always < ends[k]
  while (k < ends.length) {
    regex.lastIndex = pos;
    const m = regex.exec(text);
    if (m === null) {
      for (; k < ends.length; k++) out.push(ends[k]);
      break;
    }
    if (m[0].length === 0) throw new Error(`Pre-tokenizer regex ${regex} matched empty text`);
    const start = m.index;
    if (ends[k] <= start) {
      // No match in the rest of fragment k nor in any fragment ending before the match.
      while (ends[k] <= start) out.push(ends[k++]);
      pos = ends[k - 1];
    }
    const end = ends[k];
    const matchEnd = start + m[0].length;
    if (matchEnd <= end) {
      if (start > pos) out.push(start);
      out.push(matchEnd);
      pos = matchEnd;
      if (pos === end) k++;
    } else {
      // The match runs past the fragment: search the fragment's rest on its own.
      splitOne(text, pos, end, regex, out);
      pos = end;
      k++;
    }
  }
  return out;
}

/** `\s+$` per fragment: the maximal run of whitespace ending the fragment. */
function splitTrailingSpace(text: string, ends: readonly number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const end of ends) {
    let j = end;
    while (j > start && isAsciiSpace(text.charCodeAt(j - 1))) j--;
    if (j > start && j < end) out.push(j);
    out.push(end);
    start = end;
  }
  return out;
}

/** ECMAScript `\s` restricted to ASCII, which is what `\s` means after whitespace folding. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
