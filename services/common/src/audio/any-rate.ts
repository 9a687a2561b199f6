/**
 * Any-ratio sample-rate conversion for prompts rendered offline: the demo agent's
 * (espeak-ng speaks at 22 050 Hz; the AI leg is 16 kHz) and the media gateway's IVR
 * prompts (spoken or uploaded at any rate; the telephone leg is 8 kHz). A windowed-sinc interpolator: for each output
 * instant t (in input samples) y = Σ x[k]·fc·sinc(fc·(t−k))·w(t−k), with the cutoff fc
 * (relative to the input's Nyquist) at 95 % of the lower rate's Nyquist so nothing
 * aliases, and a Hann window over ±16 zero crossings of the sinc.
 *
 * For a rational ratio L/M (in lowest terms) the fractional part of t repeats every L
 * outputs, so the kernel is tabulated once per phase (polyphase) and the inner loop is
 * multiply-adds only. Not for the call path: the gateway's 2× half-band filters are
 * (services/common/src/audio/resampler.ts).
 */
const ZERO_CROSSINGS = 16;
const MAX_PHASES = 4096;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function resample(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (!Number.isInteger(fromRate) || !Number.isInteger(toRate) || fromRate <= 0 || toRate <= 0)
    throw new TypeError('rates must be positive integers');
  if (fromRate === toRate) return input.slice();
  const g = gcd(fromRate, toRate);
  const phases = toRate / g; // L
  const step = fromRate / g; // M: t advances M/L input samples per output
  if (phases > MAX_PHASES) throw new TypeError(`ratio ${toRate}/${fromRate} needs ${phases} phases`);
  const fc = 0.95 * Math.min(1, toRate / fromRate);
  const halfWidth = ZERO_CROSSINGS / fc;
  const reach = Math.ceil(halfWidth); // taps k = base − reach + 1 … base + reach
  const taps = 2 * reach;
  const kernel = new Float64Array(phases * taps);
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    for (let j = 0; j < taps; j++) {
      const d = frac - (j - reach + 1); // t − k
      if (Math.abs(d) >= halfWidth) continue;
      const x = Math.PI * fc * d;
      const sinc = d === 0 ? 1 : Math.sin(x) / x;
      kernel[p * taps + j] = fc * sinc * (0.5 + 0.5 * Math.cos((Math.PI * d) / halfWidth));
    }
  }
  const out = new Int16Array(Math.floor((input.length * phases) / step));
  for (let n = 0; n < out.length; n++) {
    const base = Math.floor((n * step) / phases);
    const p = (n * step) % phases;
    const first = base - reach + 1;
    let acc = 0;
    for (let j = 0; j < taps; j++) {
      const k = first + j;
      if (k >= 0 && k < input.length) acc += (input[k] as number) * (kernel[p * taps + j] as number);
    }
    out[n] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}
