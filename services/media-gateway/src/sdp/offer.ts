import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  connectionOf,
  directionOf,
  parseSdp,
  rtpMapsOf,
  SdpError,
  serializeSdp,
  type MediaDirection,
  type SdpAttribute,
  type SessionDescription,
} from '../../../common/src/sdp/sdp';
import { SdpAnswerer, type G711Codec, type NegotiatedMedia } from './negotiate';

/** RFC 3551 §6: the static payload types of the codecs we offer. */
const STATIC_PT: Readonly<Record<G711Codec, number>> = { PCMU: 0, PCMA: 8 };

export interface OffererOptions {
  /** Our media address, for c= and o=. */
  readonly address: string;
  /** Our RTP port. */
  readonly port: number;
  /** Codecs offered, most wanted first; ['PCMU', 'PCMA'] by default. */
  readonly codecs?: readonly G711Codec[];
  /** The dynamic payload type offered for RFC 4733 telephone-event; 101 by default, null: not offered. */
  readonly telephoneEventPt?: number | null;
  /** a=ptime; 20 ms. */
  readonly ptime?: number;
  /** o= sess-id; random by default. */
  readonly sessionId?: string;
}

export type AnswerResult =
  { readonly ok: true; readonly media: NegotiatedMedia } | { readonly ok: false; readonly reason: string };

/**
 * The gateway's side of RFC 3264 offer/answer as the offerer, for a call it places:
 * one audio stream, RTP/AVP, G.711 (static payload types 0 and 8) and
 * telephone-event 0-15, ptime 20. The gateway always offers in the INVITE (no offer
 * in a 2xx, RFC 3261 §13.2.1), so the answer arrives in the 2xx (or a reliable 18x,
 * which this gateway does not ask for).
 *
 * Re-offers from the far end later in the dialog are answered by {@link answerer},
 * an {@link SdpAnswerer} with the same o= session id and a version above ours (§8).
 */
export class SdpOfferer {
  readonly sessionId: string;
  private readonly version: bigint;
  private readonly options: Required<Omit<OffererOptions, 'sessionId'>>;
  private readonly body: string;
  /** What the answer agreed, once taken. */
  private agreed: NegotiatedMedia | null = null;

  constructor(options: OffererOptions) {
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)
      throw new TypeError(`port must be 1..65535, got ${options.port}`);
    const codecs = options.codecs ?? ['PCMU', 'PCMA'];
    if (codecs.length === 0) throw new TypeError('at least one codec is needed');
    const te = options.telephoneEventPt === undefined ? 101 : options.telephoneEventPt;
    // RFC 3551 §3: 96-127 are the dynamic payload types.
    if (te !== null && (!Number.isInteger(te) || te < 96 || te > 127))
      throw new TypeError(`telephone-event payload type must be 96..127, got ${te}`);
    this.options = {
      address: options.address,
      port: options.port,
      codecs,
      telephoneEventPt: te,
      ptime: options.ptime ?? 20,
    };
    this.sessionId = options.sessionId ?? String(randomInt(1, 2 ** 47));
    this.version = BigInt(randomInt(1, 2 ** 31));
    this.body = serializeSdp(this.describe());
  }

  /** The offer for the INVITE. */
  get offer(): string {
    return this.body;
  }

  /**
   * Reads the answer (RFC 3264 §6, §7): the same number of m= lines, our audio stream
   * not rejected (port 0), one of our codecs in it. The first of the answer's formats
   * that we offered is the codec both send (§6.1: the answerer lists its preference
   * first); telephone-event is used when the answer kept it.
   */
  takeAnswer(text: string): AnswerResult {
    let sdp: SessionDescription;
    try {
      sdp = parseSdp(text);
    } catch (err) {
      if (err instanceof SdpError) return { ok: false, reason: `malformed SDP answer: ${err.message}` };
      throw err;
    }
    // §6: "The answer MUST contain exactly the same number of m= lines as the offer."
    if (sdp.media.length !== 1)
      return { ok: false, reason: `the answer has ${sdp.media.length} m= lines, we offered 1` };
    const m = sdp.media[0]!;
    if (m.type !== 'audio' || m.port === 0) return { ok: false, reason: 'the answer rejected our audio stream' };
    const maps = rtpMapsOf(m).filter((r) => r.clockRate === 8000);
    const codecMap = maps.find((r) => (this.options.codecs as readonly string[]).includes(r.encoding.toUpperCase()));
    if (!codecMap)
      return { ok: false, reason: `the answer has none of our codecs (${this.options.codecs.join(', ')})` };
    const connection = connectionOf(m, sdp);
    if (
      !connection ||
      connection.netType !== 'IN' ||
      !(
        (connection.addrType === 'IP4' && isIPv4(connection.address)) ||
        (connection.addrType === 'IP6' && isIPv6(connection.address))
      )
    )
      return { ok: false, reason: 'the answer has no usable connection address (c=)' };
    const teMap =
      this.options.telephoneEventPt === null
        ? undefined
        : maps.find((r) => r.encoding.toLowerCase() === 'telephone-event');
    const theirs = directionOf(m, sdp);
    const legacyHold = connection.address === '0.0.0.0' || connection.address === '::';
    // Our direction is the mirror of theirs (§6.1).
    const ours: MediaDirection = (
      { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' } as const
    )[theirs];
    const media: NegotiatedMedia = {
      index: 0,
      codec: {
        name: codecMap.encoding.toUpperCase() as G711Codec,
        payloadType: codecMap.payloadType,
        clockRate: 8000,
      },
      ...(teMap ? { telephoneEvent: { payloadType: teMap.payloadType, events: '0-15' } } : {}),
      remote: {
        address: connection.address,
        port: m.port,
        rtcpAddress: connection.address,
        // RFC 3550 §11: RTCP on the next port up.
        rtcpPort: m.port + 1,
        rtcpMux: false,
      },
      direction: ours,
      send: (ours === 'sendrecv' || ours === 'sendonly') && !legacyHold,
      receive: ours === 'sendrecv' || ours === 'recvonly',
      hold: theirs === 'sendonly' || theirs === 'inactive' || legacyHold,
    };
    this.agreed = media;
    return { ok: true, media };
  }

  /**
   * Answers the far end's re-offers in this dialog, in the same SDP session; once the
   * answer was taken it also makes our own re-offers (hold) from our offer.
   */
  answerer(): SdpAnswerer {
    const answerer = new SdpAnswerer({
      address: this.options.address,
      port: this.options.port,
      codecs: this.options.codecs,
      telephoneEvent: this.options.telephoneEventPt !== null,
      ptime: this.options.ptime,
      sessionId: this.sessionId,
      initialVersion: this.version + 1n,
    });
    if (this.agreed) answerer.adopt(this.body, this.agreed);
    return answerer;
  }

  private describe(): SessionDescription {
    const o = this.options;
    const addrType = isIPv6(o.address) ? 'IP6' : 'IP4';
    const formats = o.codecs.map((c) => String(STATIC_PT[c]));
    const attributes: SdpAttribute[] = o.codecs.map((c) => ({ name: 'rtpmap', value: `${STATIC_PT[c]} ${c}/8000` }));
    if (o.telephoneEventPt !== null) {
      formats.push(String(o.telephoneEventPt));
      attributes.push(
        { name: 'rtpmap', value: `${o.telephoneEventPt} telephone-event/8000` },
        // RFC 4733 §2.4.1: the events we handle.
        { name: 'fmtp', value: `${o.telephoneEventPt} 0-15` },
      );
    }
    attributes.push({ name: 'ptime', value: String(o.ptime) }, { name: 'sendrecv' });
    return {
      version: 0,
      origin: {
        username: '-',
        sessionId: this.sessionId,
        sessionVersion: this.version.toString(),
        netType: 'IN',
        addrType,
        address: o.address,
      },
      sessionName: '-',
      emails: [],
      phones: [],
      connection: { netType: 'IN', addrType, address: o.address },
      bandwidths: [],
      timings: [{ start: '0', stop: '0', repeats: [] }],
      attributes: [],
      otherLines: [],
      media: [
        {
          type: 'audio',
          port: o.port,
          protocol: 'RTP/AVP',
          formats,
          connections: [],
          bandwidths: [],
          attributes,
          otherLines: [],
        },
      ],
    };
  }
}
