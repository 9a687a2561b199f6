import { beeps, chime, keyBeeps, silence, tone } from './tones';

/** Number of separate bursts of sound (runs of 1 ms blocks above a threshold). */
function bursts(x: Int16Array): number {
  let count = 0;
  let loud = false;
  for (let i = 0; i + 16 <= x.length; i += 16) {
    let peak = 0;
    for (let j = i; j < i + 16; j++) peak = Math.max(peak, Math.abs(x[j] as number));
    const now = peak > 1000;
    if (now && !loud) count++;
    loud = now;
  }
  return count;
}

describe('tones', () => {
  test('a tone has the length asked for, its frequency (zero crossings), and fades in and out', () => {
    const t = tone([500], 100);
    expect(t.length).toBe(1600);
    let crossings = 0;
    for (let i = 1; i < t.length; i++)
      if (Math.sign(t[i - 1] as number) !== Math.sign(t[i] as number) && t[i] !== 0) crossings++;
    expect(crossings).toBeGreaterThanOrEqual(98);
    expect(crossings).toBeLessThanOrEqual(101);
    expect(Math.abs(t[0] as number)).toBe(0);
    expect(Math.abs(t[t.length - 1] as number)).toBeLessThan(100);
  });

  test('silence is zeros of the asked length', () => {
    expect(silence(20)).toEqual(new Int16Array(320));
  });

  test.each([
    ['1', 1],
    ['5', 5],
    ['0', 10],
    ['A', 11],
    ['D', 14],
    ['*', 1],
    ['#', 2],
  ])('key %s → %i beeps', (digit, n) => {
    expect(bursts(keyBeeps(digit))).toBe(n);
  });

  test('beeps and the chime are separate bursts', () => {
    expect(bursts(beeps(3, 880, 100, 100))).toBe(3);
    expect(bursts(chime())).toBe(3);
  });
});
