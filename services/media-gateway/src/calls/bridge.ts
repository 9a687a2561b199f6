import { isRtcpPacket } from '../rtp/packet';
import type { MediaLeg, RtpSocket } from './media-leg';

/**
 * A leg's RTP socket that a bridge can take over: while `divert` is set, datagrams
 * go to it instead of the media leg, and the leg's own packets are not sent (the
 * bridge forwards the other side's instead). The media leg never notices.
 */
export class SwitchableSocket implements RtpSocket {
  private legListener: ((datagram: Buffer, address: string, port: number) => void) | null = null;
  private diverted: ((datagram: Buffer) => void) | null = null;

  constructor(private readonly inner: RtpSocket) {
    inner.onDatagram((datagram, address, port) => {
      if (this.diverted) this.diverted(datagram);
      else this.legListener?.(datagram, address, port);
    });
  }

  get localPort(): number {
    return this.inner.localPort;
  }

  send(datagram: Buffer, port: number, address: string): void {
    if (!this.diverted) this.inner.send(datagram, port, address);
  }

  onDatagram(listener: (datagram: Buffer, address: string, port: number) => void): void {
    this.legListener = listener;
  }

  /** Sends a datagram whatever the diversion (the bridge's own path out). */
  sendRaw(datagram: Buffer, port: number, address: string): void {
    this.inner.send(datagram, port, address);
  }

  divert(listener: ((datagram: Buffer) => void) | null): void {
    this.diverted = listener;
  }

  close(): void {
    this.diverted = null;
    this.inner.close();
  }
}

/** One side of a bridge: its media leg, its socket, what was negotiated on it, where it sends. */
export interface BridgeSide {
  readonly leg: MediaLeg;
  readonly socket: SwitchableSocket;
  readonly codecPt: number;
  readonly telephoneEventPt: number | null;
  readonly remote: () => { address: string; port: number };
}

export type BridgeMode = 'relay' | 'transcode';

export interface BridgeStats {
  /** Datagrams relayed unchanged but for the payload type (relay mode), per direction. */
  relayedAtoB: number;
  relayedBtoA: number;
  /** Datagrams of a payload type the other side did not negotiate (dropped). */
  dropped: number;
}

/**
 * Joins two call legs' media. When both sides agreed the same G.711 codec the
 * bridge relays RTP as it comes (an RTP translator, RFC 3550 §7.1: SSRC, sequence
 * numbers and timestamps pass through; only the telephone-event payload type is
 * mapped when the sides chose different ones), so no jitter buffer or codec adds
 * delay. Otherwise it goes through PCM: each leg's decoded 20 ms frames are played
 * out on the other leg, which encodes them in its own codec, and key presses are
 * re-sent as RFC 4733 events. RTCP is not forwarded: each leg's reports describe
 * a hop the other side never sees.
 */
export class MediaBridge {
  readonly mode: BridgeMode;
  readonly stats: BridgeStats = { relayedAtoB: 0, relayedBtoA: 0, dropped: 0 };
  private closed = false;

  constructor(
    private readonly a: BridgeSide,
    private readonly b: BridgeSide,
  ) {
    this.mode = a.codecPt === b.codecPt ? 'relay' : 'transcode';
    if (this.mode === 'relay') {
      a.socket.divert((d) => this.relay(d, a, b, 'relayedAtoB'));
      b.socket.divert((d) => this.relay(d, b, a, 'relayedBtoA'));
    } else {
      this.transcode(a, b);
      this.transcode(b, a);
    }
  }

  /** Stops bridging; the legs and sockets stay their owners'. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.a.socket.divert(null);
    this.b.socket.divert(null);
  }

  private relay(datagram: Buffer, from: BridgeSide, to: BridgeSide, counter: 'relayedAtoB' | 'relayedBtoA'): void {
    if (this.closed || datagram.length < 12 || isRtcpPacket(datagram)) return;
    const pt = (datagram[1] as number) & 0x7f;
    let mapped: number;
    if (pt === from.codecPt) mapped = to.codecPt;
    else if (from.telephoneEventPt !== null && pt === from.telephoneEventPt && to.telephoneEventPt !== null)
      mapped = to.telephoneEventPt;
    else {
      this.stats.dropped++;
      return;
    }
    if (mapped !== pt) {
      // Copy: the datagram buffer is the socket's, not ours to change.
      datagram = Buffer.from(datagram);
      datagram[1] = ((datagram[1] as number) & 0x80) | mapped;
    }
    this.stats[counter]++;
    const remote = to.remote();
    to.socket.sendRaw(datagram, remote.port, remote.address);
  }

  private transcode(from: BridgeSide, to: BridgeSide): void {
    // The leg reuses its frame array: the other leg's playout queue keeps a copy.
    from.leg.on('audio', (pcm16k) => {
      if (!this.closed) to.leg.playAi(pcm16k.slice());
    });
    from.leg.on('dtmf', (press) => {
      if (!this.closed) to.leg.sendDtmf(press.digit, press.durationMs);
    });
  }
}
