import { decodeAlaw, decodeUlaw } from '../../../common/src/audio/g711';
import type { MediaRelay } from '../../../common/src/media-relay';
import { connectionOf, parseSdp, rtpMapsOf, type SessionDescription } from '../../../common/src/sdp/sdp';
import type { RtpSocket } from '../calls/media-leg';
import { isRtcpPacket, tryParseRtp } from '../rtp/packet';
import type { Track } from './frames';
import type { ListenStream } from './listen-stream';

/** RFC 3551 §6 static payload types of G.711. */
const PCMU = 0;
const PCMA = 8;

/** The m= line of the relay's offer we answer: where the copy comes from and its codec. */
export interface ChosenMedia {
  readonly index: number;
  readonly payloadType: typeof PCMU | typeof PCMA;
}

/** Picks the first audio stream offering G.711 (PCMU preferred: the relay offers what the party sends). */
export function chooseMedia(offer: SessionDescription): ChosenMedia | undefined {
  for (const [index, m] of offer.media.entries()) {
    if (m.type !== 'audio' || m.port === 0) continue;
    const pts = m.formats.map(Number);
    const names = new Map(rtpMapsOf(m).map((r) => [r.payloadType, r.encoding.toUpperCase()]));
    for (const pt of pts) {
      const name = names.get(pt) ?? (pt === PCMU ? 'PCMU' : pt === PCMA ? 'PCMA' : '');
      if (name === 'PCMU') return { index, payloadType: PCMU };
      if (name === 'PCMA') return { index, payloadType: PCMA };
    }
  }
  return undefined;
}

/**
 * Our answer to a subscription offer (RFC 3264 §6): the chosen stream recvonly on
 * our port with the one codec, every other m= line rejected with port 0.
 */
export function buildAnswer(offer: SessionDescription, chosen: ChosenMedia, address: string, port: number): string {
  const lines = ['v=0', `o=- ${Date.now()} 1 IN IP4 ${address}`, 's=listen-only fork', `c=IN IP4 ${address}`, 't=0 0'];
  for (const [index, m] of offer.media.entries()) {
    if (index !== chosen.index) {
      lines.push(`m=${m.type} 0 ${m.protocol} ${m.formats[0] ?? '0'}`);
      continue;
    }
    const name = chosen.payloadType === PCMU ? 'PCMU' : 'PCMA';
    lines.push(`m=audio ${port} RTP/AVP ${chosen.payloadType}`, `a=rtpmap:${chosen.payloadType} ${name}/8000`);
    lines.push('a=recvonly');
  }
  return `${lines.join('\r\n')}\r\n`;
}

export interface ForkParty {
  readonly track: Track;
  /** The party's SIP tag: what the relay names its media by. */
  readonly tag: string;
}

export interface ForkSessionOptions {
  /** The fork's id: call_commands.call_id. */
  readonly id: string;
  readonly sipCallId: string;
  readonly parties: readonly ForkParty[];
  readonly relay: MediaRelay;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly rtpAddress: string;
  readonly stream: ListenStream;
  /** No RTP on any track for this long: the call is gone (the unfork was lost); the fork ends itself. */
  readonly idleMs: number;
  readonly onClosed: (reason: string) => void;
}

interface Subscription {
  readonly party: ForkParty;
  readonly subscriberTag: string;
  readonly socket: RtpSocket;
  packets: number;
}

/**
 * One listen-only fork of a call between people: a relay subscription per party, each
 * into its own RTP socket, decoded and streamed to the AI on the party's track.
 *
 *   starting ──start() ok──► running ──close()──► closed
 *   starting ──start() fails──► closed (what was set up is undone)
 */
export class ForkSession {
  private state: 'starting' | 'running' | 'closed' = 'starting';
  private readonly subscriptions: Subscription[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private lastPacketAt = Date.now();

  constructor(private readonly o: ForkSessionOptions) {}

  get id(): string {
    return this.o.id;
  }

  /** RTP packets received per track so far. */
  get packets(): Record<string, number> {
    return Object.fromEntries(this.subscriptions.map((s) => [s.party.track, s.packets]));
  }

  async start(): Promise<void> {
    try {
      for (const party of this.o.parties) await this.subscribe(party);
    } catch (err) {
      await this.close('subscribe failed');
      throw err;
    }
    if (this.state !== 'starting') return;
    this.state = 'running';
    this.o.stream.start();
    this.idleTimer = setInterval(
      () => {
        if (Date.now() - this.lastPacketAt > this.o.idleMs) void this.close('no media from the relay');
      },
      Math.min(this.o.idleMs, 5000),
    );
    this.idleTimer.unref();
  }

  /** Idempotent: ends the subscriptions on the relay, the sockets and the AI stream. */
  async close(reason: string): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    this.o.stream.close(reason);
    const subs = this.subscriptions.splice(0);
    for (const s of subs) s.socket.close();
    // The relay drops a call's subscriptions with the call; a failed unsubscribe is harmless.
    await Promise.all(
      subs.map((s) =>
        this.o.relay.unsubscribe({ callId: this.o.sipCallId, subscriberTag: s.subscriberTag }).catch(() => undefined),
      ),
    );
    this.o.onClosed(reason);
  }

  private async subscribe(party: ForkParty): Promise<void> {
    const socket = await this.o.openSocket();
    const subscriberTag = `${this.o.id}-${party.track}`;
    const sub: Subscription = { party, subscriberTag, socket, packets: 0 };
    this.subscriptions.push(sub);
    const offered = await this.o.relay.subscribe({
      callId: this.o.sipCallId,
      partyTag: party.tag,
      subscriberTag,
    });
    const offer = parseSdp(offered.sdp);
    const chosen = chooseMedia(offer);
    if (!chosen) throw new TypeError(`the relay offered no G.711 audio for the ${party.track}`);
    const media = offer.media[chosen.index];
    const source = media ? connectionOf(media, offer) : undefined;
    const decode = chosen.payloadType === PCMU ? decodeUlaw : decodeAlaw;
    socket.onDatagram((datagram, address) => {
      // The copy comes from the relay only (RTP bleed: strangers aiming at this port are dropped).
      if (this.state === 'closed' || (source && address !== source.address)) return;
      if (isRtcpPacket(datagram)) return;
      const packet = tryParseRtp(datagram);
      if (typeof packet === 'string' || packet.payloadType !== chosen.payloadType) return;
      sub.packets++;
      this.lastPacketAt = Date.now();
      this.o.stream.audio(party.track, decode(packet.payload));
    });
    await this.o.relay.subscribeAnswer({
      callId: this.o.sipCallId,
      subscriberTag,
      sdp: buildAnswer(offer, chosen, this.o.rtpAddress, socket.localPort),
    });
  }
}
