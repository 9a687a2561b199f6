/**
 * ITU-T G.711 (11/88) pulse code modulation: μ-law and A-law companding of
 * 16-bit linear PCM to 8-bit codes and back.
 *
 * The bit manipulation follows the ITU-T G.191 Software Tool Library reference
 * (`g711.c`: `ulaw_compress`, `ulaw_expand`, `alaw_compress`, `alaw_expand`), so
 * the codes and decoded values are the reference ones for every input:
 *
 * - Linear samples are 16-bit; μ-law quantises the top 14 bits, A-law the top 13.
 * - Negative inputs are quantised by their ones' complement (`~x`), as G.191 does,
 *   which makes the quantiser symmetric about −½.
 * - On the wire bit 7 is the polarity (1 = positive) for both laws; A-law inverts
 *   the even bits (XOR 0x55, G.711 §3.2 note), μ-law inverts the seven magnitude
 *   bits (G.711 §4.2 note).
 *
 * Decoding is a 256-entry table. Encoding is one table lookup on the sample
 * shifted right by the bits the law throws away: 16384 entries for μ-law
 * (`x >> 2`), 8192 for A-law (`x >> 3`); both give exactly the G.191 code because
 * the reference encoder ignores those low bits too.
 *
 * μ-law has two codes for zero: 0xFF (+0) and 0x7F (−0). Both decode to 0 and 0
 * encodes to 0xFF, so 0x7F is the one code for which encode(decode(c)) ≠ c.
 */

/** Largest magnitude code value μ-law can represent in 14-bit units (G.191 `0x1FFF` clip after the +33 bias). */
const ULAW_CLIP = 0x1fff;
/** μ-law bias (G.711 Table 2a: segment ends are 33·(2^k) − 33 in 14-bit units). */
const ULAW_BIAS = 33;

/** G.191 `ulaw_compress` for one 16-bit sample. */
function ulawCompressReference(sample: number): number {
  let absno = sample < 0 ? (~sample >> 2) + ULAW_BIAS : (sample >> 2) + ULAW_BIAS;
  if (absno > ULAW_CLIP) absno = ULAW_CLIP;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const highNibble = 0x08 - segno;
  const lowNibble = 0x0f - ((absno >> segno) & 0x0f);
  let code = (highNibble << 4) | lowNibble;
  if (sample >= 0) code |= 0x80;
  return code;
}

/** G.191 `ulaw_expand` for one code. */
function ulawExpandReference(code: number): number {
  const sign = code < 0x80 ? -1 : 1;
  const inverted = ~code;
  const exponent = (inverted >> 4) & 0x07;
  const segment = exponent + 1;
  const mantissa = inverted & 0x0f;
  const step = 4 << segment;
  return sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * ULAW_BIAS);
}

/** G.191 `alaw_compress` for one 16-bit sample. */
function alawCompressReference(sample: number): number {
  let ix = sample < 0 ? ~sample >> 4 : sample >> 4;
  if (ix > 15) {
    let iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      iexp++;
    }
    ix -= 16;
    ix += iexp << 4;
  }
  if (sample >= 0) ix |= 0x80;
  return ix ^ 0x55;
}

/** G.191 `alaw_expand` for one code. */
function alawExpandReference(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const iexp = ix >> 4;
  let mant = ix & 0x0f;
  if (iexp > 0) mant += 16;
  mant = (mant << 4) + 0x08;
  if (iexp > 1) mant <<= iexp - 1;
  return code > 127 ? mant : -mant;
}

function buildDecodeTable(expand: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = expand(code);
  return table;
}

/** Encode table indexed by `(sample >> shift) + offset`; `shift` drops the bits the law ignores. */
function buildEncodeTable(compress: (sample: number) => number, shift: number): Uint8Array {
  const size = 65536 >> shift;
  const table = new Uint8Array(size);
  for (let i = 0; i < size; i++) table[i] = compress((i - size / 2) << shift);
  return table;
}

/** μ-law code → 16-bit linear (G.191 scale, ±32124). */
export const ULAW_DECODE: Readonly<Int16Array> = buildDecodeTable(ulawExpandReference);
/** A-law code → 16-bit linear (G.191 scale, ±32256). */
export const ALAW_DECODE: Readonly<Int16Array> = buildDecodeTable(alawExpandReference);

const ULAW_SHIFT = 2;
const ALAW_SHIFT = 3;
const ULAW_OFFSET = 65536 >> (ULAW_SHIFT + 1);
const ALAW_OFFSET = 65536 >> (ALAW_SHIFT + 1);
/** `(sample >> 2) + 8192` → μ-law code (16384 entries). */
export const ULAW_ENCODE: Readonly<Uint8Array> = buildEncodeTable(ulawCompressReference, ULAW_SHIFT);
/** `(sample >> 3) + 4096` → A-law code (8192 entries). */
export const ALAW_ENCODE: Readonly<Uint8Array> = buildEncodeTable(alawCompressReference, ALAW_SHIFT);

/** μ-law silence: the code for linear 0. */
export const ULAW_SILENCE = 0xff;
/** A-law silence: the code for linear 0. */
export const ALAW_SILENCE = 0xd5;

/** One 16-bit sample → μ-law code. Inputs outside int16 are saturated. */
export function linearToUlaw(sample: number): number {
  const s = sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
  return ULAW_ENCODE[(s >> ULAW_SHIFT) + ULAW_OFFSET] as number;
}

/** One μ-law code (0–255) → 16-bit sample. */
export function ulawToLinear(code: number): number {
  return ULAW_DECODE[code & 0xff] as number;
}

/** One 16-bit sample → A-law code. Inputs outside int16 are saturated. */
export function linearToAlaw(sample: number): number {
  const s = sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
  return ALAW_ENCODE[(s >> ALAW_SHIFT) + ALAW_OFFSET] as number;
}

/** One A-law code (0–255) → 16-bit sample. */
export function alawToLinear(code: number): number {
  return ALAW_DECODE[code & 0xff] as number;
}

/** PCM16 → μ-law, one byte per sample. `out` (same length) avoids an allocation. */
export function encodeUlaw(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length)): Uint8Array {
  checkLengths(pcm.length, out.length);
  const table = ULAW_ENCODE;
  for (let i = 0; i < pcm.length; i++) out[i] = table[((pcm[i] as number) >> ULAW_SHIFT) + ULAW_OFFSET] as number;
  return out;
}

/** μ-law → PCM16. `out` (same length) avoids an allocation. */
export function decodeUlaw(bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length)): Int16Array {
  checkLengths(bytes.length, out.length);
  const table = ULAW_DECODE;
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i] as number] as number;
  return out;
}

/** PCM16 → A-law, one byte per sample. `out` (same length) avoids an allocation. */
export function encodeAlaw(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length)): Uint8Array {
  checkLengths(pcm.length, out.length);
  const table = ALAW_ENCODE;
  for (let i = 0; i < pcm.length; i++) out[i] = table[((pcm[i] as number) >> ALAW_SHIFT) + ALAW_OFFSET] as number;
  return out;
}

/** A-law → PCM16. `out` (same length) avoids an allocation. */
export function decodeAlaw(bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length)): Int16Array {
  checkLengths(bytes.length, out.length);
  const table = ALAW_DECODE;
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i] as number] as number;
  return out;
}

function checkLengths(input: number, output: number): void {
  if (input !== output) throw new TypeError(`output holds ${output} samples, input has ${input}`);
}

/** A G.711 law as the RTP layer sees it (RFC 3551 §4.5.14, static payload types 0 and 8). */
export interface G711Codec {
  /** SDP encoding name. */
  readonly name: 'PCMU' | 'PCMA';
  readonly payloadType: 0 | 8;
  /** The code for linear 0, for comfort silence. */
  readonly silence: number;
  encode(pcm: Int16Array, out?: Uint8Array): Uint8Array;
  decode(bytes: Uint8Array, out?: Int16Array): Int16Array;
}

export const PCMU: G711Codec = Object.freeze({
  name: 'PCMU',
  payloadType: 0,
  silence: ULAW_SILENCE,
  encode: encodeUlaw,
  decode: decodeUlaw,
});
export const PCMA: G711Codec = Object.freeze({
  name: 'PCMA',
  payloadType: 8,
  silence: ALAW_SILENCE,
  encode: encodeAlaw,
  decode: decodeAlaw,
});
