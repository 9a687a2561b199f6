/**
 * 2× sample-rate conversion between the telephone leg (8 kHz) and the AI leg
 * (16 kHz), with one linear-phase half-band FIR as the anti-aliasing (down) and
 * anti-imaging (up) filter.
 *
 * The filter (55 taps at 16 kHz) was designed offline by Parks-McClellan with the
 * half-band trick (P. P. Vaidyanathan, T. Q. Nguyen, "A trick for the design of
 * FIR half-band filters", IEEE Trans. CAS-34, 1987): a 28-tap equiripple filter g
 * is designed for a single band 0–6.8 kHz at 32 kHz (i.e. 0–3.4 kHz at 16 kHz after
 * interpolating by two), and h(z) = (z^-27 + g(z²)) / 2. With SciPy 1.17:
 *
 *     g = scipy.signal.remez(28, [0, 2 * 3400 / 16000], [1], fs=1.0)
 *     h = zeros(55); h[0::2] = g / 2; h[27] = 0.5
 *
 * Design figures (from the design, and measured on this implementation by the tests):
 * - passband 0–3.4 kHz: ripple ±0.0021 dB (0.0042 dB peak to peak)
 * - stopband 4.6–8 kHz: ≥ 72.3 dB attenuation (the half-band's δs = δp)
 * - transition 3.4–4.6 kHz, −6.02 dB at 4 kHz as every half-band filter
 * - linear phase, group delay 27 samples at 16 kHz (1.6875 ms) in both directions
 *
 * Every other tap but the centre is zero, so each 8 kHz sample costs 14
 * multiplications (symmetric pairs) in either direction, and the upsampler's odd
 * outputs are the input samples themselves, delayed.
 *
 * Both classes are streaming: the filter history carries across calls, so audio
 * cut into 20 ms frames (or any other lengths) comes out sample-identical to the
 * same audio processed in one block. Outputs are rounded and saturated to int16.
 */

/** h[0], h[2], …, h[54] of the half-band filter (h[27] = 0.5; odd taps otherwise zero). Symmetric. */
const EVEN_TAPS: readonly number[] = [
  -0.00033150060881147886, 0.000669813144429234, -0.0013055328478467191, 0.0022948950069616187, -0.0037568362986529326,
  0.005839855238082595, -0.008737653817351353, 0.01272402745630245, -0.01823376365392218, 0.026055369680975347,
  -0.03786115203792169, 0.05801718903645736, -0.10263032162159605, 0.3171376052708096,
  // second half, mirrored
  0.3171376052708096, -0.10263032162159605, 0.05801718903645736, -0.03786115203792169, 0.026055369680975347,
  -0.01823376365392218, 0.01272402745630245, -0.008737653817351353, 0.005839855238082595, -0.0037568362986529326,
  0.0022948950069616187, -0.0013055328478467191, 0.000669813144429234, -0.00033150060881147886,
];

/** Filter length at 16 kHz. */
export const HALFBAND_LENGTH = 55;
/** Centre tap index, and the group delay in 16 kHz samples of both converters. */
export const HALFBAND_GROUP_DELAY_16K = (HALFBAND_LENGTH - 1) / 2;

/** The full 55-tap impulse response at 16 kHz, for analysis and tests. */
export const HALFBAND_TAPS: Readonly<Float64Array> = (() => {
  const h = new Float64Array(HALFBAND_LENGTH);
  EVEN_TAPS.forEach((t, k) => (h[2 * k] = t));
  h[HALFBAND_GROUP_DELAY_16K] = 0.5;
  return h;
})();

const PAIRS = EVEN_TAPS.length / 2; // 14
const T0 = EVEN_TAPS[0] as number;
const T1 = EVEN_TAPS[1] as number;
const T2 = EVEN_TAPS[2] as number;
const T3 = EVEN_TAPS[3] as number;
const T4 = EVEN_TAPS[4] as number;
const T5 = EVEN_TAPS[5] as number;
const T6 = EVEN_TAPS[6] as number;
const T7 = EVEN_TAPS[7] as number;
const T8 = EVEN_TAPS[8] as number;
const T9 = EVEN_TAPS[9] as number;
const T10 = EVEN_TAPS[10] as number;
const T11 = EVEN_TAPS[11] as number;
const T12 = EVEN_TAPS[12] as number;
const T13 = EVEN_TAPS[13] as number;

function saturate(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/**
 * 8 kHz → 16 kHz. Output n (16 kHz) = 2·Σ h[m]·u[n−m] over the zero-stuffed input u;
 * even outputs use the even taps, odd outputs reduce to the delayed input sample.
 */
export class Upsampler2x {
  /** Input samples kept from earlier calls: x[i−27 … i−1] for the next i. */
  private static readonly HISTORY = 2 * PAIRS - 1; // 27
  private work = new Float64Array(Upsampler2x.HISTORY + 160);

  /** Group delay in 16 kHz output samples (13.5 samples of the 8 kHz input). */
  static readonly delay16k = HALFBAND_GROUP_DELAY_16K;

  /** `in8k.length` samples in → exactly twice as many out. `out`, if given, must hold them. */
  process(in8k: Int16Array, out: Int16Array = new Int16Array(in8k.length * 2)): Int16Array {
    const n = in8k.length;
    if (out.length !== 2 * n) throw new TypeError(`output holds ${out.length} samples, needs ${2 * n}`);
    const H = Upsampler2x.HISTORY;
    if (this.work.length < H + n) {
      const grown = new Float64Array(H + n);
      grown.set(this.work.subarray(0, H));
      this.work = grown;
    }
    const w = this.work;
    for (let i = 0; i < n; i++) w[H + i] = in8k[i] as number;
    for (let i = 0; i < n; i++) {
      // x[i − k] is w[H + i − k]; pair k with 27 − k (w[i + k]).
      const a = H + i;
      const acc =
        T0 * ((w[a] as number) + (w[i] as number)) +
        T1 * ((w[a - 1] as number) + (w[i + 1] as number)) +
        T2 * ((w[a - 2] as number) + (w[i + 2] as number)) +
        T3 * ((w[a - 3] as number) + (w[i + 3] as number)) +
        T4 * ((w[a - 4] as number) + (w[i + 4] as number)) +
        T5 * ((w[a - 5] as number) + (w[i + 5] as number)) +
        T6 * ((w[a - 6] as number) + (w[i + 6] as number)) +
        T7 * ((w[a - 7] as number) + (w[i + 7] as number)) +
        T8 * ((w[a - 8] as number) + (w[i + 8] as number)) +
        T9 * ((w[a - 9] as number) + (w[i + 9] as number)) +
        T10 * ((w[a - 10] as number) + (w[i + 10] as number)) +
        T11 * ((w[a - 11] as number) + (w[i + 11] as number)) +
        T12 * ((w[a - 12] as number) + (w[i + 12] as number)) +
        T13 * ((w[a - 13] as number) + (w[i + 13] as number));
      out[2 * i] = saturate(2 * acc);
      // Odd phase: only the centre tap (½) meets a non-zero input, x[i − 13].
      out[2 * i + 1] = w[i + PAIRS] as number;
    }
    w.copyWithin(0, n, n + H);
    return out;
  }

  /** Forget the history, as if freshly constructed. */
  reset(): void {
    this.work.fill(0);
  }
}

/**
 * 16 kHz → 8 kHz. One output per two inputs: y = Σ h[m]·x[n−m] at every odd
 * input index n (counted from construction or the last reset), so odd-length
 * chunks are fine and the phase carries over.
 */
export class Downsampler2x {
  /** x[n−54 … n−1] kept from earlier calls. */
  private static readonly HISTORY = HALFBAND_LENGTH - 1; // 54
  private work = new Float64Array(Downsampler2x.HISTORY + 320);
  /** Whether the next input sample has an odd index (and so produces an output). */
  private oddNext = false;

  /** Group delay of the filter in 16 kHz input samples. */
  static readonly delay16k = HALFBAND_GROUP_DELAY_16K;
  /**
   * Output j is the filtered input at index 2j+1, i.e. the signal at input time
   * 2j+1−27 = 2(j−13): against plain decimation (x[2j]) the output is delayed by
   * exactly 13 samples at 8 kHz (1.625 ms).
   */
  static readonly delay8k = (HALFBAND_GROUP_DELAY_16K - 1) / 2;

  /** How many samples `process` returns for an input of `length` samples, given the current phase. */
  outputLength(length: number): number {
    return this.oddNext ? (length + 1) >> 1 : length >> 1;
  }

  /** 320 samples in → 160 out (in general `outputLength(in16k.length)`). `out`, if given, must hold them. */
  process(in16k: Int16Array, out: Int16Array = new Int16Array(this.outputLength(in16k.length))): Int16Array {
    const n = in16k.length;
    const expected = this.outputLength(n);
    if (out.length !== expected) throw new TypeError(`output holds ${out.length} samples, needs ${expected}`);
    const H = Downsampler2x.HISTORY;
    if (this.work.length < H + n) {
      const grown = new Float64Array(H + n);
      grown.set(this.work.subarray(0, H));
      this.work = grown;
    }
    const w = this.work;
    for (let i = 0; i < n; i++) w[H + i] = in16k[i] as number;
    let o = 0;
    for (let i = this.oddNext ? 0 : 1; i < n; i += 2) {
      // x[n − 2k] is w[a − 2k]; pair k with 27 − k (x[n − 54 + 2k] = w[i + 2k]).
      const a = H + i;
      const acc =
        T0 * ((w[a] as number) + (w[i] as number)) +
        T1 * ((w[a - 2] as number) + (w[i + 2] as number)) +
        T2 * ((w[a - 4] as number) + (w[i + 4] as number)) +
        T3 * ((w[a - 6] as number) + (w[i + 6] as number)) +
        T4 * ((w[a - 8] as number) + (w[i + 8] as number)) +
        T5 * ((w[a - 10] as number) + (w[i + 10] as number)) +
        T6 * ((w[a - 12] as number) + (w[i + 12] as number)) +
        T7 * ((w[a - 14] as number) + (w[i + 14] as number)) +
        T8 * ((w[a - 16] as number) + (w[i + 16] as number)) +
        T9 * ((w[a - 18] as number) + (w[i + 18] as number)) +
        T10 * ((w[a - 20] as number) + (w[i + 20] as number)) +
        T11 * ((w[a - 22] as number) + (w[i + 22] as number)) +
        T12 * ((w[a - 24] as number) + (w[i + 24] as number)) +
        T13 * ((w[a - 26] as number) + (w[i + 26] as number)) +
        0.5 * (w[a - HALFBAND_GROUP_DELAY_16K] as number);
      out[o++] = saturate(acc);
    }
    if (n % 2 === 1) this.oddNext = !this.oddNext;
    w.copyWithin(0, n, n + H);
    return out;
  }

  /** Forget the history and phase, as if freshly constructed. */
  reset(): void {
    this.work.fill(0);
    this.oddNext = false;
  }
}
