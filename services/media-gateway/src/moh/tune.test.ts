import { createHash } from 'node:crypto';
import { measureTone, rms } from '../../../common/src/audio/signals';
import { generateHoldTune, TUNE_RATE, TUNE_SAMPLES } from './tune';

const digest = (pcm: Int16Array): string =>
  createHash('sha256')
    .update(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength))
    .digest('hex');

describe('the generated hold tune', () => {
  const tune = generateHoldTune();

  test('is deterministic: the same samples every time', () => {
    expect(digest(generateHoldTune())).toBe(digest(tune));
  });

  test('lasts a whole number of 20 ms frames, about ten seconds', () => {
    expect(tune.length).toBe(TUNE_SAMPLES);
    expect(tune.length % 160).toBe(0);
    expect(tune.length / TUNE_RATE).toBeGreaterThan(8);
    expect(tune.length / TUNE_RATE).toBeLessThan(15);
  });

  test('loops without a click: the step from the last sample to the first is like any other step', () => {
    let maxStep = 0;
    for (let i = 1; i < tune.length; i++) maxStep = Math.max(maxStep, Math.abs(tune[i]! - tune[i - 1]!));
    const wrap = Math.abs(tune[0]! - tune[tune.length - 1]!);
    expect(wrap).toBeLessThanOrEqual(maxStep);
    // A 1 kHz sine at the tune's peak moves about 6000 per sample: no step comes near a full-scale jump.
    expect(maxStep).toBeLessThan(8000);
    // …and the first and last 20 ms are at the level of the rest: no fade to silence at the seam.
    expect(rms(tune, 0, 160)).toBeGreaterThan(300);
    expect(rms(tune, tune.length - 160, 160)).toBeGreaterThan(300);
  });

  test('is music, not a test tone: several notes, at a comfortable level, inside the telephone band', () => {
    let peak = 0;
    for (const s of tune) peak = Math.max(peak, Math.abs(s));
    expect(20 * Math.log10(peak / 32767)).toBeCloseTo(-12, 0);
    const level = 20 * Math.log10(rms(tune) / 32767);
    expect(level).toBeGreaterThan(-30);
    expect(level).toBeLessThan(-15);
    // The strongest melody pitch in each beat changes: a melody, not one tone.
    const beat = TUNE_SAMPLES / 16;
    const melody = [659.26, 783.99, 1046.5, 987.77, 880, 698.46, 587.33];
    const dominant = new Set<number>();
    for (let b = 0; b < 16; b++) {
      const window = Float64Array.from(tune.subarray(b * beat + 400, b * beat + 400 + 2400));
      let best = 0;
      let bestHz = 0;
      for (const hz of melody) {
        const { amplitude } = measureTone(window, TUNE_RATE, hz);
        if (amplitude > best) [best, bestHz] = [amplitude, hz];
      }
      dominant.add(bestHz);
    }
    expect(dominant.size).toBeGreaterThanOrEqual(5);
  });
});
