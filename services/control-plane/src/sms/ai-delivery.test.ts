import { parseRetryAfter } from './ai-delivery';

describe('delivery', () => {
  test('Retry-After: seconds or an HTTP date', () => {
    expect(parseRetryAfter('30')).toBe(30_000);
    expect(parseRetryAfter('Wed, 26 Nov 2025 10:00:10 GMT', Date.UTC(2025, 10, 26, 10, 0, 0))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
