/**
 * GPT-2's reversible byte ↔ character map. Byte-level BPE vocabularies store every token as a
 * string of these characters, one per UTF-8 byte, so that no token holds a raw control byte
 * or a space: printable Latin-1 bytes map to themselves and the other 68 bytes to U+0100….
 * @module
 */

/** Character code of each byte 0..255 in the byte-level encoding. */
const BYTE_TO_CHAR_CODE: Uint16Array = buildByteToCharCode();

/** Byte for each character code below 0x200, or -1 where the character encodes no byte. */
const CHAR_CODE_TO_BYTE: Int16Array = buildCharCodeToByte();

function buildByteToCharCode(): Uint16Array {
  const table = new Uint16Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  for (let b = 0; b < 256; b++) table[b] = printable(b) ? b : next++;
  // 256 bytes, 188 printable: the others take U+0100..U+0143 in byte order.
  if (next !== 0x144) throw new Error("GPT-2 byte map is malformed");
  return table;
}

function buildCharCodeToByte(): Int16Array {
  const table = new Int16Array(0x200).fill(-1);
  for (let b = 0; b < 256; b++) table[BYTE_TO_CHAR_CODE[b]] = b;
  return table;
}

/**
 * The byte-level character for one byte.
 *
 * @example
 * ```ts
 * import { byteToChar } from "./byte_encoder.ts";
 * console.log(byteToChar(0x20)); // "Ġ"
 * ```
 *
 * @param byte A byte 0..255.
 * @returns The one-character string that encodes it.
 */
export function byteToChar(byte: number): string {
  return String.fromCharCode(BYTE_TO_CHAR_CODE[byte & 0xff]);
}

/**
 * The byte a byte-level character stands for, or -1 when `charCode` is not one.
 *
 * @example
 * ```ts
 * import { charCodeToByte } from "./byte_encoder.ts";
 * console.log(charCodeToByte("Ġ".charCodeAt(0))); // 32
 * ```
 *
 * @param charCode A UTF-16 code unit.
 * @returns The byte 0..255, or -1.
 */
export function charCodeToByte(charCode: number): number {
  return charCode < 0x200 ? CHAR_CODE_TO_BYTE[charCode] : -1;
}

/**
 * The UTF-8 bytes of `text` (lone surrogates become U+FFFD, as `TextEncoder` does) written as
 * byte-level characters, one per byte.
 *
 * @example
 * ```ts
 * import { byteEncode } from "./byte_encoder.ts";
 * console.log(byteEncode(" é")); // "ĠÃ©"
 * ```
 *
 * @param text Any string.
 * @returns The byte-level encoded string; its length is the UTF-8 byte count.
 */
export function byteEncode(text: string): string {
  let out = "";
  for (const ch of text) {
    let cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) {
      out += String.fromCharCode(BYTE_TO_CHAR_CODE[cp]);
    } else if (cp < 0x800) {
      out += String.fromCharCode(
        BYTE_TO_CHAR_CODE[0xc0 | (cp >> 6)],
        BYTE_TO_CHAR_CODE[0x80 | (cp & 0x3f)],
      );
    } else if (cp < 0x10000) {
      out += String.fromCharCode(
        BYTE_TO_CHAR_CODE[0xe0 | (cp >> 12)],
        BYTE_TO_CHAR_CODE[0x80 | ((cp >> 6) & 0x3f)],
        BYTE_TO_CHAR_CODE[0x80 | (cp & 0x3f)],
      );
    } else {
      out += String.fromCharCode(
        BYTE_TO_CHAR_CODE[0xf0 | (cp >> 18)],
        BYTE_TO_CHAR_CODE[0x80 | ((cp >> 12) & 0x3f)],
        BYTE_TO_CHAR_CODE[0x80 | ((cp >> 6) & 0x3f)],
        BYTE_TO_CHAR_CODE[0x80 | (cp & 0x3f)],
      );
    }
  }
  return out;
}
