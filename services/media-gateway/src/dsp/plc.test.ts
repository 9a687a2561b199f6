import { findPitch, G711Plc } from './plc';
import { mix, rms, tone, toInt16 } from '../../../common/src/audio/signals';

const FRAME = 160;
const DELAY = G711Plc.delaySamples;
/** Loss starts at frame 10 (200 ms in), when the 48.75 ms history is full of voice. */
const LOSS_AT = 10;
const TOTAL_FRAMES = 40;

/** A steady voiced sound: six harmonics of f0 with a falling spectrum. */
function voiced(f0: number, length: number): Int16Array {
  const amplitudes = [8000, 5600, 4000, 2800, 2000, 1400];
  return toInt16(mix(...amplitudes.map((a, k) => tone(length, 8000, f0 * (k + 1), a, k * 0.7))));
}

/** Plays `x` through the PLC in 20 ms slots, losing `lostFrames` slots from LOSS_AT on. */
function play(x: Int16Array, lostFrames: number): Int16Array {
  const plc = new G711Plc();
  const y = new Int16Array(x.length);
  for (let f = 0; f < x.length / FRAME; f++) {
    const lost = f >= LOSS_AT && f < LOSS_AT + lostFrames;
    y.set(lost ? plc.lost() : plc.good(x.subarray(f * FRAME, (f + 1) * FRAME)), f * FRAME);
  }
  return y;
}

function maxStep(s: Int16Array, from = 1): number {
  let m = 0;
  for (let n = Math.max(1, from); n < s.length; n++) m = Math.max(m, Math.abs((s[n] as number) - (s[n - 1] as number)));
  return m;
}

/** Largest second difference: a click (a step in the waveform) shows here even when it is smaller than the voice's own steps. */
function maxCurvature(s: Int16Array, from = 2): number {
  let m = 0;
  for (let n = Math.max(2, from); n < s.length; n++)
    m = Math.max(m, Math.abs((s[n] as number) - 2 * (s[n - 1] as number) + (s[n - 2] as number)));
  return m;
}

/** SNR (dB) of the played signal against the original over the lost slots, output delay accounted for. */
function concealmentSnr(x: Int16Array, y: Int16Array, lostFrames: number): number {
  let signal = 0;
  let error = 0;
  for (let n = LOSS_AT * FRAME; n < (LOSS_AT + lostFrames) * FRAME; n++) {
    signal += (x[n] as number) ** 2;
    error += ((y[n + DELAY] as number) - (x[n] as number)) ** 2;
  }
  return 10 * Math.log10(signal / error);
}

describe('findPitch (G.711 Appendix I pitch estimate)', () => {
  test.each([40, 50, 64, 80, 97, 120])('harmonic signal with a period of %i samples → that period', (period) => {
    const x = voiced(8000 / period, 1000);
    expect(findPitch(Float64Array.from(x.subarray(500, 890)))).toBe(period);
  });

  test('history of the wrong length → TypeError', () => {
    expect(() => findPitch(new Float64Array(100))).toThrow(TypeError);
  });
});

describe('G711Plc (G.711 Appendix I concealment)', () => {
  const x = voiced(125, TOTAL_FRAMES * FRAME);

  test('no loss → the input, delayed by 3.75 ms (30 samples), sample for sample', () => {
    const y = play(x, 0);
    expect([...y.subarray(0, DELAY)]).toEqual(new Array(DELAY).fill(0));
    expect([...y.subarray(DELAY)]).toEqual([...x.subarray(0, x.length - DELAY)]);
  });

  test.each([
    [1, 125],
    [2, 125],
    [3, 125],
    [6, 125],
    [1, 137],
    [2, 137],
    [3, 137],
    [6, 137],
  ])(
    '%i lost frame(s) of a %i Hz voice → output continuous: no step or kink beyond what the voice itself makes',
    (lost, f0) => {
      const v = voiced(f0, TOTAL_FRAMES * FRAME);
      const y = play(v, lost);
      expect(maxStep(y, DELAY + 1)).toBeLessThanOrEqual(1.1 * maxStep(v));
      expect(maxCurvature(y, DELAY + 2)).toBeLessThanOrEqual(1.5 * maxCurvature(v));
    },
  );

  test.each([1, 2, 3, 6])(
    '%i lost frame(s) → every 10 ms concealed follows the Appendix I gain: 1, then −20 %% per 10 ms, silence from 60 ms',
    (lost) => {
      const y = play(x, lost);
      for (let unit = 0; unit < 2 * lost; unit++) {
        const start = LOSS_AT * FRAME + unit * 80;
        const played = rms(y, start + DELAY, 80);
        // The gain ramps from 1 − 0.2·(unit − 1) down by 0.0025 per sample during units 1–5.
        const g0 = unit === 0 ? 1 : 1 - 0.2 * (unit - 1);
        const gainRamp = Array.from({ length: 80 }, (_, i) => (unit === 0 ? 1 : Math.max(0, g0 - 0.0025 * i)));
        const expected =
          unit >= 6 ? 0 : rms(Array.from({ length: 80 }, (_, i) => (x[start + i] as number) * (gainRamp[i] as number)));
        if (unit >= 6) expect(played).toBe(0);
        else expect(Math.abs(played - expected)).toBeLessThan(0.05 * rms(x, start, 80));
      }
    },
  );

  test('a 120 ms loss → silent from 60 ms until the next good frame, which fades in over 10 ms', () => {
    const y = play(x, 6);
    const silentFrom = LOSS_AT * FRAME + 480 + DELAY;
    const goodAt = (LOSS_AT + 6) * FRAME + DELAY;
    expect(y.subarray(silentFrom, goodAt).every((v) => v === 0)).toBe(true);
    // Fade-in: the first good samples are scaled up from zero; after 80 samples the voice passes unchanged.
    const fadeIn = Array.from(
      { length: 80 },
      (_, i) => Math.abs(y[goodAt + i] as number) <= Math.abs(x[goodAt - DELAY + i] as number),
    );
    expect(fadeIn.every(Boolean)).toBe(true);
    expect([...y.subarray(goodAt + 80, goodAt + 400)]).toEqual([
      ...x.subarray(goodAt + 80 - DELAY, goodAt + 400 - DELAY),
    ]);
  });

  test('first good frame after a 20 ms loss → merged with the synthetic signal over ¼ period + 4 ms, then passed through', () => {
    const y = play(x, 1);
    const goodAt = (LOSS_AT + 1) * FRAME; // input index of the first good sample
    const overlap = (findPitch(Float64Array.from(x.subarray(LOSS_AT * FRAME - 390, LOSS_AT * FRAME))) >> 2) + 32;
    const merged = y.subarray(goodAt + DELAY, goodAt + DELAY + overlap);
    expect([...merged]).not.toEqual([...x.subarray(goodAt, goodAt + overlap)]);
    expect([...y.subarray(goodAt + DELAY + overlap, goodAt + DELAY + 640)]).toEqual([
      ...x.subarray(goodAt + overlap, goodAt + 640),
    ]);
  });

  test.each([
    [1, 15],
    [2, 6],
  ])('%i lost frame(s) of a periodic signal → concealment SNR at least %i dB above zero-fill', (lost, margin) => {
    const y = play(x, lost);
    const zeroFilled = Int16Array.from(x, (v, n) => (n >= LOSS_AT * FRAME && n < (LOSS_AT + lost) * FRAME ? 0 : v));
    const shifted = new Int16Array(x.length);
    shifted.set(zeroFilled.subarray(0, x.length - DELAY), DELAY);
    const concealed = concealmentSnr(x, y, lost);
    const zero = concealmentSnr(x, shifted, lost);
    expect(zero).toBeCloseTo(0, 6);
    expect(concealed - zero).toBeGreaterThanOrEqual(margin);
  });

  test('voice with a period that is not a whole number of samples (137 Hz) → one lost frame still concealed ≥ 10 dB', () => {
    const v = voiced(137, TOTAL_FRAMES * FRAME);
    expect(concealmentSnr(v, play(v, 1), 1)).toBeGreaterThanOrEqual(10);
  });

  test('losses longer than 60 ms → lost() keeps returning silence, and good frames restore the voice', () => {
    const plc = new G711Plc();
    for (let f = 0; f < LOSS_AT; f++) plc.good(x.subarray(f * FRAME, (f + 1) * FRAME));
    const concealed = Array.from({ length: 10 }, () => plc.lost());
    expect(plc.erasedUnits).toBe(20);
    expect(concealed.slice(4).every((frame) => frame.every((v) => v === 0))).toBe(true);
    plc.good(x.subarray(LOSS_AT * FRAME, (LOSS_AT + 1) * FRAME));
    expect(plc.erasedUnits).toBe(0);
    const back = plc.good(x.subarray((LOSS_AT + 1) * FRAME, (LOSS_AT + 2) * FRAME));
    expect([...back]).toEqual([...x.subarray((LOSS_AT + 1) * FRAME - DELAY, (LOSS_AT + 2) * FRAME - DELAY)]);
  });

  test('loss at the very start of a stream → silence, no exception', () => {
    const plc = new G711Plc();
    expect(plc.lost().every((v) => v === 0)).toBe(true);
  });

  test('frames that are not whole 10 ms → TypeError; 10 ms frames work', () => {
    const plc = new G711Plc();
    expect(() => plc.good(new Int16Array(100))).toThrow(TypeError);
    expect(() => plc.lost(120)).toThrow(TypeError);
    expect(plc.good(new Int16Array(80)).length).toBe(80);
    expect(plc.lost(80).length).toBe(80);
  });

  test("good() → the caller's frame is left untouched", () => {
    const frame = x.slice(0, FRAME);
    new G711Plc().good(frame);
    expect([...frame]).toEqual([...x.subarray(0, FRAME)]);
  });

  test('reset() → behaves as a fresh instance', () => {
    const plc = new G711Plc();
    plc.good(x.subarray(0, FRAME));
    plc.lost();
    plc.reset();
    const fresh = new G711Plc();
    const frame = x.subarray(FRAME, 2 * FRAME);
    expect([...plc.good(frame)]).toEqual([...fresh.good(frame)]);
  });
});
