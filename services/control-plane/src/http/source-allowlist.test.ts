import { normalizeAddress, SourceAllowlist } from './source-allowlist';

describe('source allowlist', () => {
  test('empty list → everyone allowed', () => {
    const list = new SourceAllowlist([]);
    expect(list.restricted).toBe(false);
    expect(list.allows('203.0.113.9')).toBe(true);
  });

  test('10.0.0.0/8 → allows 10.1.2.3, refuses 11.0.0.1', () => {
    const list = new SourceAllowlist(['10.0.0.0/8']);
    expect(list.allows('10.1.2.3')).toBe(true);
    expect(list.allows('11.0.0.1')).toBe(false);
  });

  test('IPv4-mapped IPv6 client (::ffff:127.0.0.1) → matched against IPv4 ranges', () => {
    const list = new SourceAllowlist(['127.0.0.0/8']);
    expect(list.allows('::ffff:127.0.0.1')).toBe(true);
    expect(list.allows('::ffff:192.0.2.1')).toBe(false);
  });

  test('an IPv4-mapped range (::ffff:10.0.0.0/104) → the IPv4 range 10.0.0.0/8', () => {
    const list = new SourceAllowlist(['::ffff:10.0.0.0/104']);
    expect(list.allows('10.9.9.9')).toBe(true);
    expect(list.allows('::ffff:10.9.9.9')).toBe(true);
  });

  test('IPv6 range and a bare address → /128 host match', () => {
    const list = new SourceAllowlist(['2001:db8::/32', '::1']);
    expect(list.allows('2001:db8::42')).toBe(true);
    expect(list.allows('::1')).toBe(true);
    expect(list.allows('::2')).toBe(false);
    expect(list.allows('127.0.0.1')).toBe(false);
  });

  test('garbage in the list → TypeError naming the entry', () => {
    expect(() => new SourceAllowlist(['10.0.0.0/8', 'office'])).toThrow(/"office"/);
  });

  test('unknown or invalid client address → refused when restricted', () => {
    const list = new SourceAllowlist(['0.0.0.0/0']);
    expect(list.allows(undefined)).toBe(false);
    expect(list.allows('not-an-ip')).toBe(false);
  });

  test('normalizeAddress: ::ffff:192.0.2.1 → 192.0.2.1; IPv6 kept', () => {
    expect(normalizeAddress('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeAddress('2001:db8::1')).toBe('2001:db8::1');
  });
});
