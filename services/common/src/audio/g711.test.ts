import {
  ALAW_DECODE,
  ALAW_SILENCE,
  alawToLinear,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeUlaw,
  linearToAlaw,
  linearToUlaw,
  PCMA,
  PCMU,
  ULAW_DECODE,
  ULAW_SILENCE,
  ulawToLinear,
} from './g711';

/**
 * Reference quantisers built from the segment tables of ITU-T G.711, not from the
 * code under test. Each law is described as published: for each of the 8
 * segments, where its first decision value lies and its step, on the law's
 * normalised scale (A-law 0..4096, Table 1a; μ-law 0..8159, Table 2a). Every
 * segment has 16 intervals; the decoder output is the middle of the interval.
 * A 16-bit linear sample is the normalised value times 8 (A-law) or 4 (μ-law).
 */
interface LawTable {
  /** Lower decision value of the first interval of each segment. */
  readonly segmentStart: readonly number[];
  readonly segmentStep: readonly number[];
  /** Normalised unit → 16-bit linear. */
  readonly scale: number;
  /** The 7 magnitude bits (segment << 4 | interval) as sent, before the polarity bit. */
  readonly magnitudeBits: (segment: number, interval: number) => number;
  /** What is done to the whole character before sending (Table 1a/2a notes). */
  readonly finish: (character: number) => number;
}

// G.711 Table 1a (A-law): segments 1 and 2 share step 2, then the step doubles.
// Character = polarity (1 = positive) | segment | interval, then even bits inverted.
const ALAW: LawTable = {
  segmentStart: [0, 32, 64, 128, 256, 512, 1024, 2048],
  segmentStep: [2, 2, 4, 8, 16, 32, 64, 128],
  scale: 8,
  magnitudeBits: (s, q) => (s << 4) | q,
  finish: (c) => c ^ 0x55,
};

// G.711 Table 2a (μ-law): segment ends at 31, 95, 223, 479, 991, 2015, 4063, 8159;
// the first interval of segment 1 is [−1, 1) (half an interval either side of 0).
// Character = polarity (1 = positive) | inverted (segment | interval).
const ULAW: LawTable = {
  segmentStart: [-1, 31, 95, 223, 479, 991, 2015, 4063],
  segmentStep: [2, 4, 8, 16, 32, 64, 128, 256],
  scale: 4,
  magnitudeBits: (s, q) => ~((s << 4) | q) & 0x7f,
  finish: (c) => c,
};

interface Interval {
  readonly code: number;
  readonly lower: number;
  readonly output: number;
}

/** The 128 intervals of one polarity, in increasing order of magnitude. */
function intervals(law: LawTable, positive: boolean): Interval[] {
  const out: Interval[] = [];
  for (let s = 0; s < 8; s++) {
    for (let q = 0; q < 16; q++) {
      const lower = (law.segmentStart[s] as number) + q * (law.segmentStep[s] as number);
      const output = lower + (law.segmentStep[s] as number) / 2;
      const code = law.finish((positive ? 0x80 : 0) | law.magnitudeBits(s, q));
      out.push({ code, lower, output });
    }
  }
  return out;
}

function referenceDecodeTable(law: LawTable): Map<number, number> {
  const table = new Map<number, number>();
  for (const i of intervals(law, true)) table.set(i.code, i.output * law.scale);
  for (const i of intervals(law, false)) table.set(i.code, i.output === 0 ? 0 : -i.output * law.scale);
  return table;
}

/**
 * Reference encoder: the interval whose decision values enclose the sample.
 * Negative samples are taken by their ones' complement, the G.191 convention
 * for mapping two's-complement integers onto G.711's sign-magnitude scale.
 */
function referenceEncode(law: LawTable, sample: number): number {
  const positive = sample >= 0;
  const magnitude = (positive ? sample : -sample - 1) / law.scale;
  const table = intervals(law, positive);
  let chosen = table[0] as Interval;
  for (const i of table) if (magnitude >= i.lower) chosen = i;
  return chosen.code;
}

describe('G.711 μ-law', () => {
  test('all 256 codes → the decoder outputs of G.711 Table 2a', () => {
    const reference = referenceDecodeTable(ULAW);
    expect(reference.size).toBe(256);
    for (let code = 0; code < 256; code++) {
      expect([code, ULAW_DECODE[code]]).toEqual([code, reference.get(code)]);
      expect(ulawToLinear(code)).toBe(reference.get(code));
    }
  });

  test('extreme codes → ±32124 and the two zeros', () => {
    expect([ulawToLinear(0x00), ulawToLinear(0x80), ulawToLinear(0xff), ulawToLinear(0x7f)]).toEqual([
      -32124, 32124, 0, 0,
    ]);
  });

  test('every 16-bit sample → the code of the Table 2a interval that encloses it', () => {
    const cache = intervalsCache(ULAW);
    for (let x = -32768; x <= 32767; x++) {
      const expected = cache(x);
      if (linearToUlaw(x) !== expected) throw new Error(`sample ${x}: code ${linearToUlaw(x)}, reference ${expected}`);
    }
  });

  test('encode(decode(code)) → code for all codes but 0x7F, which is −0 and re-encodes as +0 (0xFF)', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const back = encodeUlaw(decodeUlaw(all));
    const differing = [...all].filter((c) => back[c] !== c);
    expect(differing).toEqual([0x7f]);
    expect(back[0x7f]).toBe(0xff);
  });

  test('quantisation is monotonic over the whole 16-bit range', () => {
    expect(isMonotonic((x) => ulawToLinear(linearToUlaw(x)))).toBe(true);
  });

  test('silence code decodes to 0', () => {
    expect(ulawToLinear(ULAW_SILENCE)).toBe(0);
    expect(PCMU.silence).toBe(ULAW_SILENCE);
  });
});

describe('G.711 A-law', () => {
  test('all 256 codes → the decoder outputs of G.711 Table 1a', () => {
    const reference = referenceDecodeTable(ALAW);
    expect(reference.size).toBe(256);
    for (let code = 0; code < 256; code++) {
      expect([code, ALAW_DECODE[code]]).toEqual([code, reference.get(code)]);
      expect(alawToLinear(code)).toBe(reference.get(code));
    }
  });

  test('extreme codes → ±32256 and the smallest steps ±8', () => {
    expect([alawToLinear(0xaa), alawToLinear(0x2a), alawToLinear(0xd5), alawToLinear(0x55)]).toEqual([
      32256, -32256, 8, -8,
    ]);
  });

  test('every 16-bit sample → the code of the Table 1a interval that encloses it', () => {
    const cache = intervalsCache(ALAW);
    for (let x = -32768; x <= 32767; x++) {
      const expected = cache(x);
      if (linearToAlaw(x) !== expected) throw new Error(`sample ${x}: code ${linearToAlaw(x)}, reference ${expected}`);
    }
  });

  test('encode(decode(code)) → code for all 256 codes (A-law has no negative zero)', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...encodeAlaw(decodeAlaw(all))]).toEqual([...all]);
  });

  test('quantisation is monotonic over the whole 16-bit range', () => {
    expect(isMonotonic((x) => alawToLinear(linearToAlaw(x)))).toBe(true);
  });

  test('silence code decodes to the smallest positive step', () => {
    expect(alawToLinear(ALAW_SILENCE)).toBe(8);
    expect(linearToAlaw(0)).toBe(ALAW_SILENCE);
    expect(PCMA.silence).toBe(ALAW_SILENCE);
  });
});

describe('G.711 both laws', () => {
  test('digital milliwatt sequences (G.711 Tables 5 and 6) → the same 1 kHz 0 dBm0 tone within 0.1 dB', () => {
    const ulaw = decodeUlaw(Uint8Array.from([0x1e, 0x0b, 0x0b, 0x1e, 0x9e, 0x8b, 0x8b, 0x9e]));
    const alaw = decodeAlaw(Uint8Array.from([0x34, 0x21, 0x21, 0x34, 0xb4, 0xa1, 0xa1, 0xb4]));
    const rms = (x: Int16Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(Math.abs(20 * Math.log10(rms(ulaw) / rms(alaw)))).toBeLessThan(0.1);
    // A sampled 1 kHz sine at 8 kHz: odd symmetry over half a period.
    for (let n = 0; n < 4; n++) {
      expect(ulaw[n + 4]).toBe(-(ulaw[n] as number));
      expect(alaw[n + 4]).toBe(-(alaw[n] as number));
    }
  });

  test('samples outside int16 → saturated to the extreme codes', () => {
    expect(linearToUlaw(40000)).toBe(linearToUlaw(32767));
    expect(linearToUlaw(-40000)).toBe(linearToUlaw(-32768));
    expect(linearToAlaw(40000)).toBe(linearToAlaw(32767));
    expect(linearToAlaw(-40000)).toBe(linearToAlaw(-32768));
  });

  test('array codecs → the single-sample codecs, sample by sample', () => {
    const pcm = Int16Array.from({ length: 4096 }, (_, i) =>
      Math.round(30000 * Math.sin(i * 0.0123) * Math.cos(i * 0.0007)),
    );
    const u = encodeUlaw(pcm);
    const a = encodeAlaw(pcm);
    const du = decodeUlaw(u);
    const da = decodeAlaw(a);
    expect([...u]).toEqual([...pcm].map(linearToUlaw));
    expect([...a]).toEqual([...pcm].map(linearToAlaw));
    expect([...du]).toEqual([...u].map(ulawToLinear));
    expect([...da]).toEqual([...a].map(alawToLinear));
  });

  test('caller-provided output buffer → filled and returned; wrong length → TypeError', () => {
    const out = new Uint8Array(3);
    expect(encodeUlaw(Int16Array.from([0, 1000, -1000]), out)).toBe(out);
    expect(() => encodeAlaw(new Int16Array(4), new Uint8Array(3))).toThrow(TypeError);
    expect(() => decodeUlaw(new Uint8Array(4), new Int16Array(5))).toThrow(TypeError);
  });

  test('codec descriptors → RFC 3551 static payload types', () => {
    expect([PCMU.name, PCMU.payloadType, PCMA.name, PCMA.payloadType]).toEqual(['PCMU', 0, 'PCMA', 8]);
  });
});

/** Reference encoder for every sample, computed once per polarity table (65536 lookups stay fast). */
function intervalsCache(law: LawTable): (x: number) => number {
  const pos = intervals(law, true);
  const neg = intervals(law, false);
  return (x) => {
    const positive = x >= 0;
    const magnitude = (positive ? x : -x - 1) / law.scale;
    const table = positive ? pos : neg;
    let lo = 0;
    let hi = table.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (magnitude >= (table[mid] as Interval).lower) lo = mid;
      else hi = mid - 1;
    }
    const code = (table[lo] as Interval).code;
    // The binary search is an optimisation of the linear scan in referenceEncode; keep them honest.
    if ((x & 0x3ff) === 0 && code !== referenceEncode(law, x)) throw new Error(`search disagrees at ${x}`);
    return code;
  };
}

function isMonotonic(quantise: (x: number) => number): boolean {
  let previous = -Infinity;
  for (let x = -32768; x <= 32767; x++) {
    const y = quantise(x);
    if (y < previous) return false;
    previous = y;
  }
  return true;
}
