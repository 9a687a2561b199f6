/**
 * Header fields of a SIP message: names, compact forms and comma-separated lists
 * (RFC 3261 §7.3).
 */

/** Compact forms: RFC 3261 §7.3.3 and §20, RFC 3515 (r), RFC 3892 (b), RFC 6665 (o, u), RFC 4028 (x). */
const COMPACT_FORMS: Readonly<Record<string, string>> = {
  i: 'Call-ID',
  m: 'Contact',
  e: 'Content-Encoding',
  l: 'Content-Length',
  c: 'Content-Type',
  f: 'From',
  s: 'Subject',
  k: 'Supported',
  t: 'To',
  v: 'Via',
  r: 'Refer-To',
  b: 'Referred-By',
  o: 'Event',
  u: 'Allow-Events',
  x: 'Session-Expires',
};

// Spellings we write for the headers we know; anything else keeps the sender's spelling.
const CANONICAL_NAMES = [
  'Accept',
  'Accept-Encoding',
  'Accept-Language',
  'Alert-Info',
  'Allow',
  'Allow-Events',
  'Authentication-Info',
  'Authorization',
  'Call-ID',
  'Call-Info',
  'Contact',
  'Content-Disposition',
  'Content-Encoding',
  'Content-Language',
  'Content-Length',
  'Content-Type',
  'CSeq',
  'Date',
  'Error-Info',
  'Event',
  'Expires',
  'From',
  'In-Reply-To',
  'Max-Forwards',
  'Min-Expires',
  'Min-SE',
  'MIME-Version',
  'Organization',
  'P-Asserted-Identity',
  'P-Preferred-Identity',
  'Path',
  'Priority',
  'Privacy',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'Proxy-Require',
  'Reason',
  'Record-Route',
  'Refer-To',
  'Referred-By',
  'Reply-To',
  'Require',
  'Retry-After',
  'Route',
  'RSeq',
  'RAck',
  'Server',
  'Service-Route',
  'Session-Expires',
  'Subject',
  'Subscription-State',
  'Supported',
  'Timestamp',
  'To',
  'Unsupported',
  'User-Agent',
  'Via',
  'Warning',
  'WWW-Authenticate',
];
const CANONICAL = new Map(CANONICAL_NAMES.map((n) => [n.toLowerCase(), n]));

/**
 * Headers whose whole value is a comma-separated list, so several values may share
 * one line (§7.3.1: "if and only if the entire field-value for that header field is
 * defined as a comma-separated list").
 */
const LIST_HEADERS = new Set(
  [
    'Via',
    'Route',
    'Record-Route',
    'Contact',
    'Allow',
    'Allow-Events',
    'Supported',
    'Require',
    'Proxy-Require',
    'Unsupported',
    'Accept',
    'Accept-Encoding',
    'Accept-Language',
    'Content-Encoding',
    'Content-Language',
    'Alert-Info',
    'Call-Info',
    'Error-Info',
    'In-Reply-To',
    'Warning',
    'Path',
    'Service-Route',
    'Reason',
    'P-Asserted-Identity',
    'P-Preferred-Identity',
    'Privacy',
  ].map((n) => n.toLowerCase()),
);

/** The name we store and write for a header name as received (compact forms expanded). */
export function canonicalHeaderName(name: string): string {
  const trimmed = name.trim();
  const lower = trimmed.toLowerCase();
  return COMPACT_FORMS[lower] ?? CANONICAL.get(lower) ?? trimmed;
}

/** Whether several values of this header may share a line, separated by commas. */
export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(canonicalHeaderName(name).toLowerCase());
}

/**
 * Splits a header value at commas that are outside quoted strings and angle
 * brackets (a Contact's URI or display name may hold a comma, §20.10, §25.1).
 */
export function splitHeaderList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '<') depth++;
    else if (ch === '>') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}

export interface HeaderField {
  /** Canonical name (see {@link canonicalHeaderName}). */
  readonly name: string;
  readonly value: string;
}

/**
 * The header fields of one message, in wire order. Each field is one line as
 * received; {@link getAll} splits list headers so `Via: a, b` and two `Via` lines
 * read the same. Names are case-insensitive (§7.3.1).
 */
export class SipHeaders {
  private list: HeaderField[];

  constructor(fields: Iterable<readonly [string, string]> = []) {
    this.list = [];
    for (const [name, value] of fields) this.append(name, value);
  }

  /** The first value: the first line, or the first element of a list header. */
  get(name: string): string | undefined {
    return this.getAll(name)[0];
  }

  /** Every value, in order, list headers split at their commas. */
  getAll(name: string): string[] {
    const key = canonicalHeaderName(name).toLowerCase();
    const split = LIST_HEADERS.has(key);
    const out: string[] = [];
    for (const f of this.list) {
      if (f.name.toLowerCase() !== key) continue;
      if (split) out.push(...splitHeaderList(f.value));
      else out.push(f.value);
    }
    return out;
  }

  has(name: string): boolean {
    const key = canonicalHeaderName(name).toLowerCase();
    return this.list.some((f) => f.name.toLowerCase() === key);
  }

  /** Replaces every line of this header with one line per value, where the first one was. */
  set(name: string, value: string | readonly string[]): this {
    const canonical = canonicalHeaderName(name);
    const key = canonical.toLowerCase();
    const values = typeof value === 'string' ? [value] : value;
    const at = this.list.findIndex((f) => f.name.toLowerCase() === key);
    this.list = this.list.filter((f) => f.name.toLowerCase() !== key);
    const fields = values.map((v) => ({ name: canonical, value: v }));
    this.list.splice(at < 0 ? this.list.length : at, 0, ...fields);
    return this;
  }

  append(name: string, value: string): this {
    this.list.push({ name: canonicalHeaderName(name), value });
    return this;
  }

  /** Adds a line before any line of the same header (or at the end if there is none). */
  prepend(name: string, value: string): this {
    const canonical = canonicalHeaderName(name);
    const key = canonical.toLowerCase();
    const at = this.list.findIndex((f) => f.name.toLowerCase() === key);
    this.list.splice(at < 0 ? this.list.length : at, 0, { name: canonical, value });
    return this;
  }

  delete(name: string): this {
    const key = canonicalHeaderName(name).toLowerCase();
    this.list = this.list.filter((f) => f.name.toLowerCase() !== key);
    return this;
  }

  /** The fields as lines, in wire order. */
  fields(): readonly HeaderField[] {
    return this.list;
  }

  clone(): SipHeaders {
    const copy = new SipHeaders();
    copy.list = this.list.slice();
    return copy;
  }

  /** Lower-case name → values ({@link getAll}), for applications reading custom headers. */
  toMap(): Map<string, string[]> {
    const map = new Map<string, string[]>();
    for (const f of this.list) {
      const key = f.name.toLowerCase();
      if (!map.has(key)) map.set(key, this.getAll(f.name));
    }
    return map;
  }
}
