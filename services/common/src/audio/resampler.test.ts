import { Downsampler2x, HALFBAND_GROUP_DELAY_16K, HALFBAND_LENGTH, HALFBAND_TAPS, Upsampler2x } from './resampler';
import { concatInt16, db, gaussianNoise, measureTone, mix, seededRandom, sweep, tone, toInt16 } from './signals';

const AMPLITUDE = 16000;
/** Passband test frequencies: 100 Hz to 3.4 kHz every 50 Hz. */
const PASSBAND = Array.from({ length: 67 }, (_, i) => 100 + 50 * i);
/** 16 kHz input tones that must not fold into the 8 kHz output: 4.6 kHz to 8 kHz every 50 Hz. */
const FOLDING = Array.from({ length: 69 }, (_, i) => 4600 + 50 * i);

/** Runs `process` over `input` in chunks of `chunk` samples and joins the outputs. */
function inChunks(
  input: Int16Array,
  chunk: number | (() => number),
  process: (x: Int16Array) => Int16Array,
): Int16Array {
  const out: Int16Array[] = [];
  for (let i = 0; i < input.length;) {
    const size = typeof chunk === 'number' ? chunk : chunk();
    out.push(process(input.subarray(i, Math.min(i + size, input.length))));
    i += size;
  }
  return concatInt16(out);
}

/** 1.5 s of a tone through a converter in 20 ms frames; the last second (whole cycles of every integer-Hz tone) is analysed. */
const upsampled = new Map<number, Int16Array>();
function upsampleTone(frequency: number): Int16Array {
  let y = upsampled.get(frequency);
  if (!y) {
    const up = new Upsampler2x();
    y = inChunks(toInt16(tone(12000, 8000, frequency, AMPLITUDE)), 160, (x) => up.process(x));
    upsampled.set(frequency, y);
  }
  return y;
}

const downsampled = new Map<number, Int16Array>();
function downsampleTone(frequency: number): Int16Array {
  let y = downsampled.get(frequency);
  if (!y) {
    const down = new Downsampler2x();
    y = inChunks(toInt16(tone(24000, 16000, frequency, AMPLITUDE)), 320, (x) => down.process(x));
    downsampled.set(frequency, y);
  }
  return y;
}

/** Index of the first sample where two signals differ (−1 if identical, including length). */
function firstDifference(a: Int16Array, b: Int16Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Direct-form definition: y[n] = gain·Σ h[m]·x[n−m], rounded and saturated. */
function convolve(x: ArrayLike<number>, gain: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let n = 0; n < x.length; n++) {
    let acc = 0;
    for (let m = 0; m < HALFBAND_LENGTH && m <= n; m++) acc += (HALFBAND_TAPS[m] as number) * (x[n - m] as number);
    y[n] = gain * acc;
  }
  return y;
}

describe('half-band filter', () => {
  test('taps → symmetric, every other tap zero, centre ½, unity gain at DC within the ripple', () => {
    const h = HALFBAND_TAPS;
    const c = HALFBAND_GROUP_DELAY_16K;
    for (let m = 0; m < HALFBAND_LENGTH; m++) {
      expect(h[m]).toBe(h[HALFBAND_LENGTH - 1 - m]);
      if (m !== c && (m - c) % 2 === 0) expect(h[m]).toBe(0);
    }
    expect(h[c]).toBe(0.5);
    expect(
      Math.abs(
        db(
          h.reduce((s, v) => s + v, 0),
          1,
        ),
      ),
    ).toBeLessThan(0.005);
  });
});

describe('Upsampler2x (8 → 16 kHz)', () => {
  test('20 ms frame of 160 samples → 320 samples', () => {
    expect(new Upsampler2x().process(new Int16Array(160)).length).toBe(320);
  });

  test('tones 100 Hz–3.4 kHz → passband ripple ≤ 0.1 dB', () => {
    const gains = PASSBAND.map((f) => db(measureTone(upsampleTone(f), 16000, f, 8000, 16000).amplitude, AMPLITUDE));
    expect(Math.max(...gains) - Math.min(...gains)).toBeLessThanOrEqual(0.1);
    for (const g of gains) expect(Math.abs(g)).toBeLessThan(0.05);
  });

  test('tones 100 Hz–3.4 kHz → images at 4.6–7.9 kHz below −60 dB', () => {
    const images = PASSBAND.map((f) =>
      db(measureTone(upsampleTone(f), 16000, 8000 - f, 8000, 16000).amplitude, AMPLITUDE),
    );
    expect(Math.max(...images)).toBeLessThan(-60);
  });

  test('tones across the passband → one constant group delay of 27 samples at 16 kHz', () => {
    for (const f of [200, 700, 1200, 1800, 2500, 3000, 3400]) {
      const y = upsampleTone(f);
      // The output is the input tone (phase 0 at input sample 0) delayed by D output samples.
      const measured = measureTone(y, 16000, f, 8000, 16000).phase;
      const w = (2 * Math.PI * f) / 16000;
      const residual = Math.atan2(
        Math.sin(measured + w * HALFBAND_GROUP_DELAY_16K),
        Math.cos(measured + w * HALFBAND_GROUP_DELAY_16K),
      );
      expect(Math.abs(residual / w)).toBeLessThan(0.01);
    }
    expect(Upsampler2x.delay16k).toBe(27);
  });

  test('impulse → response peaks at output sample 27 and is symmetric about it', () => {
    const x = new Int16Array(64);
    x[0] = 16384;
    const y = new Upsampler2x().process(x);
    const peak = y.indexOf(Math.max(...y));
    expect(peak).toBe(27);
    for (let k = 1; k <= 27; k++) expect(y[27 + k]).toBe(y[27 - k]);
    expect(y.subarray(55).every((v) => v === 0)).toBe(true);
  });

  test('any input → the direct-form convolution of the zero-stuffed input with 2h, rounded and saturated', () => {
    const rand = seededRandom(7);
    const x = toInt16(
      Array.from({ length: 2000 }, (_, n) => (n < 1000 ? (rand() - 0.5) * 65535 : 20000 * Math.sin(n / 3))),
    );
    const stuffed = new Float64Array(4000);
    x.forEach((v, i) => (stuffed[2 * i] = v));
    expect([...new Upsampler2x().process(x)]).toEqual([...toInt16(convolve(stuffed, 2))]);
  });

  test('full-scale square wave → saturates at the int16 limits instead of wrapping', () => {
    const x = Int16Array.from({ length: 800 }, (_, n) => (Math.floor(n / 8) % 2 === 0 ? 32767 : -32768));
    const y = new Upsampler2x().process(x);
    expect(Math.max(...y)).toBe(32767);
    expect(Math.min(...y)).toBe(-32768);
    // Gibbs overshoot beyond full scale is clamped, sample for sample as the direct form clamps it.
    const reference = toInt16(
      convolve(
        Float64Array.from({ length: 1600 }, (_, i) => (i % 2 === 0 ? (x[i / 2] as number) : 0)),
        2,
      ),
    );
    expect([...y]).toEqual([...reference]);
  });

  test('long sweep in 20 ms frames, or in random chunk sizes → identical to one block (no frame-edge discontinuity)', () => {
    const x = toInt16(mix(sweep(80000, 8000, 50, 3900, 12000), gaussianNoise(80000, 1000, 3)));
    const whole = new Upsampler2x().process(x);
    const framed = new Upsampler2x();
    expect(
      firstDifference(
        inChunks(x, 160, (c) => framed.process(c)),
        whole,
      ),
    ).toBe(-1);
    const rand = seededRandom(11);
    const odd = new Upsampler2x();
    expect(
      firstDifference(
        inChunks(
          x,
          () => 1 + Math.floor(rand() * 400),
          (c) => odd.process(c),
        ),
        whole,
      ),
    ).toBe(-1);
  });

  test('reset() → output as from a fresh upsampler', () => {
    const x = toInt16(tone(1600, 8000, 440, 20000));
    const used = new Upsampler2x();
    used.process(toInt16(tone(800, 8000, 1000, 30000)));
    used.reset();
    expect([...used.process(x)]).toEqual([...new Upsampler2x().process(x)]);
  });

  test('output buffer of the wrong size → TypeError', () => {
    expect(() => new Upsampler2x().process(new Int16Array(160), new Int16Array(160))).toThrow(TypeError);
  });
});

describe('Downsampler2x (16 → 8 kHz)', () => {
  test('20 ms frame of 320 samples → 160 samples', () => {
    expect(new Downsampler2x().process(new Int16Array(320)).length).toBe(160);
  });

  test('tones 100 Hz–3.4 kHz → passband ripple ≤ 0.1 dB', () => {
    const gains = PASSBAND.map((f) => db(measureTone(downsampleTone(f), 8000, f, 4000, 8000).amplitude, AMPLITUDE));
    expect(Math.max(...gains) - Math.min(...gains)).toBeLessThanOrEqual(0.1);
    for (const g of gains) expect(Math.abs(g)).toBeLessThan(0.05);
  });

  test('tones 4.6–8 kHz → folded products at 8 kHz − f below −60 dB', () => {
    // Cosine phase so that the 8 kHz tone (Nyquist at 16 kHz) is not all zeros.
    const folded = FOLDING.map((f) =>
      db(measureTone(downsampleTone(f), 8000, 8000 - f, 4000, 8000).amplitude, AMPLITUDE),
    );
    expect(Math.max(...folded)).toBeLessThan(-60);
  });

  test('tones across the passband → one constant delay of 13 samples at 8 kHz against plain decimation', () => {
    for (const f of [200, 700, 1200, 1800, 2500, 3000, 3400]) {
      const measured = measureTone(downsampleTone(f), 8000, f, 4000, 8000).phase;
      const w = (2 * Math.PI * f) / 8000;
      const residual = Math.atan2(
        Math.sin(measured + w * Downsampler2x.delay8k),
        Math.cos(measured + w * Downsampler2x.delay8k),
      );
      expect(Math.abs(residual / w)).toBeLessThan(0.01);
    }
    expect([Downsampler2x.delay16k, Downsampler2x.delay8k]).toEqual([27, 13]);
  });

  test('any input → the direct-form convolution with h, taken at every odd input index', () => {
    const rand = seededRandom(5);
    const x = toInt16(
      Array.from({ length: 4001 }, (_, n) => (n < 2000 ? (rand() - 0.5) * 65535 : 25000 * Math.sin(n / 2.2))),
    );
    const full = toInt16(convolve(x, 1));
    const expected = [...full].filter((_, n) => n % 2 === 1);
    expect([...new Downsampler2x().process(x)]).toEqual(expected);
  });

  test('long sweep in 20 ms frames, or in random (odd) chunk sizes → identical to one block', () => {
    const x = toInt16(mix(sweep(160000, 16000, 50, 7900, 12000), gaussianNoise(160000, 1000, 9)));
    const whole = new Downsampler2x().process(x);
    const framed = new Downsampler2x();
    expect(
      firstDifference(
        inChunks(x, 320, (c) => framed.process(c)),
        whole,
      ),
    ).toBe(-1);
    const rand = seededRandom(13);
    const odd = new Downsampler2x();
    expect(
      firstDifference(
        inChunks(
          x,
          () => 1 + Math.floor(rand() * 700),
          (c) => odd.process(c),
        ),
        whole,
      ),
    ).toBe(-1);
  });

  test('odd-length chunks → outputLength() tells how many samples come back', () => {
    const down = new Downsampler2x();
    expect([down.outputLength(3), down.process(new Int16Array(3)).length]).toEqual([1, 1]);
    expect([down.outputLength(3), down.process(new Int16Array(3)).length]).toEqual([2, 2]);
    expect(down.process(new Int16Array(320)).length).toBe(160);
  });

  test('reset() → output as from a fresh downsampler, phase included', () => {
    const x = toInt16(tone(3200, 16000, 440, 20000));
    const used = new Downsampler2x();
    used.process(toInt16(tone(801, 16000, 1000, 30000)));
    used.reset();
    expect([...used.process(x)]).toEqual([...new Downsampler2x().process(x)]);
  });

  test('8 → 16 → 8 kHz round trip → the input back, delayed by 26.5 samples, within 0.1 dB across the passband', () => {
    for (const f of [300, 1000, 2000, 3000, 3400]) {
      const up = new Upsampler2x();
      const down = new Downsampler2x();
      const y = inChunks(toInt16(tone(12000, 8000, f, AMPLITUDE)), 160, (c) => down.process(up.process(c)));
      const m = measureTone(y, 8000, f, 4000, 8000);
      expect(Math.abs(db(m.amplitude, AMPLITUDE))).toBeLessThan(0.1);
      const w = (2 * Math.PI * f) / 8000;
      const residual = Math.atan2(Math.sin(m.phase + w * 26.5), Math.cos(m.phase + w * 26.5));
      expect(Math.abs(residual / w)).toBeLessThan(0.01);
    }
  });
});
