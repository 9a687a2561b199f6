/**
 * Any-ratio sample-rate conversion for prompts rendered offline (espeak-ng speaks at
 * 22 050 Hz; the AI leg is 16 kHz). A windowed-sinc interpolator: for each output
 * instant t (in input samples) y = Σ x[k]·fc·sinc(fc·(t−k))·w(t−k), with the cutoff fc
 * (relative to the input's Nyquist) at 95 % of the lower rate's Nyquist so nothing
 * aliases, and a Hann window over ±16 zero crossings. Not for the call path: the
 * gateway's 2× half-band filters are (services/media-gateway/src/dsp/resampler.ts).
 */
const ZERO_CROSSINGS = 16;

export function resample(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return input.slice();
  const ratio = fromRate / toRate;
  const fc = 0.95 * Math.min(1, toRate / fromRate);
  const halfWidth = ZERO_CROSSINGS / fc;
  const out = new Int16Array(Math.floor(input.length / ratio));
  for (let n = 0; n < out.length; n++) {
    const t = n * ratio;
    const first = Math.max(0, Math.ceil(t - halfWidth));
    const last = Math.min(input.length - 1, Math.floor(t + halfWidth));
    let acc = 0;
    for (let k = first; k <= last; k++) {
      const d = t - k;
      const x = Math.PI * fc * d;
      const sinc = d === 0 ? 1 : Math.sin(x) / x;
      const window = 0.5 + 0.5 * Math.cos((Math.PI * d) / halfWidth);
      acc += (input[k] as number) * fc * sinc * window;
    }
    out[n] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}
