import { AppError } from '../../../common/src/errors';
import { configurationWarnings, defaultPort, normaliseAllowedIps, rateText } from './service';

describe('normaliseAllowedIps', () => {
  test('addresses and CIDRs → network form, duplicates once', () => {
    expect(normaliseAllowedIps(['203.0.113.7', '10.9.8.7/8', '10.0.0.0/8', '2001:DB8::/32'])).toEqual([
      '203.0.113.7',
      '10.0.0.0/8',
      '2001:db8::/32',
    ]);
  });

  test('a bad entry → 400 ERR_VALIDATION naming allowed_ips[i]', () => {
    let error: unknown;
    try {
      normaliseAllowedIps(['203.0.113.7', 'sip.example.com']);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).toJSON().error).toMatchObject({
      code: 'ERR_VALIDATION',
      fields: [{ field: 'allowed_ips[1]', message: expect.stringMatching(/IPv4\/IPv6 address or CIDR/) }],
    });
  });
});

describe('configurationWarnings', () => {
  test('inbound trunk behind a host name without allowed_ips → warns that inbound calls are refused', () => {
    const warnings = configurationWarnings({
      supports_inbound: true,
      allowed_ips: null,
      proxy_address: 'sip.skyetel.com',
      status: 'active',
    });
    expect(warnings).toEqual([expect.stringMatching(/sip\.skyetel\.com is a host name.*allowed_ips/)]);
  });

  test('IP-literal proxy, explicit allowlist, or outbound only → no warning', () => {
    expect(
      configurationWarnings({
        supports_inbound: true,
        allowed_ips: null,
        proxy_address: '127.0.0.2',
        status: 'active',
      }),
    ).toEqual([]);
    expect(
      configurationWarnings({
        supports_inbound: true,
        allowed_ips: ['198.51.100.0/24'],
        proxy_address: 'sip.skyetel.com',
        status: 'active',
      }),
    ).toEqual([]);
    expect(
      configurationWarnings({
        supports_inbound: false,
        allowed_ips: null,
        proxy_address: 'sip.skyetel.com',
        status: 'active',
      }),
    ).toEqual([]);
  });
});

describe('defaultPort', () => {
  test('UDP and TCP → 5060, TLS → 5061 (RFC 3261 §19.1.2)', () => {
    expect([defaultPort('UDP'), defaultPort('TCP'), defaultPort('TLS')]).toEqual([5060, 5060, 5061]);
  });
});

describe('rateText (rate_per_minute as NUMERIC(12,6) takes it)', () => {
  test.each([
    [0, '0.000000'],
    [0.0125, '0.012500'],
    [0.1 + 0.2, '0.300000'],
    [999999.999999, '999999.999999'],
    [1.000001, '1.000001'],
  ])('%p → %p', (rate, text) => {
    expect(rateText(rate)).toBe(text);
  });

  test('a 7th decimal is refused, not rounded away', () => {
    expect(rateText(0.0000001)).toBeUndefined();
    expect(rateText(0.0125001)).toBeUndefined();
  });
});
