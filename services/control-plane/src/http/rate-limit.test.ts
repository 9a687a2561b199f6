import { sourceKey, WindowCounter } from './rate-limit';

describe('WindowCounter', () => {
  test('limit 3 → the fourth hit of a key in a window is refused, with the seconds left; a new window starts over', () => {
    let now = 1_000_000;
    const counter = new WindowCounter(3, 60_000, 100, () => now);
    expect([1, 2, 3, 4].map(() => counter.hit('a').allowed)).toEqual([true, true, true, false]);
    now += 45_000;
    expect(counter.hit('a')).toEqual({ allowed: false, count: 5, retryAfterSeconds: 15, shared: false });
    expect(counter.hit('b').allowed).toBe(true);
    now += 15_000;
    expect(counter.hit('a')).toMatchObject({ allowed: true, count: 1 });
    expect(counter.size).toBe(1);
  });

  test('a million distinct keys → at most maxKeys held; the rest share one allowance', () => {
    const counter = new WindowCounter(5, 60_000, 1000, () => 0);
    const refused = Array.from({ length: 1_000_000 }, (_, i) => counter.hit(`k${i}`)).filter((h) => !h.allowed);
    expect(counter.size).toBe(1000);
    expect(refused).toHaveLength(1_000_000 - 1000 - 5);
    expect(refused[0]).toMatchObject({ shared: true, count: 6 });
    // Keys counted before the table filled keep their own count.
    expect(counter.hit('k0')).toMatchObject({ allowed: true, count: 2, shared: false });
  });
});

describe('sourceKey', () => {
  test('IPv4 and IPv4-mapped IPv6 → the address; IPv6 → its /64', () => {
    expect(sourceKey('192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:2:bbbb::9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey(undefined)).toBe('unknown');
  });
});
