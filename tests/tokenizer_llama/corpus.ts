/**
 * A deterministic corpus of varied strings for comparing the tokenizer with llama.cpp:
 * hand-picked edge cases plus pseudo-random mixes of scripts, emoji, whitespace runs, digits,
 * code, CJK, Hangul, Greek, combining marks and special-token look-alikes.
 * @module
 */

/** Pieces the generator mixes, by kind. */
const POOLS: Record<string, readonly string[]> = {
  latin: [
    "Hello",
    "world",
    "the",
    "Tokenizer",
    "naïve",
    "café",
    "Führer",
    "São",
    "Ærø",
    "ß",
    "İstanbul",
    "ǅemal",
    "ﬁne",
    "Ｆｕｌｌ",
  ],
  cyrillic: ["Привет", "мир", "ёжик", "Ѣ", "українська"],
  greek: ["Καλημέρα", "κόσμε", "ΑΒΓ", "ϐϑϕ", "ῼ"],
  armenianGeorgian: ["Բարեւ", "ქართული", "Ⴀ"],
  semitic: ["مرحبا", "بالعالم", "שלום", "עולם"],
  indic: ["नमस्ते", "दुनिया", "தமிழ்", "ಕನ್ನಡ"],
  thaiKhmer: ["สวัสดี", "ភាសាខ្មែរ", "ລາວ"],
  cjk: ["你好", "世界", "我想在apple工作", "漢字", "龥龦", "𠀀𠀁", "㐀", "〇"],
  japanese: ["こんにちは", "カタカナ", "ｶﾀｶﾅ", "ー", "ゟ"],
  hangul: ["안녕하세요", "세계", "가", "ㄱㄴ"],
  emoji: ["🚀", "😶‍🌫️", "👍🏽", "🇯🇵", "❤️", "✅", "🦙🦙", "👨‍👩‍👧‍👦", "©", "™"],
  digits: [
    "0",
    "7",
    "42",
    "333",
    "1234567",
    "3.14159",
    "1,000",
    "٣٤٥",
    "１２３",
    "²³",
    "Ⅻ",
    "½",
    "۱۲",
    "๓",
  ],
  whitespace: [
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    " \n ",
    "\u00a0",
    "\u3000",
    "\u2003",
    "\u0085",
    "\u2028",
    "\ufeff",
    "\u200b",
    "\v",
    "\f",
  ],
  punctuation: [
    ",",
    ".",
    "!",
    "?",
    "...",
    "—",
    "–",
    "“quoted”",
    "‘s",
    "'s",
    "'ll",
    "«»",
    "！",
    "？",
    "、",
    "。",
    "~",
    "~~",
    "^",
    "`",
    "|",
    "$",
    "¿",
    "§",
    "°",
  ],
  code: [
    "fn main() {",
    "}",
    "x += 1;",
    "if (a < b) return;",
    "=>",
    '<div class="x">',
    "#include <stdio.h>",
    "def f(x):\n    return x**2",
    "a_b_c",
    "snake_case",
    "camelCase",
    "0xFF",
    "// comment",
    "/* */",
    "@decorator",
    "$var",
    "std::vector<int>",
    "\tindent",
  ],
  marks: [
    "e\u0301",
    "n\u0303",
    "a\u0308\u0304",
    "Z\u0351\u036b\u0343\u036a\u0302",
    "\u0301",
    "क्ष",
    "ก่",
  ],
  specials: [
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "ø",
    "ü",
    "[PAD100015]",
    "<|User|>",
    "<｜fim▁hole｜>",
    "<|EOT|>",
    "<pad>",
    "<s>",
    "▁",
  ],
  symbols: ["∑", "√", "∞", "€", "£", "¥", "₹", "±", "×", "÷", "→", "★", "♫", "⌘", "🄰"],
};

/** Hand-picked strings that exercise known corners of the regexes. */
const FIXED: readonly string[] = [
  "",
  " ",
  "\n",
  "a",
  "   leading",
  "trailing   ",
  "trailing\n\n",
  "\t\t\tx",
  "x\u00a0y",
  "x\u3000y",
  "\u3000\u3000",
  "~abc ~ ~~x",
  "a~b",
  "3.3 3..3 3...3",
  "1234567890123",
  "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
  "Hello\r\nWorld\r\n",
  "   \n   \n",
  "ΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑΑ",
  "ааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааааа",
  "中".repeat(80),
  "😀".repeat(30),
  "a".repeat(300),
  "ab".repeat(1500) + " x", // one 3000-byte word: BPE's heap path
  "中文字符测试".repeat(400),
  " ".repeat(100),
  "\u0800\u0801\u4e00",
  "\uac00\ud7a3\ud7ff",
  "\u1680x\u2000y\u205fz",
  "a\u0085b",
  "\ufeffBOM",
  "x\u200by",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
  "𐐀𐐁𐐂 𐒰𐓘 𞤀𞤁",
  "Ⓐⓑ",
  "ǅǈǋ",
  "ÀÁ ùú øö ÿý",
];

/** Mulberry32: a small seeded PRNG so the corpus is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The corpus: the fixed cases then `count` generated mixes.
 *
 * @param count Number of generated strings.
 * @param seed PRNG seed.
 * @returns Strings (well-formed UTF-16).
 */
export function tokenizerCorpus(count: number, seed = 20261128): string[] {
  const random = prng(seed);
  const kinds = Object.keys(POOLS);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const out = [...FIXED];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    const n = 1 + Math.floor(random() * 12);
    // Half the strings stay within two kinds so runs of one script form long words.
    const allowed = random() < 0.5 ? [pick(kinds), pick(kinds)] : kinds;
    for (let j = 0; j < n; j++) {
      parts.push(pick(POOLS[pick(allowed)]));
      const r = random();
      if (r < 0.4) parts.push(" ");
      else if (r < 0.5) parts.push(pick(POOLS.whitespace));
    }
    out.push(parts.join(""));
  }
  return out;
}
