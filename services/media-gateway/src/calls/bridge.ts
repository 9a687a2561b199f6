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
  /** The header of the last RTP packet sent, so a relayed stream can continue it. */
  lastSent: { ssrc: number; sequence: number; timestamp: number; atMs: number } | null = null;

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
    if (this.diverted) return;
    this.note(datagram);
    this.inner.send(datagram, port, address);
  }

  onDatagram(listener: (datagram: Buffer, address: string, port: number) => void): void {
    this.legListener = listener;
  }

  /** Sends a datagram whatever the diversion (the bridge's own path out). */
  sendRaw(datagram: Buffer, port: number, address: string): void {
    this.note(datagram);
    this.inner.send(datagram, port, address);
  }

  private note(datagram: Buffer): void {
    if (datagram.length < 12 || isRtcpPacket(datagram)) return;
    this.lastSent = {
      sequence: datagram.readUInt16BE(2),
      timestamp: datagram.readUInt32BE(4),
      ssrc: datagram.readUInt32BE(8),
      atMs: performance.now(),
    };
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
 * bridge relays RTP as it comes (an RTP translator, RFC 3550 §7.1), so no jitter
 * buffer or codec adds delay: payloads pass untouched, the telephone-event payload
 * type is mapped when the sides chose different ones, and each packet is re-stamped
 * onto the stream the leg was already sending (its SSRC; sequence numbers and
 * timestamps continuing from its last packet, shifted by the source's own steps).
 * Deliberate deviation from a plain translator: the far end sees one continuous
 * stream instead of a new source, since a relay that transcodes (rtpengine) drops
 * packets of a stream whose sequence numbers restart mid-call. Otherwise it goes through PCM: each leg's decoded 20 ms frames are played
 * out on the other leg, which encodes them in its own codec, and key presses are
 * re-sent as RFC 4733 events. RTCP is not forwarded: each leg's reports describe
 * a hop the other side never sees.
 */
export class MediaBridge {
  readonly mode: BridgeMode;
  readonly stats: BridgeStats = { relayedAtoB: 0, relayedBtoA: 0, dropped: 0 };
  private closed = false;
  /** Per direction: the source stream being relayed and its offsets onto the leg's stream. */
  private readonly restamp = new Map<BridgeSide, { ssrc: number; seqOffset: number; tsOffset: number }>();

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
    // Copy: the datagram buffer is the socket's, not ours to change.
    datagram = Buffer.from(datagram);
    datagram[1] = ((datagram[1] as number) & 0x80) | mapped;
    const seq = datagram.readUInt16BE(2);
    const ts = datagram.readUInt32BE(4);
    const ssrc = datagram.readUInt32BE(8);
    let r = this.restamp.get(to);
    if (!r || r.ssrc !== ssrc) {
      // A new source: continue the leg's stream after its last packet, the media clock
      // advanced by the time since (8 kHz, whole 20 ms frames; RFC 3550 §5.1).
      const last = to.socket.lastSent;
      const frames = last ? Math.max(1, Math.round((performance.now() - last.atMs) / 20)) : 1;
      r = last
        ? {
            ssrc,
            seqOffset: (last.sequence + 1 - seq) & 0xffff,
            tsOffset: (last.timestamp + 160 * frames - ts) >>> 0,
          }
        : { ssrc, seqOffset: 0, tsOffset: 0 };
      this.restamp.set(to, r);
    }
    const out = to.socket.lastSent?.ssrc ?? ssrc;
    datagram.writeUInt16BE((seq + r.seqOffset) & 0xffff, 2);
    datagram.writeUInt32BE((ts + r.tsOffset) >>> 0, 4);
    datagram.writeUInt32BE(out >>> 0, 8);
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
