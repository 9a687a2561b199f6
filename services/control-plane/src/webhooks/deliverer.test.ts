import { classifyStatus, retryDelayMs, WEBHOOK_RETRY_MAX_MS } from './deliverer';

describe('webhook answers', () => {
  test.each([
    [200, 'delivered'],
    [201, 'delivered'],
    [204, 'delivered'],
    [299, 'delivered'],
    [301, 'failed'],
    [302, 'failed'],
    [400, 'failed'],
    [401, 'failed'],
    [404, 'failed'],
    [410, 'failed'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [599, 'retry'],
  ] as const)('HTTP %i → %s', (status, verdict) => {
    expect(classifyStatus(status)).toBe(verdict);
  });
});

describe('webhook retry delays', () => {
  test('attempt n waits between half and all of base·2^(n-1)', () => {
    for (let attempt = 1; attempt <= 8; attempt++) {
      const ceiling = 1000 * 2 ** (attempt - 1);
      expect(retryDelayMs(attempt, 1000, undefined, () => 0)).toBe(ceiling / 2);
      expect(retryDelayMs(attempt, 1000, undefined, () => 1)).toBe(ceiling);
      const jittered = retryDelayMs(attempt, 1000);
      expect(jittered).toBeGreaterThanOrEqual(ceiling / 2);
      expect(jittered).toBeLessThanOrEqual(ceiling);
    }
  });

  test('jitter spreads the retries of many events that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(4, 5000)));
    expect(delays.size).toBeGreaterThan(25);
  });

  test('capped at one hour, however many attempts', () => {
    expect(retryDelayMs(40, 5000, undefined, () => 1)).toBe(WEBHOOK_RETRY_MAX_MS);
    expect(retryDelayMs(40, 5000, undefined, () => 0)).toBe(WEBHOOK_RETRY_MAX_MS / 2);
  });

  test('a longer Retry-After wins, up to the same hour; a shorter one does not shorten the backoff', () => {
    expect(retryDelayMs(1, 1000, 30_000, () => 1)).toBe(30_000);
    expect(retryDelayMs(3, 1000, 10, () => 1)).toBe(4000);
    expect(retryDelayMs(1, 1000, 86_400_000)).toBe(WEBHOOK_RETRY_MAX_MS);
  });
});
