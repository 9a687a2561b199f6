import {
  parseAttribute,
  parseConnection as parseConnectionValue,
  parseMediaLine as parseMediaLineValue,
  parseRtpMap,
  SdpError,
  STATIC_AUDIO_PAYLOAD_TYPES,
  STATIC_VIDEO_PAYLOAD_TYPES,
  type SdpMediaLine,
} from '../../sdp/sdp';

/**
 * The SDP work RTPProxy leaves to its controller: find where each stream's media
 * goes, then point the SDP at the relay. Each line is read with the one SDP model's
 * grammar (`sdp/sdp.ts`), but the description is rewritten line by line rather
 * than parsed and serialised whole, so everything not touched passes through byte
 * for byte: line ends as they came, line order as written, and fragments the
 * full model would refuse (RTPProxy's controller never rejected a description it
 * only forwards). RFC 4566 (SDP), RFC 3605 (a=rtcp), RFC 8839 (ICE attributes).
 */

export type AddrType = 'IP4' | 'IP6';

export interface Connection {
  readonly addrType: AddrType;
  readonly address: string;
}

export interface MediaDescription {
  /** 1-based position among all m= lines (RTPProxy's media number). */
  readonly number: number;
  readonly type: string;
  readonly port: number;
  readonly proto: string;
  readonly formats: readonly string[];
  /** The media-level c=, or else the session-level one (RFC 4566 §5.7). */
  readonly connection: Connection | undefined;
}

export interface SdpSummary {
  readonly media: readonly MediaDescription[];
}

/** Where a relay allocated one stream's port. */
export interface RelayEndpoint {
  readonly address: string;
  readonly port: number;
  readonly ipv6: boolean;
}

export interface RewriteOptions {
  /** Relay endpoint per media number; streams without one are left alone. */
  readonly endpoints: ReadonlyMap<number, RelayEndpoint>;
  /** Codecs to remove: encoding names (case-insensitive) or payload type numbers. */
  readonly stripCodecs?: readonly string[];
}

// RFC 8839 §5 (and RFC 5245's a=ice-mismatch): with a relay that is not an ICE
// agent, candidates would let the endpoints route around it.
const ICE_ATTRIBUTES =
  /^a=(candidate|ice-ufrag|ice-pwd|ice-options|ice-lite|ice-mismatch|ice-pacing|remote-candidates|end-of-candidates)(:|$)/;

// RFC 3551 §6 static payload types, so `strip: ['PCMU']` finds PT 0 without an a=rtpmap.
function staticEncoding(format: string): string | undefined {
  if (!/^\d+$/.test(format)) return undefined;
  const pt = Number(format);
  return (STATIC_AUDIO_PAYLOAD_TYPES[pt] ?? STATIC_VIDEO_PAYLOAD_TYPES[pt])?.encoding;
}

interface Lines {
  readonly lines: string[];
  readonly eol: string;
  readonly trailing: boolean;
}

function splitLines(sdp: string): Lines {
  // RFC 4566 §5 mandates CRLF but asks parsers to accept LF alone; keep what came in.
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const trailing = sdp.endsWith('\n');
  const lines = sdp.split(/\r?\n/);
  if (trailing) lines.pop();
  return { lines, eol, trailing };
}

/** A c= line, of the Internet address types RTPProxy relays (its /ttl[/n] dropped). */
function parseConnection(line: string): Connection {
  const c = parseConnectionValue(line.slice(2));
  if (c.netType !== 'IN' || (c.addrType !== 'IP4' && c.addrType !== 'IP6'))
    throw new SdpError('ERR_SDP_FIELD', `${line} is not an IN IP4 or IN IP6 connection`);
  return { addrType: c.addrType, address: c.address };
}

function parseMediaLine(line: string): SdpMediaLine {
  return parseMediaLineValue(line.slice(2));
}

/** Reads what RTPProxy must be told: each stream's address and port. */
export function describeSdp(sdp: string): SdpSummary {
  const { lines } = splitLines(sdp);
  let session: Connection | undefined;
  const media: Array<Omit<MediaDescription, 'connection'> & { connection: Connection | undefined }> = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const { type, port, protocol, formats } = parseMediaLine(line);
      media.push({ number: media.length + 1, type, port, proto: protocol, formats, connection: undefined });
    } else if (line.startsWith('c=')) {
      const c = parseConnection(line);
      const current = media[media.length - 1];
      if (current) {
        current.connection = c;
      } else {
        session = c;
      }
    }
  }
  return {
    media: media.map((m) => ({ ...m, connection: m.connection ?? session })),
  };
}

/**
 * Points the SDP at the relay: o= address, session c=, each relayed stream's
 * m= port and c=, its a=rtcp (the relay's RTCP port is the RTP port + 1, as it
 * allocates them in pairs); removes ICE attributes and stripped codecs.
 */
export function rewriteSdp(sdp: string, options: RewriteOptions): string {
  const { lines, eol, trailing } = splitLines(sdp);
  // The session-level c= and o= take the first relayed stream's address.
  const first: RelayEndpoint | undefined = options.endpoints.values().next().value;
  const strip = new Set((options.stripCodecs ?? []).map((c) => c.toLowerCase()));
  const out: string[] = [];
  for (const section of sectionsOf(lines)) {
    const endpoint = section.number === 0 ? first : options.endpoints.get(section.number);
    const removed = section.number === 0 ? new Set<string>() : payloadTypesToStrip(section.lines, strip);
    const ownConnection = section.lines.some((l) => l.startsWith('c='));
    for (const line of section.lines) {
      if (ICE_ATTRIBUTES.test(line)) continue;
      if (removed.size > 0 && belongsToPayloadType(line, removed)) continue;
      if (line.startsWith('o=') && first) {
        // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
        const parts = line.split(' ');
        if (parts.length === 6) {
          parts[4] = addrType(first);
          parts[5] = first.address;
          out.push(parts.join(' '));
          continue;
        }
      }
      if (line.startsWith('c=') && endpoint) {
        out.push(connectionLine(endpoint));
        continue;
      }
      if (line.startsWith('m=') && section.number > 0) {
        const m = parseMediaLine(line);
        const formats = m.formats.filter((f) => !removed.has(f));
        out.push(`m=${m.type} ${endpoint ? endpoint.port : m.port} ${m.protocol} ${formats.join(' ')}`.trimEnd());
        // A stream that inherits the session c= but was relayed elsewhere gets its own.
        if (endpoint && first && !ownConnection && connectionLine(endpoint) !== connectionLine(first)) {
          out.push(connectionLine(endpoint));
        }
        continue;
      }
      if (line.startsWith('a=rtcp:') && endpoint) {
        // a=rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605 §2.1)
        const withAddress = /^a=rtcp:\d+ \S+ \S+ \S+$/.test(line);
        out.push(`a=rtcp:${endpoint.port + 1}${withAddress ? ` IN ${addrType(endpoint)} ${endpoint.address}` : ''}`);
        continue;
      }
      out.push(line);
    }
  }
  return out.join(eol) + (trailing ? eol : '');
}

interface Section {
  /** 0 for the session part, else the media number. */
  readonly number: number;
  readonly lines: readonly string[];
}

function sectionsOf(lines: readonly string[]): Section[] {
  const sections: Array<{ number: number; lines: string[] }> = [{ number: 0, lines: [] }];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push({ number: sections.length, lines: [] });
    sections[sections.length - 1]?.lines.push(line);
  }
  return sections;
}

function connectionLine(endpoint: RelayEndpoint): string {
  return `c=IN ${addrType(endpoint)} ${endpoint.address}`;
}

function addrType(endpoint: RelayEndpoint): AddrType {
  return endpoint.ipv6 ? 'IP6' : 'IP4';
}

/** Payload types of one media section whose encoding (or number) is in `strip`; empty when that would leave none. */
function payloadTypesToStrip(section: readonly string[], strip: ReadonlySet<string>): Set<string> {
  const removed = new Set<string>();
  if (strip.size === 0) return removed;
  const mline = section[0] ? parseMediaLine(section[0]) : undefined;
  if (!mline) return removed;
  const names = new Map<string, string>();
  for (const line of section) {
    if (!line.startsWith('a=')) continue;
    const attribute = parseAttribute(line.slice(2));
    const map = attribute.name === 'rtpmap' && attribute.value !== undefined ? parseRtpMap(attribute.value) : undefined;
    if (map) names.set(String(map.payloadType), map.encoding);
  }
  for (const pt of mline.formats) {
    const name = names.get(pt) ?? staticEncoding(pt);
    if (strip.has(pt) || (name !== undefined && strip.has(name.toLowerCase()))) removed.add(pt);
  }
  // As rtpengine does: stripping every codec is refused and the list left as it was.
  if (removed.size === mline.formats.length) removed.clear();
  return removed;
}

function belongsToPayloadType(line: string, payloadTypes: ReadonlySet<string>): boolean {
  const m = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)[ \t]/.exec(line);
  return m !== null && m[2] !== undefined && payloadTypes.has(m[2]);
}
