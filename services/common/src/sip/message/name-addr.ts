import { SipParseError } from '../errors';
import { formatParams, getParam, quote, readParams, unquote, type Params } from './params';

/**
 * The value of From, To, Contact, Route, Record-Route, Refer-To (RFC 3261 §20.10,
 * §25.1): `[display-name] <URI> *(;param)` or a bare addr-spec `URI *(;param)`.
 */
export interface NameAddr {
  /** The display name without quotes, or null. */
  readonly displayName: string | null;
  /** The URI as written (any scheme). */
  readonly uri: string;
  /** Header parameters (tag, expires, q, …), after the closing `>` or the bare URI. */
  readonly params: Params;
}

export function parseNameAddr(text: string): NameAddr {
  const s = text.trim();
  let i = 0;
  let displayName: string | null = null;
  if (s.startsWith('"')) {
    i = 1;
    while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
    if (i >= s.length) throw new SipParseError(`unterminated display name in "${text}"`);
    displayName = unquote(s.slice(0, i + 1));
    i++;
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (s[i] !== '<') throw new SipParseError(`expected "<" after display name in "${text}"`);
  }
  const open = s.indexOf('<', i);
  if (open >= 0) {
    if (displayName === null) {
      const name = s.slice(0, open).trim();
      displayName = name ? name : null;
    }
    const close = s.indexOf('>', open);
    if (close < 0) throw new SipParseError(`unterminated "<" in "${text}"`);
    const uri = s.slice(open + 1, close).trim();
    if (!uri) throw new SipParseError(`empty URI in "${text}"`);
    const { params, end } = readParams(s, close + 1);
    if (end !== s.length) throw new SipParseError(`unexpected "${s.slice(end)}" in "${text}"`);
    return { displayName, uri, params };
  }
  // §20.10: without angle brackets every ";" starts a header parameter, never a URI parameter.
  const semi = s.indexOf(';');
  const uri = (semi < 0 ? s : s.slice(0, semi)).trim();
  if (!uri || /\s/.test(uri) || !uri.includes(':')) throw new SipParseError(`bad addr-spec "${text}"`);
  const { params, end } = readParams(s, semi < 0 ? s.length : semi);
  if (end !== s.length) throw new SipParseError(`unexpected "${s.slice(end)}" in "${text}"`);
  return { displayName: null, uri, params };
}

/** Always writes the name-addr form (`<…>`), which is safe whatever the URI holds. */
export function formatNameAddr(addr: NameAddr): string {
  const name =
    addr.displayName === null
      ? ''
      : /^[\w.!%*+`'~-]+( [\w.!%*+`'~-]+)*$/.test(addr.displayName)
        ? `${addr.displayName} `
        : `${quote(addr.displayName)} `;
  return `${name}<${addr.uri}>${formatParams(addr.params)}`;
}

/** The `tag` parameter (§19.3), or null. */
export function tagOf(addr: NameAddr): string | null {
  const tag = getParam(addr.params, 'tag');
  return typeof tag === 'string' ? tag : null;
}
