import type { MediaRelayKind } from '../config';

/**
 * What the control-plane and the media gateway need from a media relay, in the
 * subset both rtpengine (NG protocol) and RTPProxy (its text control protocol)
 * can honour. What only one relay can do is behind {@link RelayCapabilities};
 * asking for it anyway fails with `RelayOptionUnsupportedError` before anything
 * is sent.
 *
 * A call on the relay is named by the SIP dialog identifiers (RFC 3261 §12):
 * Call-ID, the From tag of the offerer and, once answered, the To tag.
 *
 * Who uses what today: `ping` (stack start-up, the control-plane's health probe), `list`
 * and `query` (the control-plane's relay-drop metrics); `offer`, `answer` and
 * `delete` are for call control (listen-only forks), which Kamailio's own relay
 * module does until then, and the relay suites in tests/media-relay drive them;
 * `statistics` is for operators and those suites.
 */
export interface MediaRelay {
  readonly kind: MediaRelayKind;
  readonly capabilities: RelayCapabilities;

  /** Round trip to the relay. Rejects with `RelayUnavailableError` when it does not answer. */
  ping(): Promise<PingResult>;
  /** Anchors the offerer's media: SDP in, SDP pointing at the relay out (RFC 3264 §5). */
  offer(request: OfferRequest): Promise<SdpResult>;
  /** Completes the call with the answerer's SDP (RFC 3264 §6); the result goes back to the offerer. */
  answer(request: AnswerRequest): Promise<SdpResult>;
  /** Releases the call's ports. Resolves `deleted: false` when the relay did not know the call. */
  delete(call: CallRef): Promise<DeleteResult>;
  /** Per-leg counters of one call. */
  query(call: CallRef): Promise<CallStats>;
  /** Call-IDs the relay currently holds (rtpengine only: see `capabilities.list`). */
  list(limit?: number): Promise<string[]>;
  /** Relay-wide counters. */
  statistics(): Promise<RelayStatistics>;
  /**
   * Listen-only copy of what one party of a call sends (rtpengine `subscribe request`):
   * resolves with the relay's SDP offer for the subscriber, who answers with
   * {@link subscribeAnswer}. The call itself is untouched.
   */
  subscribe(request: SubscribeRequest): Promise<SubscribeResult>;
  /** The subscriber's answer (recvonly) to a {@link subscribe} offer: media starts to flow. */
  subscribeAnswer(request: SubscribeAnswerRequest): Promise<void>;
  /** Ends a subscription; resolves `deleted: false` when the relay no longer knew it. */
  unsubscribe(request: SubscriptionRef): Promise<DeleteResult>;
  /** Idempotent; rejects every pending request with `RelayUnavailableError` (reason `closed`). */
  close(): Promise<void>;
}

export interface RelayCapabilities {
  /** `codecs.mask` and `codecs.transcode` (rtpengine `codec-mask`/`codec-transcode`). */
  readonly transcoding: boolean;
  /** `ptime`: repacketise towards the receiver of the SDP. */
  readonly ptime: boolean;
  /** `ice: 'force'`: the relay becomes the only ICE candidate. (`remove` works everywhere.) */
  readonly iceForce: boolean;
  /** `transport` may differ from the SDP's own (e.g. RTP/AVP ↔ RTP/SAVPF). */
  readonly transportConversion: boolean;
  /** `query` reports bytes as well as packets. */
  readonly byteCounters: boolean;
  /** `list` is available. */
  readonly list: boolean;
}

export interface PingResult {
  readonly latencyMs: number;
  /** RTPProxy's control protocol version (`V`); the NG protocol does not report one. */
  readonly version?: string;
}

export interface CallRef {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag?: string;
  /** Top Via branch; rtpengine uses it to tell forked branches apart. */
  readonly viaBranch?: string;
}

/** RFC 4566 §5.14 transport protocols the relays speak. */
export type TransportProtocol = 'RTP/AVP' | 'RTP/AVPF' | 'RTP/SAVP' | 'RTP/SAVPF';

export interface CodecOptions {
  /** Remove these codecs (encoding names, e.g. `PCMA`, or payload type numbers) from the SDP. */
  readonly strip?: readonly string[];
  /** Hide these from the receiver but keep accepting them from the sender, transcoding (needs `transcoding`). */
  readonly mask?: readonly string[];
  /** Offer these too, transcoding as needed (needs `transcoding`). Offer only. */
  readonly transcode?: readonly string[];
}

export interface SdpOptions {
  /** `remove` strips ICE attributes; `force` makes the relay the only candidate (needs `iceForce`). */
  readonly ice?: 'remove' | 'force';
  /** Transport protocol of the outgoing SDP (a different one needs `transportConversion`). */
  readonly transport?: TransportProtocol;
  readonly codecs?: CodecOptions;
  /** Packetisation time in ms towards the receiver of this SDP (needs `ptime`). */
  readonly ptime?: number;
}

export interface OfferRequest extends CallRef, SdpOptions {
  readonly sdp: string;
}

export interface AnswerRequest extends OfferRequest {
  readonly toTag: string;
}

export interface SubscriptionRef {
  readonly callId: string;
  /** The subscriber's own tag, unique within the call. */
  readonly subscriberTag: string;
}

export interface SubscribeRequest extends SubscriptionRef {
  /** The SIP tag of the party whose media is copied (From tag of the caller, To tag of the callee). */
  readonly partyTag: string;
}

export interface SubscribeResult {
  /** The relay's offer: where the copy comes from, recvonly on our side once answered. */
  readonly sdp: string;
}

export interface SubscribeAnswerRequest extends SubscriptionRef {
  readonly sdp: string;
}

export interface SdpResult {
  /** The rewritten SDP, to be sent on instead of the one given. */
  readonly sdp: string;
  /** A non-fatal remark from the relay (rtpengine `warning`). */
  readonly warning?: string;
}

export interface DeleteResult {
  readonly deleted: boolean;
}

/** What the relay received from one party of the call. */
export interface LegStats {
  /** The SIP tag of that party. */
  readonly tag: string;
  /** RTP packets the relay received from that party (RTCP excluded). */
  readonly packets: number;
  /** RTP bytes received from that party; undefined when `byteCounters` is false. */
  readonly bytes?: number;
  /** Where the relay sends this party's media, when the relay reports it. */
  readonly endpoint?: { readonly address: string; readonly port: number };
  /** The relay port this party sends to, when the relay reports it. */
  readonly localPort?: number;
  /**
   * Packets of this leg the relay dropped (rtpengine's per-stream `errors`, RTP and
   * RTCP): with `strict-source`, mostly packets that reached this party's relay port
   * from another address (see docs/security.md, RTP bleed); also failed sends to
   * the party. Undefined where the relay does not count them (RTPProxy).
   */
  readonly errors?: number;
}

export interface CallStats {
  readonly callId: string;
  readonly legs: readonly LegStats[];
  readonly totals: { readonly packets: number; readonly bytes?: number };
}

export interface RelayStatistics {
  readonly activeSessions: number;
  /** Sessions since start, where the relay counts them. */
  readonly totalSessions?: number;
  /** Packets relayed since start, where the relay counts them. */
  readonly packetsRelayed?: number;
  /** Everything the relay reported, as it reported it. */
  readonly raw: Readonly<Record<string, unknown>>;
}
