import { CodedError } from '../../../common/src/errors';

/**
 * SDP (RFC 4566, whose grammar RFC 8866 keeps) parse and serialise: the one model of
 * a session description, used by the gateway's offer/answer (RFC 3264) and by the
 * RTPProxy client's rewriter. A session description is lines `<type>=<value>` in a
 * fixed order (§5):
 *
 *    session:  v o s [i] [u] [e*] [p*] [c] [b*] (t [r*])+ [z] [k] [a*]
 *    media:    m [i] [c*] [b*] [k] [a*]           (repeated per m= line)
 *
 * Every field is kept, attributes in order and as written, so a description
 * round-trips byte for byte when it was in RFC order with CRLF line ends.
 *
 * Deviation, written down: §5 says a parser must ignore a whole description
 * that uses a type letter it does not know. Peers in the wild do send stray
 * lines; here they are kept (serialised at the end of their section) instead of
 * failing the call.
 */

export const SDP_ERRORS = {
  ERR_SDP_SYNTAX: 'a line is not <type>=<value>',
  ERR_SDP_FIELD: 'a line does not have the fields its type needs',
  ERR_SDP_MISSING: 'a required line is missing',
  ERR_SDP_PORT: 'an m= line names no port (0-65535)',
} as const;

export type SdpErrorCode = keyof typeof SDP_ERRORS;

export class SdpError extends CodedError<SdpErrorCode> {
  /** 1-based line of the offending text, when there is one. */
  readonly line: number | undefined;

  constructor(code: SdpErrorCode, message: string, line?: number) {
    super(code, line === undefined ? message : `line ${line}: ${message}`);
    this.line = line;
  }
}

/** o= (§5.2). Session id and version stay strings: they may exceed 2^53. */
export interface SdpOrigin {
  readonly username: string;
  readonly sessionId: string;
  readonly sessionVersion: string;
  readonly netType: string;
  readonly addrType: string;
  readonly address: string;
}

/** c= (§5.7). `suffix` keeps a multicast `/ttl[/count]` as written. */
export interface SdpConnection {
  readonly netType: string;
  readonly addrType: string;
  readonly address: string;
  readonly suffix?: string;
}

/** b= (§5.8). */
export interface SdpBandwidth {
  readonly type: string;
  readonly value: string;
}

/** t= and its r= lines (§5.9, §5.10). */
export interface SdpTiming {
  readonly start: string;
  readonly stop: string;
  readonly repeats: readonly string[];
}

/** a= (§5.13): `a=<name>` (property) or `a=<name>:<value>`. */
export interface SdpAttribute {
  readonly name: string;
  readonly value?: string;
}

/** A line of a type RFC 4566 does not define, kept as written. */
export interface SdpLine {
  readonly type: string;
  readonly value: string;
}

/** One m= section (§5.14). */
export interface SdpMedia {
  readonly type: string;
  readonly port: number;
  /** The `/<number of ports>` of the m= line, if given. */
  readonly portCount?: number;
  readonly protocol: string;
  readonly formats: readonly string[];
  readonly title?: string;
  readonly connections: readonly SdpConnection[];
  readonly bandwidths: readonly SdpBandwidth[];
  readonly key?: string;
  readonly attributes: readonly SdpAttribute[];
  readonly otherLines: readonly SdpLine[];
}

export interface SessionDescription {
  readonly version: number;
  readonly origin: SdpOrigin;
  readonly sessionName?: string;
  readonly information?: string;
  readonly uri?: string;
  readonly emails: readonly string[];
  readonly phones: readonly string[];
  readonly connection?: SdpConnection;
  readonly bandwidths: readonly SdpBandwidth[];
  readonly timings: readonly SdpTiming[];
  readonly timeZones?: string;
  readonly key?: string;
  readonly attributes: readonly SdpAttribute[];
  readonly otherLines: readonly SdpLine[];
  readonly media: readonly SdpMedia[];
}

interface MutableMedia {
  type: string;
  port: number;
  portCount?: number;
  protocol: string;
  formats: string[];
  title?: string;
  connections: SdpConnection[];
  bandwidths: SdpBandwidth[];
  key?: string;
  attributes: SdpAttribute[];
  otherLines: SdpLine[];
}

const LINE = /^([a-z])=(.*)$/;

/**
 * Parses a session description. Accepts LF as well as CRLF line ends (§5 asks
 * parsers to) and skips blank lines. Throws {@link SdpError} with the line number.
 */
export function parseSdp(text: string): SessionDescription {
  const lines = text.split(/\r?\n/);
  let version: number | undefined;
  let origin: SdpOrigin | undefined;
  let sessionName: string | undefined;
  let information: string | undefined;
  let uri: string | undefined;
  const emails: string[] = [];
  const phones: string[] = [];
  let connection: SdpConnection | undefined;
  const bandwidths: SdpBandwidth[] = [];
  const timings: Array<{ start: string; stop: string; repeats: string[] }> = [];
  let timeZones: string | undefined;
  let key: string | undefined;
  const attributes: SdpAttribute[] = [];
  const otherLines: SdpLine[] = [];
  const media: MutableMedia[] = [];

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    if (raw === '') continue;
    const m = LINE.exec(raw);
    if (!m)
      throw new SdpError('ERR_SDP_SYNTAX', `expected <type>=<value>, got ${JSON.stringify(raw.slice(0, 80))}`, lineNo);
    const type = m[1]!;
    const value = m[2]!;
    if (version === undefined && type !== 'v')
      throw new SdpError('ERR_SDP_MISSING', 'a session description starts with v=', lineNo);

    const current = media[media.length - 1];
    if (current) {
      switch (type) {
        case 'm':
          media.push(mediaSection(value, lineNo));
          break;
        case 'i':
          current.title = value;
          break;
        case 'c':
          current.connections.push(parseConnection(value, lineNo));
          break;
        case 'b':
          current.bandwidths.push(parseBandwidth(value, lineNo));
          break;
        case 'k':
          current.key = value;
          break;
        case 'a':
          current.attributes.push(parseAttribute(value));
          break;
        default:
          current.otherLines.push({ type, value });
      }
      continue;
    }

    switch (type) {
      case 'v':
        if (version !== undefined) throw new SdpError('ERR_SDP_FIELD', 'a second v= line', lineNo);
        if (!/^\d+$/.test(value)) throw new SdpError('ERR_SDP_FIELD', `v=${value} is not a version number`, lineNo);
        version = Number(value);
        break;
      case 'o':
        origin = parseOrigin(value, lineNo);
        break;
      case 's':
        sessionName = value;
        break;
      case 'i':
        information = value;
        break;
      case 'u':
        uri = value;
        break;
      case 'e':
        emails.push(value);
        break;
      case 'p':
        phones.push(value);
        break;
      case 'c':
        connection = parseConnection(value, lineNo);
        break;
      case 'b':
        bandwidths.push(parseBandwidth(value, lineNo));
        break;
      case 't': {
        const [start, stop, ...rest] = value.split(' ');
        if (start === undefined || stop === undefined || rest.length > 0)
          throw new SdpError('ERR_SDP_FIELD', `t=${value} needs <start> <stop>`, lineNo);
        timings.push({ start, stop, repeats: [] });
        break;
      }
      case 'r': {
        const timing = timings[timings.length - 1];
        if (!timing) throw new SdpError('ERR_SDP_FIELD', 'r= before any t=', lineNo);
        timing.repeats.push(value);
        break;
      }
      case 'z':
        timeZones = value;
        break;
      case 'k':
        key = value;
        break;
      case 'a':
        attributes.push(parseAttribute(value));
        break;
      case 'm':
        media.push(mediaSection(value, lineNo));
        break;
      default:
        otherLines.push({ type, value });
    }
  }

  if (version === undefined) throw new SdpError('ERR_SDP_MISSING', 'no v= line');
  if (!origin) throw new SdpError('ERR_SDP_MISSING', 'no o= line');
  return {
    version,
    origin,
    ...(sessionName !== undefined ? { sessionName } : {}),
    ...(information !== undefined ? { information } : {}),
    ...(uri !== undefined ? { uri } : {}),
    emails,
    phones,
    ...(connection ? { connection } : {}),
    bandwidths,
    timings,
    ...(timeZones !== undefined ? { timeZones } : {}),
    ...(key !== undefined ? { key } : {}),
    attributes,
    otherLines,
    media,
  };
}

/** Serialises in RFC 4566 §5 order with CRLF line ends (and a final CRLF). */
export function serializeSdp(sdp: SessionDescription): string {
  const out: string[] = [];
  const o = sdp.origin;
  out.push(`v=${sdp.version}`);
  out.push(`o=${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}`);
  if (sdp.sessionName !== undefined) out.push(`s=${sdp.sessionName}`);
  if (sdp.information !== undefined) out.push(`i=${sdp.information}`);
  if (sdp.uri !== undefined) out.push(`u=${sdp.uri}`);
  for (const e of sdp.emails) out.push(`e=${e}`);
  for (const p of sdp.phones) out.push(`p=${p}`);
  if (sdp.connection) out.push(connectionLine(sdp.connection));
  for (const b of sdp.bandwidths) out.push(`b=${b.type}:${b.value}`);
  for (const t of sdp.timings) {
    out.push(`t=${t.start} ${t.stop}`);
    for (const r of t.repeats) out.push(`r=${r}`);
  }
  if (sdp.timeZones !== undefined) out.push(`z=${sdp.timeZones}`);
  if (sdp.key !== undefined) out.push(`k=${sdp.key}`);
  for (const a of sdp.attributes) out.push(attributeLine(a));
  for (const l of sdp.otherLines) out.push(`${l.type}=${l.value}`);
  for (const m of sdp.media) {
    const port = m.portCount === undefined ? `${m.port}` : `${m.port}/${m.portCount}`;
    out.push(`m=${[m.type, port, m.protocol, ...m.formats].join(' ')}`);
    if (m.title !== undefined) out.push(`i=${m.title}`);
    for (const c of m.connections) out.push(connectionLine(c));
    for (const b of m.bandwidths) out.push(`b=${b.type}:${b.value}`);
    if (m.key !== undefined) out.push(`k=${m.key}`);
    for (const a of m.attributes) out.push(attributeLine(a));
    for (const l of m.otherLines) out.push(`${l.type}=${l.value}`);
  }
  return out.join('\r\n') + '\r\n';
}

function parseOrigin(value: string, lineNo: number): SdpOrigin {
  const f = value.split(' ');
  if (f.length !== 6 || f.some((x) => x === ''))
    throw new SdpError('ERR_SDP_FIELD', `o=${value} needs 6 fields`, lineNo);
  return { username: f[0]!, sessionId: f[1]!, sessionVersion: f[2]!, netType: f[3]!, addrType: f[4]!, address: f[5]! };
}

/** The value of a c= line (§5.7). */
export function parseConnection(value: string, lineNo?: number): SdpConnection {
  const f = value.split(' ');
  if (f.length !== 3 || f.some((x) => x === ''))
    throw new SdpError('ERR_SDP_FIELD', `c=${value} needs <nettype> <addrtype> <address>`, lineNo);
  const slash = f[2]!.indexOf('/');
  if (slash < 0) return { netType: f[0]!, addrType: f[1]!, address: f[2]! };
  return { netType: f[0]!, addrType: f[1]!, address: f[2]!.slice(0, slash), suffix: f[2]!.slice(slash) };
}

function parseBandwidth(value: string, lineNo: number): SdpBandwidth {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new SdpError('ERR_SDP_FIELD', `b=${value} needs <bwtype>:<bandwidth>`, lineNo);
  return { type: value.slice(0, colon), value: value.slice(colon + 1) };
}

/** The value of an a= line (§5.13). */
export function parseAttribute(value: string): SdpAttribute {
  const colon = value.indexOf(':');
  return colon < 0 ? { name: value } : { name: value.slice(0, colon), value: value.slice(colon + 1) };
}

/** The fields of an m= line (§5.14). */
export type SdpMediaLine = Pick<SdpMedia, 'type' | 'port' | 'portCount' | 'protocol' | 'formats'>;

/** The value of an m= line: `<media> <port>[/<number of ports>] <proto> <fmt> ...` (§5.14). */
export function parseMediaLine(value: string, lineNo?: number): SdpMediaLine {
  const f = value.split(' ');
  if (f.length < 3 || f.slice(0, 3).some((x) => x === ''))
    throw new SdpError('ERR_SDP_FIELD', `m=${value} needs <media> <port> <proto> <fmt>…`, lineNo);
  const portMatch = /^(\d+)(?:\/(\d+))?$/.exec(f[1]!);
  if (!portMatch || Number(portMatch[1]) > 65535)
    throw new SdpError('ERR_SDP_PORT', `m= port ${JSON.stringify(f[1])} is not a port`, lineNo);
  return {
    type: f[0]!,
    port: Number(portMatch[1]),
    ...(portMatch[2] !== undefined ? { portCount: Number(portMatch[2]) } : {}),
    protocol: f[2]!,
    formats: f.slice(3).filter((x) => x !== ''),
  };
}

function mediaSection(value: string, lineNo: number): MutableMedia {
  const line = parseMediaLine(value, lineNo);
  return { ...line, formats: [...line.formats], connections: [], bandwidths: [], attributes: [], otherLines: [] };
}

function connectionLine(c: SdpConnection): string {
  return `c=${c.netType} ${c.addrType} ${c.address}${c.suffix ?? ''}`;
}

function attributeLine(a: SdpAttribute): string {
  return a.value === undefined ? `a=${a.name}` : `a=${a.name}:${a.value}`;
}

/** The value of the first `a=<name>` of a list, '' for a property attribute, undefined when absent. */
export function attributeValue(attributes: readonly SdpAttribute[], name: string): string | undefined {
  const a = attributes.find((x) => x.name === name);
  return a === undefined ? undefined : (a.value ?? '');
}

/** RFC 3264 §5.1 / RFC 4566 §6 direction attributes. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/** A stream's direction: its own attribute, else the session's, else sendrecv (RFC 4566 §6). */
export function directionOf(media: SdpMedia, session: SessionDescription): MediaDirection {
  for (const list of [media.attributes, session.attributes]) {
    const found = list.find((a) => a.value === undefined && (DIRECTIONS as readonly string[]).includes(a.name));
    if (found) return found.name as MediaDirection;
  }
  return 'sendrecv';
}

/** A stream's connection: its own c=, else the session's (RFC 4566 §5.7). */
export function connectionOf(media: SdpMedia, session: SessionDescription): SdpConnection | undefined {
  return media.connections[0] ?? session.connection;
}

/** An a=rtpmap (RFC 4566 §6), or the RFC 3551 §6 static assignment. */
export interface RtpMap {
  readonly payloadType: number;
  readonly encoding: string;
  readonly clockRate: number;
  readonly channels?: number;
}

/** RFC 3551 §6, table 4: static audio payload types. */
export const STATIC_AUDIO_PAYLOAD_TYPES: Readonly<Record<number, Omit<RtpMap, 'payloadType'>>> = {
  0: { encoding: 'PCMU', clockRate: 8000, channels: 1 },
  3: { encoding: 'GSM', clockRate: 8000, channels: 1 },
  4: { encoding: 'G723', clockRate: 8000, channels: 1 },
  5: { encoding: 'DVI4', clockRate: 8000, channels: 1 },
  6: { encoding: 'DVI4', clockRate: 16000, channels: 1 },
  7: { encoding: 'LPC', clockRate: 8000, channels: 1 },
  8: { encoding: 'PCMA', clockRate: 8000, channels: 1 },
  9: { encoding: 'G722', clockRate: 8000, channels: 1 },
  10: { encoding: 'L16', clockRate: 44100, channels: 2 },
  11: { encoding: 'L16', clockRate: 44100, channels: 1 },
  12: { encoding: 'QCELP', clockRate: 8000, channels: 1 },
  13: { encoding: 'CN', clockRate: 8000, channels: 1 },
  14: { encoding: 'MPA', clockRate: 90000 },
  15: { encoding: 'G728', clockRate: 8000, channels: 1 },
  16: { encoding: 'DVI4', clockRate: 11025, channels: 1 },
  17: { encoding: 'DVI4', clockRate: 22050, channels: 1 },
  18: { encoding: 'G729', clockRate: 8000, channels: 1 },
};

/** RFC 3551 §6, table 5: static video (and MP2T) payload types. */
export const STATIC_VIDEO_PAYLOAD_TYPES: Readonly<Record<number, Omit<RtpMap, 'payloadType'>>> = {
  25: { encoding: 'CelB', clockRate: 90000 },
  26: { encoding: 'JPEG', clockRate: 90000 },
  28: { encoding: 'nv', clockRate: 90000 },
  31: { encoding: 'H261', clockRate: 90000 },
  32: { encoding: 'MPV', clockRate: 90000 },
  33: { encoding: 'MP2T', clockRate: 90000 },
  34: { encoding: 'H263', clockRate: 90000 },
};

/** The value of an a=rtpmap: `<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (§6). */
export function parseRtpMap(value: string): RtpMap | undefined {
  const m = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?\s*$/.exec(value);
  if (!m) return undefined;
  return {
    payloadType: Number(m[1]),
    encoding: m[2]!,
    clockRate: Number(m[3]),
    ...(m[4] !== undefined ? { channels: Number(m[4]) } : {}),
  };
}

/** The rtpmap of each format of an RTP stream, in m= line order; formats with neither rtpmap nor static meaning are left out. */
export function rtpMapsOf(media: SdpMedia): RtpMap[] {
  const declared = new Map<number, RtpMap>();
  for (const a of media.attributes) {
    if (a.name !== 'rtpmap' || a.value === undefined) continue;
    const map = parseRtpMap(a.value);
    if (!map || declared.has(map.payloadType)) continue;
    declared.set(map.payloadType, map);
  }
  const out: RtpMap[] = [];
  for (const format of media.formats) {
    if (!/^\d+$/.test(format)) continue;
    const payloadType = Number(format);
    const map =
      declared.get(payloadType) ??
      (STATIC_AUDIO_PAYLOAD_TYPES[payloadType]
        ? { payloadType, ...STATIC_AUDIO_PAYLOAD_TYPES[payloadType] }
        : undefined);
    if (map) out.push(map);
  }
  return out;
}

/** The a=fmtp parameters of one payload type (RFC 4566 §6), if any. */
export function fmtpOf(media: SdpMedia, payloadType: number): string | undefined {
  for (const a of media.attributes) {
    if (a.name !== 'fmtp' || a.value === undefined) continue;
    const space = a.value.indexOf(' ');
    const pt = space < 0 ? a.value : a.value.slice(0, space);
    if (pt === String(payloadType)) return space < 0 ? '' : a.value.slice(space + 1).trim();
  }
  return undefined;
}
