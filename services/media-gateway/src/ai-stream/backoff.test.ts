import { backoffDelay, nextReconnectDelay, type ReconnectPolicy } from './backoff';

const policy: ReconnectPolicy = { maxDownMs: 10_000, initialDelayMs: 100, maxDelayMs: 1600 };

describe('backoffDelay', () => {
  test('ceiling doubles per attempt up to maxDelayMs; the delay lies in [ceiling/2, ceiling)', () => {
    const ceilings = [100, 200, 400, 800, 1600, 1600, 1600];
    ceilings.forEach((ceiling, i) => {
      expect(backoffDelay(i + 1, policy, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(i + 1, policy, () => 0.999999)).toBe(ceiling - 1);
    });
  });

  test('jitter spreads delays across the band', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const delays = Array.from({ length: 200 }, () => backoffDelay(3, policy, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...delays)).toBeLessThan(400);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  test('attempt must be a positive integer', () => {
    expect(() => backoffDelay(0, policy)).toThrow(TypeError);
  });
});

describe('nextReconnectDelay', () => {
  test('inside the window → the backoff delay', () => {
    expect(nextReconnectDelay(2, 1000, policy, () => 0)).toBe(100);
  });

  test('a backoff that would overshoot the window → half of what is left', () => {
    expect(nextReconnectDelay(5, 9_500, policy, () => 0.5)).toBe(250);
  });

  test('less than one initial delay left → null, even if the backoff would fit', () => {
    expect(nextReconnectDelay(5, 9_950, policy, () => 0.5)).toBeNull();
  });

  test('attempts that each fail at once still run out', () => {
    let down = 0;
    let attempts = 0;
    for (
      let delay = nextReconnectDelay(1, down, policy, () => 0.5);
      delay !== null;
      delay = nextReconnectDelay(++attempts + 1, down, policy, () => 0.5)
    ) {
      down += delay;
    }
    expect(attempts).toBeLessThan(20);
    expect(down).toBeLessThan(policy.maxDownMs);
    expect(down).toBeGreaterThan(policy.maxDownMs - policy.initialDelayMs);
  });

  test('window spent → null (give up)', () => {
    expect(nextReconnectDelay(9, 10_000, policy)).toBeNull();
    expect(nextReconnectDelay(9, 12_000, policy)).toBeNull();
  });
});
