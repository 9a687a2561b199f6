import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  attributeValue,
  connectionOf,
  directionOf,
  fmtpOf,
  parseSdp,
  rtpMapsOf,
  SdpError,
  serializeSdp,
  type MediaDirection,
  type SdpAttribute,
  type SdpMedia,
  type SessionDescription,
} from '../../../common/src/sdp/sdp';

/** The codecs the gateway speaks on its leg (the relay transcodes everything else to these). */
export type G711Codec = 'PCMU' | 'PCMA';

export interface AnswererOptions {
  /** Our media address, for c= and o=. */
  readonly address: string;
  /** Our RTP port. */
  readonly port: number;
  /** Codec preference, most wanted first; ['PCMU', 'PCMA'] by default. */
  readonly codecs?: readonly G711Codec[];
  /** Accept RFC 4733 telephone-events when offered; true by default. */
  readonly telephoneEvent?: boolean;
  /** The packet time we ask for (a=ptime); 20 ms. */
  readonly ptime?: number;
  /** Accept RFC 5761 rtcp-mux when offered (RTCP on the RTP port); false by default. */
  readonly rtcpMux?: boolean;
  /** o= username; '-' by default (RFC 4566 §5.2: no user concept). */
  readonly username?: string;
  /** s= text; '-' by default (RFC 3264 §5). */
  readonly sessionName?: string;
  /** o= sess-id; random by default. */
  readonly sessionId?: string;
  /** o= sess-version of the first answer; random by default (given when the session began with our offer). */
  readonly initialVersion?: bigint;
}

export interface NegotiatedCodec {
  readonly name: G711Codec;
  readonly payloadType: number;
  readonly clockRate: 8000;
}

export interface NegotiatedMedia {
  /** Position of the accepted m= line. */
  readonly index: number;
  readonly codec: NegotiatedCodec;
  /** The telephone-event payload type and the events both sides support, when negotiated. */
  readonly telephoneEvent?: { readonly payloadType: number; readonly events: string };
  /** Where to send RTP and RTCP. */
  readonly remote: {
    readonly address: string;
    readonly port: number;
    readonly rtcpAddress: string;
    readonly rtcpPort: number;
    readonly rtcpMux: boolean;
  };
  /** The peer's a=ptime / a=maxptime, if it said. */
  readonly remotePtime?: number;
  readonly remoteMaxPtime?: number;
  /** The direction our answer gives the stream. */
  readonly direction: MediaDirection;
  /** Whether we send media to the peer. */
  readonly send: boolean;
  /** Whether the peer will send media to us. */
  readonly receive: boolean;
  /** The peer put the call on hold (RFC 3264 §8.4: sendonly or inactive, or RFC 2543's c=0.0.0.0). */
  readonly hold: boolean;
}

export type NegotiationResult =
  | { readonly ok: true; readonly answer: SessionDescription; readonly sdp: string; readonly media: NegotiatedMedia }
  | { readonly ok: false; readonly status: 400 | 488; readonly reason: string };

/** RTP profiles we can answer: plain AVP, and AVPF whose feedback we simply do not use. No SRTP (the relay terminates it). */
const ACCEPTED_PROTOCOLS = new Set(['RTP/AVP', 'RTP/AVPF']);
/** RFC 4733 §3.2: DTMF events 0–15, the ones the gateway handles. */
const SUPPORTED_EVENTS = { from: 0, to: 15 };

/**
 * The gateway's side of RFC 3264 offer/answer, as the answerer, for one dialog:
 * one answer per offer (initial INVITE, re-INVITEs, UPDATEs).
 *
 * - One audio stream is accepted: the first RTP/AVP(F) audio m= line with a
 *   G.711 codec in common (the one accepted before, on a re-offer, if it still
 *   qualifies); every other m= line is rejected with port 0 (§6). An offered
 *   port 0 stays rejected.
 * - Codec: the first of `codecs` the offer has, by rtpmap name or static type
 *   (RFC 3551 §6); on a re-offer the current codec is kept while still offered,
 *   so media does not switch codec mid-call. None in common → 488 (RFC 3261 §21.4.26).
 * - telephone-event/8000 is answered with the offered payload type and the
 *   events both support, always with the a=fmtp RFC 4733 §2.4.1 requires.
 * - a=ptime:20 is asked for; direction mirrors the offer (§6.1); hold is
 *   sendonly/inactive or the legacy c=0.0.0.0 (§8.4).
 * - o= keeps one session id; the version increases by one whenever an answer
 *   differs from the previous one and stays when it is identical (§8).
 */
export class SdpAnswerer {
  private readonly options: Required<Omit<AnswererOptions, 'sessionId' | 'initialVersion'>>;
  readonly sessionId: string;
  private version: bigint;
  private previousBody: string | undefined;
  private current: NegotiatedMedia | undefined;
  private mediaCount = 0;
  private previousAnswer: SessionDescription | undefined;
  /** We hold the peer (our re-offer said sendonly): answers never let us receive (RFC 6337 §5.3). */
  private holding = false;

  constructor(options: AnswererOptions) {
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)
      throw new TypeError(`port must be 1..65535, got ${options.port}`);
    const codecs = options.codecs ?? ['PCMU', 'PCMA'];
    if (codecs.length === 0) throw new TypeError('at least one codec is needed');
    this.options = {
      address: options.address,
      port: options.port,
      codecs,
      telephoneEvent: options.telephoneEvent ?? true,
      ptime: options.ptime ?? 20,
      rtcpMux: options.rtcpMux ?? false,
      username: options.username ?? '-',
      sessionName: options.sessionName ?? '-',
    };
    this.sessionId = options.sessionId ?? String(randomInt(1, 2 ** 47));
    this.version = options.initialVersion ?? BigInt(randomInt(1, 2 ** 31));
  }

  /** What the last successful answer agreed, if any. */
  get negotiated(): NegotiatedMedia | undefined {
    return this.current;
  }

  /** Answers an offer (SDP text or parsed). Nothing changes when the result is not ok. */
  answer(offer: SessionDescription | string): NegotiationResult {
    let sdp: SessionDescription;
    try {
      sdp = typeof offer === 'string' ? parseSdp(offer) : offer;
    } catch (err) {
      // RFC 3261 §21.4.26: a description we read but cannot use (here: a port no socket has) is 488.
      if (err instanceof SdpError)
        return { ok: false, status: err.code === 'ERR_SDP_PORT' ? 488 : 400, reason: `malformed SDP: ${err.message}` };
      throw err;
    }
    if (sdp.media.length === 0) return { ok: false, status: 488, reason: 'the offer has no media stream' };
    const unusable = unusableConnection(sdp);
    if (unusable) return { ok: false, status: 488, reason: unusable };
    if (sdp.media.length < this.mediaCount) {
      // RFC 3264 §8: m= lines are never removed from a session.
      return {
        ok: false,
        status: 488,
        reason: `the re-offer has ${sdp.media.length} m= lines, the session ${this.mediaCount}`,
      };
    }

    const candidates = sdp.media
      .map((m, index) => ({ m, index }))
      .filter(({ m }) => m.type === 'audio' && m.port !== 0 && ACCEPTED_PROTOCOLS.has(m.protocol));
    if (candidates.length === 0) {
      const protocols = [...new Set(sdp.media.filter((m) => m.port !== 0).map((m) => `${m.type} ${m.protocol}`))];
      return {
        ok: false,
        status: 488,
        reason: `no RTP/AVP audio stream offered (${protocols.join(', ') || 'all streams disabled'})`,
      };
    }
    // Keep the stream accepted before when it still qualifies.
    const ordered = this.current
      ? [
          ...candidates.filter((c) => c.index === this.current!.index),
          ...candidates.filter((c) => c.index !== this.current!.index),
        ]
      : candidates;

    let chosen: { m: SdpMedia; index: number; codec: NegotiatedCodec } | undefined;
    for (const c of ordered) {
      const codec = this.chooseCodec(c.m);
      if (codec) {
        chosen = { ...c, codec };
        break;
      }
    }
    if (!chosen) {
      const offered = [
        ...new Set(candidates.flatMap(({ m }) => rtpMapsOf(m).map((r) => `${r.encoding}/${r.clockRate}`))),
      ];
      return {
        ok: false,
        status: 488,
        reason: `no common codec: offered ${offered.join(' ') || 'nothing known'}, we take ${this.options.codecs.join(' ')}`,
      };
    }

    const connection = connectionOf(chosen.m, sdp);
    if (!connection) return { ok: false, status: 488, reason: 'the audio stream has no connection address (c=)' };
    const negotiated = this.describe(sdp, chosen.m, chosen.index, chosen.codec, connection.address);
    const answer = this.buildAnswer(sdp, negotiated);

    const body = serializeSdp(answer);
    if (this.previousBody !== undefined && body !== this.previousBody) this.version += 1n;
    this.previousBody = body;
    const versioned: SessionDescription = {
      ...answer,
      origin: { ...answer.origin, sessionVersion: this.version.toString() },
    };
    this.current = negotiated;
    this.previousAnswer = answer;
    this.mediaCount = sdp.media.length;
    return { ok: true, answer: versioned, sdp: serializeSdp(versioned), media: negotiated };
  }

  /**
   * The session began with our offer (a call we placed): `ours` is the description we
   * sent and `media` what the answer agreed, so our next re-offer (hold) starts from
   * them and every description after counts on from its version (RFC 3264 §8).
   */
  adopt(ours: string, media: NegotiatedMedia): void {
    const sdp = parseSdp(ours);
    this.version = BigInt(sdp.origin.sessionVersion);
    const unversioned: SessionDescription = { ...sdp, origin: { ...sdp.origin, sessionVersion: '0' } };
    this.previousAnswer = unversioned;
    this.previousBody = serializeSdp(unversioned);
    this.current = media;
    this.mediaCount = sdp.media.length;
  }

  /**
   * Our own offer in this session (RFC 3264 §8: identical to our last description
   * but for the change, the version one up): `sendonly` puts the peer on hold
   * (§8.4; RFC 6337 §5.1: the holder offers sendonly, expects recvonly), `sendrecv`
   * takes it off. Null before any answer, or when the stream has no direction to change.
   */
  reoffer(direction: 'sendonly' | 'sendrecv'): string | null {
    const previous = this.previousAnswer;
    const current = this.current;
    if (!previous || !current) return null;
    const media = previous.media.map((m, index) =>
      index !== current.index
        ? m
        : {
            ...m,
            attributes: [
              ...m.attributes.filter((a) => !['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(a.name)),
              { name: direction },
            ],
          },
    );
    const offer: SessionDescription = { ...previous, origin: { ...previous.origin, sessionVersion: '0' }, media };
    const body = serializeSdp(offer);
    if (body !== this.previousBody) this.version += 1n;
    this.previousBody = body;
    this.previousAnswer = offer;
    this.holding = direction === 'sendonly';
    return serializeSdp({ ...offer, origin: { ...offer.origin, sessionVersion: this.version.toString() } });
  }

  private chooseCodec(m: SdpMedia): NegotiatedCodec | undefined {
    const maps = rtpMapsOf(m).filter((r) => r.clockRate === 8000 && (r.channels === undefined || r.channels === 1));
    const find = (name: G711Codec) => maps.find((r) => r.encoding.toUpperCase() === name);
    const sticky = this.current ? find(this.current.codec.name) : undefined;
    if (sticky) return { name: this.current!.codec.name, payloadType: sticky.payloadType, clockRate: 8000 };
    for (const name of this.options.codecs) {
      const r = find(name);
      if (r) return { name, payloadType: r.payloadType, clockRate: 8000 };
    }
    return undefined;
  }

  private describe(
    sdp: SessionDescription,
    m: SdpMedia,
    index: number,
    codec: NegotiatedCodec,
    address: string,
  ): NegotiatedMedia {
    const offered = directionOf(m, sdp);
    // RFC 3264 §8.4 (and RFC 2543): c=0.0.0.0 asks us not to send.
    const legacyHold = address === '0.0.0.0' || address === '::';
    const hold = offered === 'sendonly' || offered === 'inactive' || legacyHold;

    // §6.1: the answer mirrors the offer; a legacy hold offer keeps us from sending.
    let direction: MediaDirection = (
      { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' } as const
    )[offered];
    if (legacyHold)
      direction = direction === 'sendrecv' ? 'recvonly' : direction === 'sendonly' ? 'inactive' : direction;
    // While we hold the peer, a re-offer (a session refresh, its own hold) does not undo our hold.
    if (this.holding)
      direction = direction === 'sendrecv' ? 'sendonly' : direction === 'recvonly' ? 'inactive' : direction;

    const telephoneEvent = this.options.telephoneEvent ? chooseTelephoneEvent(m) : undefined;
    const rtcpMux = this.options.rtcpMux && attributeValue(m.attributes, 'rtcp-mux') !== undefined;
    const rtcp = parseRtcpAttribute(attributeValue(m.attributes, 'rtcp'));
    const ptime = numberAttribute(m.attributes, 'ptime') ?? numberAttribute(sdp.attributes, 'ptime');
    const maxPtime = numberAttribute(m.attributes, 'maxptime') ?? numberAttribute(sdp.attributes, 'maxptime');

    return {
      index,
      codec,
      ...(telephoneEvent ? { telephoneEvent } : {}),
      remote: {
        address,
        port: m.port,
        rtcpAddress: rtcpMux ? address : (rtcp?.address ?? address),
        // RFC 3550 §11: RTCP on the next port up unless a=rtcp (RFC 3605) says otherwise.
        rtcpPort: rtcpMux ? m.port : (rtcp?.port ?? m.port + 1),
        rtcpMux,
      },
      ...(ptime !== undefined ? { remotePtime: ptime } : {}),
      ...(maxPtime !== undefined ? { remoteMaxPtime: maxPtime } : {}),
      direction,
      send: (direction === 'sendrecv' || direction === 'sendonly') && !legacyHold,
      receive: direction === 'sendrecv' || direction === 'recvonly',
      hold,
    };
  }

  private buildAnswer(offer: SessionDescription, negotiated: NegotiatedMedia): SessionDescription {
    const o = this.options;
    const addrType = isIPv6(o.address) ? 'IP6' : 'IP4';
    const media: SdpMedia[] = offer.media.map((m, index) => {
      if (index !== negotiated.index) {
        // §6: a rejected stream keeps its type, protocol and formats, with port 0.
        return {
          type: m.type,
          port: 0,
          protocol: m.protocol,
          formats: m.formats.length > 0 ? m.formats : ['0'],
          connections: [],
          bandwidths: [],
          attributes: [],
          otherLines: [],
        };
      }
      const formats = [String(negotiated.codec.payloadType)];
      const attributes: SdpAttribute[] = [
        { name: 'rtpmap', value: `${negotiated.codec.payloadType} ${negotiated.codec.name}/8000` },
      ];
      if (negotiated.telephoneEvent) {
        const te = negotiated.telephoneEvent;
        formats.push(String(te.payloadType));
        attributes.push(
          { name: 'rtpmap', value: `${te.payloadType} telephone-event/8000` },
          { name: 'fmtp', value: `${te.payloadType} ${te.events}` },
        );
      }
      attributes.push({ name: 'ptime', value: String(o.ptime) });
      if (negotiated.remote.rtcpMux) attributes.push({ name: 'rtcp-mux' });
      attributes.push({ name: negotiated.direction });
      return {
        type: 'audio',
        port: o.port,
        protocol: m.protocol,
        formats,
        connections: [],
        bandwidths: [],
        attributes,
        otherLines: [],
      };
    });
    return {
      version: 0,
      origin: {
        username: o.username,
        sessionId: this.sessionId,
        sessionVersion: '0',
        netType: 'IN',
        addrType,
        address: o.address,
      },
      sessionName: o.sessionName,
      emails: [],
      phones: [],
      connection: { netType: 'IN', addrType, address: o.address },
      bandwidths: [],
      timings: [{ start: '0', stop: '0', repeats: [] }],
      attributes: [],
      otherLines: [],
      media,
    };
  }
}

/**
 * The first c= line of the session or of a stream in use (port not 0) whose address
 * is not an IP literal of its address type, described; null when all are usable.
 * RFC 4566 §5.7 also allows host names: rtpengine writes IP literals into every
 * offer we get, and resolving a caller's names is not the gateway's business, so a
 * name is refused like any impossible address (999.999.999.999).
 */
function unusableConnection(sdp: SessionDescription): string | null {
  const lines = [
    ...(sdp.connection ? [sdp.connection] : []),
    ...sdp.media.filter((m) => m.port !== 0).flatMap((m) => m.connections),
  ];
  for (const c of lines) {
    const ok =
      c.netType === 'IN' &&
      ((c.addrType === 'IP4' && isIPv4(c.address)) || (c.addrType === 'IP6' && isIPv6(c.address)));
    if (!ok) return `unusable connection address c=${c.netType} ${c.addrType} ${c.address}`;
  }
  return null;
}

/** The telephone-event/8000 format of a stream and the events both sides support. */
function chooseTelephoneEvent(m: SdpMedia): { payloadType: number; events: string } | undefined {
  for (const r of rtpMapsOf(m)) {
    if (r.encoding.toLowerCase() !== 'telephone-event' || r.clockRate !== 8000) continue;
    const fmtp = fmtpOf(m, r.payloadType);
    // RFC 4733 §2.4.1 requires the fmtp; RFC 2833-era peers that omit it mean 0–15.
    const offered = fmtp === undefined || fmtp === '' ? [[0, 15] as const] : parseEventList(fmtp);
    const common = offered
      .map(([from, to]) => [Math.max(from, SUPPORTED_EVENTS.from), Math.min(to, SUPPORTED_EVENTS.to)] as const)
      .filter(([from, to]) => from <= to);
    if (common.length === 0) continue;
    return {
      payloadType: r.payloadType,
      events: common.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(','),
    };
  }
  return undefined;
}

/** `0-11,16` → [[0, 11], [16, 16]]; anything unreadable is skipped. */
function parseEventList(fmtp: string): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (const part of fmtp.split(',')) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from <= to) out.push([from, to]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** RFC 3605: `a=rtcp:<port> [<nettype> <addrtype> <address>]`. */
function parseRtcpAttribute(value: string | undefined): { port: number; address?: string } | undefined {
  if (!value) return undefined;
  const m = /^(\d+)(?:\s+IN\s+IP[46]\s+(\S+))?\s*$/.exec(value);
  if (!m || Number(m[1]) > 65535) return undefined;
  return { port: Number(m[1]), ...(m[2] !== undefined ? { address: m[2] } : {}) };
}

function numberAttribute(attributes: readonly SdpAttribute[], name: string): number | undefined {
  const v = attributeValue(attributes, name);
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
