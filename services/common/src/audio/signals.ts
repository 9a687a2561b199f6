/**
 * Synthetic signals and single-frequency measurements, for the DSP tests and the
 * benchmark: tones, harmonic series, sweeps and seeded noise as float arrays,
 * quantised to int16 only when asked, and amplitude/phase of one frequency by a
 * direct DFT projection (exact when the window holds a whole number of cycles,
 * e.g. integer-Hz tones over a 1 s window).
 */

/** Deterministic uniform [0, 1) generator (mulberry32), so noisy tests are repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zero-mean Gaussian noise of the given RMS (Box-Muller over `seededRandom`). */
export function gaussianNoise(length: number, rms: number, seed: number): Float64Array {
  const rand = seededRandom(seed);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i += 2) {
    const u1 = Math.max(rand(), 1e-300);
    const u2 = rand();
    const r = Math.sqrt(-2 * Math.log(u1)) * rms;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** amplitude·cos(2π·f·n/rate + phase) for n = 0 … length−1. */
export function tone(length: number, rate: number, frequency: number, amplitude: number, phase = 0): Float64Array {
  const out = new Float64Array(length);
  const w = (2 * Math.PI * frequency) / rate;
  for (let n = 0; n < length; n++) out[n] = amplitude * Math.cos(w * n + phase);
  return out;
}

/** Linear sweep (chirp) from f0 to f1 Hz over the whole length. */
export function sweep(length: number, rate: number, f0: number, f1: number, amplitude: number): Float64Array {
  const out = new Float64Array(length);
  const seconds = length / rate;
  for (let n = 0; n < length; n++) {
    const t = n / rate;
    out[n] = amplitude * Math.sin(2 * Math.PI * (f0 * t + ((f1 - f0) * t * t) / (2 * seconds)));
  }
  return out;
}

/** Element-wise sum of equally long signals. */
export function mix(...signals: Float64Array[]): Float64Array {
  const out = new Float64Array(signals[0]?.length ?? 0);
  for (const s of signals) for (let n = 0; n < out.length; n++) out[n] = (out[n] as number) + (s[n] as number);
  return out;
}

/** Round and saturate to int16. */
export function toInt16(signal: ArrayLike<number>): Int16Array {
  const out = new Int16Array(signal.length);
  for (let n = 0; n < signal.length; n++) {
    const r = Math.round(signal[n] as number);
    out[n] = r > 32767 ? 32767 : r < -32768 ? -32768 : r;
  }
  return out;
}

/** Concatenate int16 chunks. */
export function concatInt16(chunks: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Root mean square of `signal[start … start+length)`. */
export function rms(signal: ArrayLike<number>, start = 0, length = signal.length - start): number {
  let sum = 0;
  for (let n = start; n < start + length; n++) sum += (signal[n] as number) ** 2;
  return length > 0 ? Math.sqrt(sum / length) : 0;
}

/** Complex DFT projection at one frequency: amplitude and phase of the cosine it finds. */
export function measureTone(
  signal: ArrayLike<number>,
  rate: number,
  frequency: number,
  start = 0,
  length = signal.length - start,
): { amplitude: number; phase: number } {
  const w = (2 * Math.PI * frequency) / rate;
  // e^{−jωn} by rotation rather than a cos/sin per sample (drift ~1e-12 over 10^5 samples).
  const c = Math.cos(w);
  const s = Math.sin(w);
  let pr = Math.cos(w * start);
  let pi = -Math.sin(w * start);
  let re = 0;
  let im = 0;
  for (let n = 0; n < length; n++) {
    const x = signal[start + n] as number;
    re += x * pr;
    im += x * pi;
    const next = pr * c + pi * s;
    pi = pi * c - pr * s;
    pr = next;
  }
  // DC and Nyquist have no conjugate partner: their amplitude is the mean, not twice it.
  const edge = frequency === 0 || 2 * frequency === rate;
  const scale = edge ? 1 / length : 2 / length;
  return { amplitude: Math.hypot(re, im) * scale, phase: Math.atan2(im, re) };
}

/** 20·log10(a/b). */
export function db(a: number, b: number): number {
  return 20 * Math.log10(a / b);
}
