import { SipParseError } from '../errors';
import { formatParams, getParam, readParams, type Params } from './params';

/**
 * A SIP or SIPS URI (RFC 3261 §19.1.1):
 * `sip:user:password@host:port;uri-parameters?headers`.
 */
export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  readonly user: string | null;
  readonly password: string | null;
  /** Host name, IPv4 address, or IPv6 reference with its brackets (`[::1]`). */
  readonly host: string;
  readonly port: number | null;
  readonly params: Params;
  /** Everything after `?`, as written, or null. */
  readonly headers: string | null;
}

export function parseUri(text: string): SipUri {
  const s = text.trim();
  const colon = s.indexOf(':');
  const scheme = s.slice(0, colon).toLowerCase();
  if (colon < 0 || (scheme !== 'sip' && scheme !== 'sips')) throw new SipParseError(`not a SIP URI: "${text}"`);
  if (/\s/.test(s)) throw new SipParseError(`whitespace in URI "${text}"`);
  let rest = s.slice(colon + 1);
  let user: string | null = null;
  let password: string | null = null;
  // userinfo ends at the only unescaped "@" a SIP URI may hold (§25.1: user and
  // password never contain a raw "@"), though the user part may contain ";" and "?".
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pw = userinfo.indexOf(':');
    user = pw >= 0 ? userinfo.slice(0, pw) : userinfo;
    password = pw >= 0 ? userinfo.slice(pw + 1) : null;
    rest = rest.slice(at + 1);
  }
  let i = 0;
  let host: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new SipParseError(`unterminated IPv6 reference in "${text}"`);
    host = rest.slice(0, close + 1);
    i = close + 1;
  } else {
    while (i < rest.length && !':;?'.includes(rest[i] as string)) i++;
    host = rest.slice(0, i);
  }
  if (!host || /[\s<>"]/.test(host)) throw new SipParseError(`bad host in "${text}"`);
  let port: number | null = null;
  if (rest[i] === ':') {
    const start = ++i;
    while (i < rest.length && /[0-9]/.test(rest[i] as string)) i++;
    port = Number(rest.slice(start, i));
    if (i === start || port > 65535) throw new SipParseError(`bad port in "${text}"`);
  }
  const { params, end } = readParams(rest, i, '?');
  i = end;
  let headers: string | null = null;
  if (rest[i] === '?') {
    headers = rest.slice(i + 1);
    i = rest.length;
  }
  if (i !== rest.length) throw new SipParseError(`unexpected "${rest.slice(i)}" in "${text}"`);
  return { scheme, user, password, host, port, params, headers };
}

export function formatUri(uri: SipUri): string {
  let s = `${uri.scheme}:`;
  if (uri.user !== null) s += uri.password !== null ? `${uri.user}:${uri.password}@` : `${uri.user}@`;
  s += uri.host;
  if (uri.port !== null) s += `:${uri.port}`;
  s += formatParams(uri.params);
  if (uri.headers !== null) s += `?${uri.headers}`;
  return s;
}

/** The URI's `transport` parameter in lower case, or null. */
export function uriTransport(uri: SipUri): string | null {
  const t = getParam(uri.params, 'transport');
  return typeof t === 'string' ? t.toLowerCase() : null;
}

/** Whether the URI carries the `lr` parameter (a loose router, §19.1.1). */
export function isLooseRouter(uri: SipUri): boolean {
  return getParam(uri.params, 'lr') !== undefined;
}

/** The host without IPv6 brackets, as sockets want it. */
export function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
