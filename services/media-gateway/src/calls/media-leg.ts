import { EventEmitter } from 'node:events';
import type { G711Codec } from '../../../common/src/audio/g711';
import { Downsampler2x, Upsampler2x } from '../../../common/src/audio/resampler';
import { PlayoutQueue, type MarkAck } from '../media/playout';
import type { StereoWavRecorder } from '../recording/wav';
import { isRtcpPacket, serializeRtp, tryParseRtp, type RtpPacket } from '../rtp/packet';
import { RtpSender } from '../rtp/session';
import { telephoneEventPackets, type TelephoneEventFrame } from '../dtmf/rfc4733';

export const FRAME_SAMPLES_8K = 160;

/** The socket side of a leg: one UDP port, datagrams in and out. */
export interface RtpSocket {
  readonly localPort: number;
  send(datagram: Buffer, port: number, address: string): void;
  onDatagram(listener: (datagram: Buffer, address: string, port: number) => void): void;
  close(): void;
}

/** Output of the jitter buffer for one 20 ms tick. */
export type JitterOutput =
  | { kind: 'frame'; payload: Buffer; timestamp: number; seq: number }
  | { kind: 'lost'; timestamp: number }
  | { kind: 'empty' };

export interface JitterBufferLike {
  push(packet: RtpPacket, arrivalMs: number): void;
  pop(nowMs: number): JitterOutput;
  readonly stats?: { readonly delayMs: number; readonly jitterMs: number };
}

export interface ConcealerLike {
  /** A received frame; returns what to play (merged after a loss), in `out` if given. */
  good(frame: Int16Array, out?: Int16Array): Int16Array;
  /** A lost frame's replacement. */
  lost(): Int16Array;
}

export interface DtmfPress {
  readonly digit: string;
  readonly durationMs: number;
}

export interface InbandDetectorLike {
  process(frame8k: Int16Array): readonly DtmfPress[];
}

export interface TelephoneEventReceiverLike {
  onPacket(packet: RtpPacket, nowMs?: number): DtmfPress | null;
  tick?(nowMs: number): DtmfPress | null;
}

export interface MediaLegDeps {
  readonly socket: RtpSocket;
  readonly codec: G711Codec;
  /** Negotiated telephone-event payload type, if any (RFC 4733). */
  readonly telephoneEventPt: number | null;
  readonly remote: { address: string; port: number };
  readonly jitter: JitterBufferLike;
  readonly concealer: ConcealerLike;
  /**
   * In-band DTMF (Q.23 tones in the audio), or null where the call does not need it:
   * the per-call policy (GATEWAY_INBAND_DTMF) leaves it out when telephone-event was
   * negotiated, since the Goertzel bank is the costliest per-frame work after I/O.
   */
  readonly inband: InbandDetectorLike | null;
  readonly telephoneEvents: TelephoneEventReceiverLike;
  /** Audio for the caller while the AI is away (hold music), 20 ms at 8 kHz per call. */
  readonly holdAudio: () => Int16Array;
  readonly recorder?: StereoWavRecorder | null;
  readonly now: () => number;
}

/** Music on hold, already in the leg's codec: 160 bytes of G.711 per 20 ms tick (moh/library.ts). */
export interface MusicSource {
  next(): Uint8Array;
}

export interface MediaLegStats {
  packetsIn: number;
  packetsOut: number;
  framesToAi: number;
  framesFromAi: number;
  framesLost: number;
  framesConcealed: number;
  badPackets: number;
  dtmfIn: number;
  dtmfOut: number;
}

export interface MediaLegEvents {
  /** 20 ms of the caller, PCM16 16 kHz, for the AI; the array is reused, valid only during the event. */
  audio: [pcm16k: Int16Array, addedLatencyMs: number | null];
  dtmf: [press: DtmfPress, source: 'rfc4733' | 'inband'];
  mark: [ack: MarkAck];
  /** WS in → RTP out: delay from the AI's first audio of an utterance to its first packet. */
  playoutLatency: [ms: number];
}

const NO_PRESSES: readonly DtmfPress[] = [];

// An in-band tone echoing an RFC 4733 event of the same digit is the same press.
const INBAND_DEDUP_MS = 600;

/**
 * The audio of one call between the relay and the AI, driven by the process's shared
 * 20 ms clock (`tick`). In: RTP → jitter buffer → G.711 → loss concealment → DTMF
 * detection → 2× upsampling → the AI. Out: the AI's speech (playout queue) → 2×
 * downsampling → G.711 → RTP, or comfort silence, or hold audio while the AI is away,
 * or music on hold (already G.711) while the gateway holds the caller, or RFC 4733
 * events the AI asked for. Owns its socket; `close()` is idempotent.
 */
export class MediaLeg extends EventEmitter<MediaLegEvents> {
  readonly stats: MediaLegStats = {
    packetsIn: 0,
    packetsOut: 0,
    framesToAi: 0,
    framesFromAi: 0,
    framesLost: 0,
    framesConcealed: 0,
    badPackets: 0,
    dtmfIn: 0,
    dtmfOut: 0,
  };
  private readonly sender: RtpSender;
  private readonly up = new Upsampler2x();
  private readonly down = new Downsampler2x();
  private readonly playout: PlayoutQueue;
  private readonly arrivals = new Map<number, number>();
  private readonly pendingDigits: Array<{ digit: string; durationMs: number }> = [];
  private activeEvent: { frames: TelephoneEventFrame[]; startedAt: number; next: number } | null = null;
  private eventGapUntil = 0;
  private remote: { address: string; port: number };
  private lastRfc4733: { digit: string; at: number } | null = null;
  private aiAway = false;
  private onHold = false;
  private music: MusicSource | null = null;
  private readonly musicPcm = new Int16Array(FRAME_SAMPLES_8K);
  private utteranceArrival: number | null = null;
  private closed = false;
  private readonly silence8k = new Int16Array(FRAME_SAMPLES_8K);
  private readonly silence16k = new Int16Array(FRAME_SAMPLES_8K * 2);
  /** The caller's last 20 ms, for the recording's left channel. */
  private lastInbound: Int16Array = new Int16Array(FRAME_SAMPLES_8K);
  // Per-frame work buffers, reused every tick: at a few hundred calls, a fresh
  // array per frame and direction is what the garbage collector spends its time on.
  private readonly decoded8k = new Int16Array(FRAME_SAMPLES_8K);
  private readonly played8k = new Int16Array(FRAME_SAMPLES_8K);
  private readonly up16k = new Int16Array(FRAME_SAMPLES_8K * 2);
  private readonly ai16k = new Int16Array(FRAME_SAMPLES_8K * 2);
  private readonly down8k = new Int16Array(FRAME_SAMPLES_8K);
  private readonly encoded = new Uint8Array(FRAME_SAMPLES_8K);

  constructor(private readonly deps: MediaLegDeps) {
    super();
    this.remote = deps.remote;
    this.sender = new RtpSender({ payloadType: deps.codec.payloadType });
    this.playout = new PlayoutQueue((ack) => this.emit('mark', ack));
    deps.socket.onDatagram((d) => this.receive(d));
  }

  get localPort(): number {
    return this.deps.socket.localPort;
  }

  /** A re-INVITE moved the far end (or the relay changed ports). */
  setRemote(remote: { address: string; port: number }): void {
    this.remote = remote;
  }

  /** The caller put us on hold (RFC 3264 §8.4): send nothing until resumed. */
  setHold(onHold: boolean): void {
    this.onHold = onHold;
  }

  /**
   * We hold the caller (RFC 3264 §8.4, we send only): the caller hears `music`, sent
   * as it is (encoded once for every call that plays it), in place of the AI; null
   * ends it. What the AI had queued is dropped: it spoke to a caller no longer there.
   */
  setMusic(music: MusicSource | null): void {
    if (music && !this.music) this.clear();
    this.music = music;
  }

  /** While the AI's socket is down, the caller hears hold audio instead of silence. */
  setAiAway(away: boolean): void {
    this.aiAway = away;
  }

  playAi(pcm16k: Int16Array): void {
    if (this.playout.queuedMs === 0 && this.utteranceArrival === null) this.utteranceArrival = this.deps.now();
    this.playout.push(pcm16k);
  }

  mark(name: string): void {
    this.playout.mark(name);
  }

  /** Barge-in: the next tick plays no more of what was queued. */
  clear(): void {
    this.playout.clear();
    // Drop the filter's memory too, so not even its tail of the cut speech plays.
    this.down.reset();
    this.utteranceArrival = null;
  }

  get playoutQueuedMs(): number {
    return this.playout.queuedMs;
  }

  get jitterDelayMs(): number {
    return this.deps.jitter.stats?.delayMs ?? 0;
  }

  /** Queues RFC 4733 key presses (the AI's send_dtmf); false without a negotiated telephone-event. */
  sendDtmf(digits: string, durationMs = 100): boolean {
    if (this.deps.telephoneEventPt === null) return false;
    for (const digit of digits) this.pendingDigits.push({ digit, durationMs });
    return true;
  }

  /** One 20 ms period of the shared clock. */
  tick(nowMs: number): void {
    if (this.closed) return;
    this.inbound(nowMs);
    this.outbound(nowMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deps.socket.close();
    this.arrivals.clear();
    this.removeAllListeners();
  }

  private receive(datagram: Buffer): void {
    // RTCP arrives here too with rtcp-mux (RFC 5761 §4); reports are not used yet.
    if (isRtcpPacket(datagram)) return;
    const packet = tryParseRtp(datagram);
    if (typeof packet === 'string') {
      this.stats.badPackets++;
      return;
    }
    this.stats.packetsIn++;
    const now = this.deps.now();
    if (this.deps.telephoneEventPt !== null && packet.payloadType === this.deps.telephoneEventPt) {
      const press = this.deps.telephoneEvents.onPacket(packet, now);
      if (press) this.reportRfc4733(press, now);
      // The jitter buffer notes the event's sequence numbers, so the audio pause while
      // a key is down is not taken for loss.
      this.deps.jitter.push(packet, now);
      return;
    }
    if (packet.payloadType !== this.deps.codec.payloadType) {
      this.stats.badPackets++;
      return;
    }
    this.arrivals.set(packet.timestamp, now);
    if (this.arrivals.size > 500) this.arrivals.delete(this.arrivals.keys().next().value as number);
    this.deps.jitter.push(packet, now);
  }

  private reportRfc4733(press: DtmfPress, now: number): void {
    this.lastRfc4733 = { digit: press.digit, at: now };
    this.stats.dtmfIn++;
    this.emit('dtmf', press, 'rfc4733');
  }

  private inbound(now: number): void {
    const timeout = this.deps.telephoneEvents.tick?.(now);
    if (timeout) this.reportRfc4733(timeout, now);

    const out = this.deps.jitter.pop(now);
    let pcm8: Int16Array;
    let latency: number | null = null;
    if (out.kind === 'frame') {
      const payload = out.payload;
      // A frame of another length (a ptime the SDP did not ask for) gets its own array.
      const into = payload.length === FRAME_SAMPLES_8K ? this.decoded8k : undefined;
      pcm8 = this.deps.concealer.good(this.deps.codec.decode(payload, into), into && this.played8k);
      const arrived = this.arrivals.get(out.timestamp);
      if (arrived !== undefined) {
        latency = now - arrived;
        this.arrivals.delete(out.timestamp);
      }
    } else if (out.kind === 'lost') {
      pcm8 = this.deps.concealer.lost();
      this.stats.framesLost++;
      this.stats.framesConcealed++;
    } else {
      pcm8 = this.silence8k;
    }

    const presses = this.deps.inband?.process(pcm8) ?? NO_PRESSES;
    for (const press of presses) {
      const rfc = this.lastRfc4733;
      if (rfc && rfc.digit === press.digit && now - rfc.at < INBAND_DEDUP_MS + press.durationMs) continue;
      this.stats.dtmfIn++;
      this.emit('dtmf', press, 'inband');
    }
    this.lastInbound = pcm8;
    this.stats.framesToAi++;
    this.emit('audio', this.up.process(pcm8, pcm8.length === FRAME_SAMPLES_8K ? this.up16k : undefined), latency);
  }

  private outbound(now: number): void {
    if (this.sendingEvent(now)) {
      // The event replaces audio for its duration (RFC 4733 §2.5.1.1); media time runs on.
      this.sender.silence();
      this.deps.recorder?.write(this.lastInbound, this.silence8k);
      return;
    }
    if (this.music) {
      this.sendMusic(this.music);
      return;
    }
    let ai = this.playout.nextFrame(this.ai16k);
    if (ai && this.utteranceArrival !== null) {
      this.emit('playoutLatency', now - this.utteranceArrival);
      this.utteranceArrival = null;
    }
    if (!ai && this.playout.queuedMs === 0) this.utteranceArrival = null;
    let pcm8: Int16Array;
    if (ai) {
      this.stats.framesFromAi++;
      pcm8 = this.down.process(ai, this.downInto(ai.length));
    } else if (this.aiAway) {
      pcm8 = this.deps.holdAudio();
      ai = this.silence16k;
    } else {
      // Comfort silence: keep the stream (and the relay's and NATs' state) alive.
      pcm8 = this.down.process(this.silence16k, this.downInto(this.silence16k.length));
    }
    this.deps.recorder?.write(this.lastInbound, pcm8);
    if (this.onHold) {
      this.sender.silence();
      return;
    }
    const encoded = this.deps.codec.encode(pcm8, pcm8.length === FRAME_SAMPLES_8K ? this.encoded : undefined);
    this.transmit(this.sender.frame(Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)));
  }

  private sendMusic(music: MusicSource): void {
    const payload = music.next();
    if (this.deps.recorder) this.deps.recorder.write(this.lastInbound, this.deps.codec.decode(payload, this.musicPcm));
    if (this.onHold) {
      this.sender.silence();
      return;
    }
    this.transmit(this.sender.frame(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)));
  }

  /** The reused 8 kHz buffer when a 20 ms frame comes out of the downsampler, else a fresh one. */
  private downInto(length16k: number): Int16Array | undefined {
    return this.down.outputLength(length16k) === FRAME_SAMPLES_8K ? this.down8k : undefined;
  }

  /** Sends the due packets of the current RFC 4733 event; true while an event is on. */
  private sendingEvent(now: number): boolean {
    if (!this.activeEvent) {
      const next = now >= this.eventGapUntil ? this.pendingDigits.shift() : undefined;
      if (!next || this.deps.telephoneEventPt === null) return false;
      const frames = telephoneEventPackets(next.digit, next.durationMs, {
        payloadType: this.deps.telephoneEventPt,
        timestamp: this.sender.timestamp,
      });
      this.activeEvent = { frames, startedAt: now, next: 0 };
      this.stats.dtmfOut++;
    }
    const ev = this.activeEvent;
    while (ev.next < ev.frames.length && (ev.frames[ev.next] as TelephoneEventFrame).offsetMs <= now - ev.startedAt) {
      const f = ev.frames[ev.next++] as TelephoneEventFrame;
      this.transmit(
        this.sender.send({ payloadType: f.payloadType, timestamp: f.timestamp, marker: f.marker, payload: f.payload }),
      );
    }
    if (ev.next >= ev.frames.length) {
      this.activeEvent = null;
      // Distinct presses need a pause between them (RFC 4733 §2.5.1.2; Q.24 ≥ 40 ms).
      this.eventGapUntil = now + 60;
    }
    return true;
  }

  private transmit(packet: RtpPacket): void {
    this.stats.packetsOut++;
    this.deps.socket.send(serializeRtp(packet), this.remote.port, this.remote.address);
  }
}
