import { BlockList, isIP } from 'node:net';
import { AppError } from '../errors';

/**
 * Where a webhook may go. A webhook URL comes from an API client, so without a check it
 * makes the bridge send requests into its own network (SSRF): the cloud metadata
 * service at 169.254.169.254, PostgreSQL's neighbours, Kamailio's JSON-RPC. Unless
 * WEBHOOK_ALLOW_PRIVATE_ADDRESSES is true, deliveries go only to public unicast
 * addresses, checked on the address the connection is made to (after DNS resolution,
 * so a public name pointing at 10.0.0.1 or a rebinding DNS server gains nothing).
 */

/** Longest webhook URL (calls.webhook_url and webhook_outbox.url are VARCHAR(2048)). */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

// Special-purpose ranges (RFC 6890 and the IANA registries): none of them is a place a
// webhook on the Internet can live.
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network" (0.0.0.0 reaches the local host)
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // RFC 6598 carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255
] as const)
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64: may embed any IPv4 address
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, ...)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const)
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** Whether an IP address is public unicast (IPv4-mapped IPv6 counts as its IPv4 address). */
export function isPublicAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  const ip = mapped ? (mapped[1] as string) : bare;
  const family = isIP(ip);
  if (family === 0) return false;
  return !NOT_PUBLIC.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Why a webhook URL cannot be used, or null when it can: an absolute http(s) URL of at
 * most 2048 characters, without user name or password (they would be sent in clear in
 * logs and proxies), and, unless private addresses are allowed, not naming a
 * non-public IP address literally (names are checked again at delivery, after DNS).
 * For request validation (a 400 before anything is stored) and for the deliverer.
 */
export function webhookUrlProblem(url: string, options: { readonly allowPrivate: boolean }): string | null {
  return urlProblem(url, { ...options, maxLength: MAX_WEBHOOK_URL_LENGTH, schemes: ['http', 'https'] });
}

/**
 * Why a URL the product will open itself (a webhook, an AI agent's WebSocket) cannot be
 * used, or null: absolute, of one of `schemes`, at most `maxLength` characters, without
 * user name or password, and, unless private addresses are allowed, not naming a
 * non-public IP address literally nor `localhost` (server-side request forgery).
 */
export function urlProblem(
  url: string,
  options: { readonly allowPrivate: boolean; readonly maxLength: number; readonly schemes: readonly string[] },
): string | null {
  if (url.length > options.maxLength) return `longer than ${options.maxLength} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not an absolute URL';
  }
  if (!options.schemes.includes(parsed.protocol.slice(0, -1)))
    return `not ${options.schemes.map((x) => `${x}://`).join(' or ')}`;
  if (parsed.username !== '' || parsed.password !== '') return 'contains a user name or password';
  if (parsed.hostname === '') return 'has no host';
  if (!options.allowPrivate) {
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0 && !isPublicAddress(host)) return `names a non-public address (${host})`;
    if (host === 'localhost' || host.endsWith('.localhost')) return 'names localhost';
  }
  return null;
}

/**
 * For routes that take a `webhook_url`: throws `400 ERR_WEBHOOK_URL_INVALID` (with
 * `field` and `reason`) when {@link webhookUrlProblem} finds one, before anything is stored.
 */
export function assertWebhookUrl(url: string, options: { readonly allowPrivate: boolean }): void {
  const problem = webhookUrlProblem(url, options);
  if (problem !== null)
    throw new AppError('ERR_WEBHOOK_URL_INVALID', `webhook_url ${problem}`, { field: 'webhook_url', reason: problem });
}

/** Scheme, host and port of a URL, for logs (paths and query strings may carry tokens). */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid';
  }
}
