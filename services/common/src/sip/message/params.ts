import { SipParseError } from '../errors';

/** One `;name[=value]` parameter; a quoted value keeps its quotes so it writes back unchanged. */
export type Param = readonly [name: string, value: string | null];
export type Params = readonly Param[];

const WS = /[ \t]/;

/**
 * Reads `*( SEMI generic-param )` (RFC 3261 §25.1: `generic-param = token [ EQUAL
 * gen-value ]`, `gen-value = token / host / quoted-string`), tolerating the LWS the
 * grammar allows around `;` and `=`. Stops at `stop` characters outside quotes.
 * Returns the params and the index where reading stopped.
 */
export function readParams(text: string, from = 0, stop = ''): { params: Param[]; end: number } {
  const params: Param[] = [];
  let i = from;
  const skipWs = (): void => {
    while (i < text.length && WS.test(text[i] as string)) i++;
  };
  for (;;) {
    skipWs();
    if (i >= text.length || text[i] !== ';') break;
    i++;
    skipWs();
    let start = i;
    while (i < text.length && !/[=;, \t]/.test(text[i] as string) && !stop.includes(text[i] as string)) i++;
    const name = text.slice(start, i);
    if (!name) throw new SipParseError(`empty parameter name in "${text}"`);
    skipWs();
    if (text[i] !== '=') {
      params.push([name, null]);
      continue;
    }
    i++;
    skipWs();
    start = i;
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      if (i >= text.length) throw new SipParseError(`unterminated quoted parameter in "${text}"`);
      i++;
    } else {
      while (i < text.length && !/[;, \t]/.test(text[i] as string) && !stop.includes(text[i] as string)) i++;
    }
    params.push([name, text.slice(start, i)]);
  }
  return { params, end: i };
}

export function formatParams(params: Params): string {
  return params.map(([n, v]) => (v === null ? `;${n}` : `;${n}=${v}`)).join('');
}

/**
 * The value of a parameter (names are case-insensitive, §7.3.1); `null` for a
 * parameter without a value, `undefined` when absent. Quotes are removed.
 */
export function getParam(params: Params, name: string): string | null | undefined {
  const key = name.toLowerCase();
  const found = params.find(([n]) => n.toLowerCase() === key);
  if (!found) return undefined;
  const value = found[1];
  if (value === null) return null;
  return value.startsWith('"') ? unquote(value) : value;
}

/** A copy with the parameter set (replacing any of the same name, keeping its position). */
export function setParam(params: Params, name: string, value: string | null): Param[] {
  const key = name.toLowerCase();
  const at = params.findIndex(([n]) => n.toLowerCase() === key);
  const copy = params.slice();
  if (at < 0) copy.push([name, value]);
  else copy[at] = [name, value];
  return copy;
}

/** quoted-string → its text (§25.1: `quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)`). */
export function unquote(quoted: string): string {
  const inner = quoted.startsWith('"') && quoted.endsWith('"') && quoted.length >= 2 ? quoted.slice(1, -1) : quoted;
  return inner.replace(/\\(.)/g, '$1');
}

export function quote(text: string): string {
  return `"${text.replace(/(["\\])/g, '\\$1')}"`;
}
