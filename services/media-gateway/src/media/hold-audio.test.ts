import { HoldAudio } from './hold-audio';

describe('HoldAudio', () => {
  test('frames of 160 samples, audible but quiet, without clicks between frames', () => {
    const hold = new HoldAudio();
    let peak = 0;
    let maxStep = 0;
    let previous = 0;
    let energy = 0;
    for (let f = 0; f < 150; f++) {
      const frame = hold.next();
      expect(frame.length).toBe(160);
      for (const s of frame) {
        peak = Math.max(peak, Math.abs(s));
        maxStep = Math.max(maxStep, Math.abs(s - previous));
        energy += s * s;
        previous = s;
      }
    }
    expect(peak).toBeGreaterThan(1000);
    expect(peak).toBeLessThan(2200);
    // A 784 Hz sine at this level moves at most ~1260 per sample at 8 kHz.
    expect(maxStep).toBeLessThan(1300);
    expect(energy / (150 * 160)).toBeGreaterThan(1e5);
  });
});
