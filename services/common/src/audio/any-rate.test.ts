import { resample } from './any-rate';

const sine = (hz: number, rate: number, n: number, amplitude = 10000): Int16Array =>
  new Int16Array(n).map((_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)));

/** Amplitude of the `hz` component (Goertzel-style correlation over the middle of the signal). */
function amplitudeAt(x: Int16Array, hz: number, rate: number): number {
  let re = 0;
  let im = 0;
  const from = 200;
  const to = x.length - 200;
  for (let i = from; i < to; i++) {
    re += (x[i] as number) * Math.cos((2 * Math.PI * hz * i) / rate);
    im += (x[i] as number) * Math.sin((2 * Math.PI * hz * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

describe('resample (prompts only)', () => {
  test('22 050 → 16 000 Hz: the length scales and a 1 kHz tone keeps its frequency and level', () => {
    const out = resample(sine(1000, 22050, 22050), 22050, 16000);
    expect(out.length).toBe(16000);
    expect(amplitudeAt(out, 1000, 16000)).toBeGreaterThan(9800);
    expect(amplitudeAt(out, 1000, 16000)).toBeLessThan(10100);
  });

  test('22 050 → 16 000 Hz: a 9 kHz tone (above the new Nyquist) is filtered, not folded to 7 kHz', () => {
    const out = resample(sine(9000, 22050, 22050), 22050, 16000);
    const aliasDb = 20 * Math.log10(amplitudeAt(out, 7000, 16000) / 10000);
    expect(aliasDb).toBeLessThan(-40);
  });

  test('same rate → a copy', () => {
    const x = sine(440, 16000, 100);
    const y = resample(x, 16000, 16000);
    expect(y).toEqual(x);
    expect(y).not.toBe(x);
  });
});
