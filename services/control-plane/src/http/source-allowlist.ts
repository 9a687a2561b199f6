import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * A socket's address as the allowlist and the rate limiter see it: an IPv4-mapped
 * IPv6 address (`::ffff:192.0.2.1`, what a dual-stack listener reports for IPv4
 * clients) becomes plain IPv4.
 */
export function normalizeAddress(raw: string | undefined): string {
  if (!raw) return 'unknown';
  if (!ipaddr.isValid(raw)) return raw;
  const parsed = ipaddr.parse(raw);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (parsed as ipaddr.IPv6).toIPv4Address().toString();
  }
  return parsed.toString();
}

/**
 * API_ALLOWED_CIDRS: the source networks allowed to call the API. Empty allows
 * everyone. A bare address counts as a single host (/32 or /128).
 */
export class SourceAllowlist {
  private readonly ranges: ReadonlyArray<[Address, number]>;

  /** Throws `TypeError` naming the entry that is not a CIDR or an address. */
  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.map((entry) => {
      const text = entry.trim();
      try {
        if (text.includes('/')) return normalizeRange(ipaddr.parseCIDR(text));
        const address = ipaddr.parse(text);
        return normalizeRange([address, address.kind() === 'ipv4' ? 32 : 128]);
      } catch {
        throw new TypeError(`API_ALLOWED_CIDRS: "${text}" is not a CIDR (e.g. 10.0.0.0/8) or an IP address`);
      }
    });
  }

  get restricted(): boolean {
    return this.ranges.length > 0;
  }

  allows(rawAddress: string | undefined): boolean {
    if (this.ranges.length === 0) return true;
    const normalized = normalizeAddress(rawAddress);
    if (!ipaddr.isValid(normalized)) return false;
    const address = ipaddr.parse(normalized);
    return this.ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  }
}

// "::ffff:10.0.0.0/104" in the list means 10.0.0.0/8: compare like with like.
function normalizeRange([address, bits]: [Address, number]): [Address, number] {
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [address, bits];
}
