import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ALAW_DECODE, PCMA } from '../../services/common/src/audio/g711';
import { serializeRtp, tryParseRtp } from '../../services/media-gateway/src/rtp/packet';
import { pcapRtp } from '../../harness/rtp-peer';

/** One G.711 frame: 20 ms at 8 kHz. */
export const FRAME_MS = 20;
export const FRAME_SAMPLES = 160;

/**
 * Frames a caller sends that count as speech: the mean absolute sample of a sent frame
 * is at least SPEECH_LEVEL, and a received frame at least ECHO_LEVEL counts as the echo
 * of one. The gateway's comfort silence is A-law 0xd5 (mean 8), and the tail its
 * downsampler leaves in the first silent frame after speech stays far below ECHO_LEVEL.
 */
export const SPEECH_LEVEL = 600;
export const ECHO_LEVEL = 200;

const ALAW_ABS = Uint16Array.from(ALAW_DECODE, (s) => Math.abs(s));

function meanLevel(payload: Buffer): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum += ALAW_ABS[payload[i]!]!;
  return payload.length > 0 ? sum / payload.length : 0;
}

/**
 * The speech of a capture cut into 20 ms A-law frames, only those loud enough to be
 * told apart from silence after the round trip. SIPp's g711a.pcap carries 30 ms packets
 * (240 samples), so the payloads are joined and re-cut at 160 samples.
 */
export function speechFrames(pcapPath: string): Buffer[] {
  const audio = Buffer.concat(pcapRtp(pcapPath, PCMA.payloadType).map((p) => p.payload));
  const frames: Buffer[] = [];
  for (let at = 0; at + FRAME_SAMPLES <= audio.length; at += FRAME_SAMPLES) {
    const frame = Buffer.from(audio.subarray(at, at + FRAME_SAMPLES));
    if (meanLevel(frame) >= SPEECH_LEVEL) frames.push(frame);
  }
  if (frames.length < 50) throw new Error(`${pcapPath}: only ${frames.length} speech frames`);
  return frames;
}

/**
 * |inter-arrival − 20 ms| samples, in 0.05 ms bins up to 250 ms (beyond counts in the
 * last bin): millions of packets without keeping them.
 */
export class DeviationHistogram {
  private static readonly BIN_MS = 0.05;
  private readonly bins = new Float64Array(5000);
  count = 0;

  add(ms: number): void {
    const i = Math.min(this.bins.length - 1, Math.floor(ms / DeviationHistogram.BIN_MS));
    this.bins[i]! += 1;
    this.count++;
  }

  /** The p-th percentile (upper edge of its bin), NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const target = (p / 100) * this.count;
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i]!;
      if (seen >= target) return (i + 1) * DeviationHistogram.BIN_MS;
    }
    return this.bins.length * DeviationHistogram.BIN_MS;
  }
}

/** Where a call's media goes: the relay's address and port from the 200 OK. */
export interface RelayTarget {
  readonly address: string;
  readonly port: number;
}

/** Cumulative counters of one peer; a window is the difference of two snapshots. */
export interface PeerCounters {
  /** Frames sent. */
  readonly sent: number;
  /** RTP packets of the caller's codec received. */
  readonly received: number;
  /** Received frames loud enough to be the echo of a sent one. */
  readonly echoed: number;
  /** Extended highest sequence number received (RFC 3550 §A.1), -1 before any. */
  readonly highestSeq: number;
}

/**
 * The caller's media side of one bench call: a UDP socket whose port the INVITE's SDP
 * names. It sends the speech frames in a loop when the driver says so and counts what
 * comes back, with the inter-arrival deviation of consecutive packets while `jitter`
 * is set.
 */
export class MediaPeer {
  private relay: RelayTarget | null = null;
  private connected = false;
  /** Whether the driver sends this call's frames (between its 200 OK and its BYE). */
  sending = false;
  private sent = 0;
  private received = 0;
  private echoed = 0;
  private cycles = 0;
  private lastSeq = -1;
  private highest = -1;
  private lastArrival = 0;
  private readonly ssrc = (Math.random() * 0x1_0000_0000) >>> 0;
  private seq = Math.floor(Math.random() * 0x10000);
  private timestamp = (Math.random() * 0x1_0000_0000) >>> 0;
  private frame: number;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    private readonly frames: readonly Buffer[],
    private readonly jitter: { histogram: DeviationHistogram | null },
  ) {
    this.frame = Math.floor(Math.random() * frames.length);
    socket.on('message', (datagram) => this.receive(datagram));
    // A call torn down under us answers with ICMP port unreachable: not an error here.
    socket.on('error', () => undefined);
  }

  /** Binds the first free even port from `from` upwards (below `to`). */
  static async open(
    from: number,
    to: number,
    frames: readonly Buffer[],
    jitter: { histogram: DeviationHistogram | null },
  ): Promise<MediaPeer> {
    for (let port = from; port < to; port += 2) {
      const socket = createSocket('udp4');
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) return new MediaPeer(socket, port, frames, jitter);
      socket.close();
    }
    throw new Error(`no free UDP port in ${from}-${to}`);
  }

  /** Where the call's media goes (from its 200 OK); the socket is connect()ed to it, so sends skip dgram's address lookup. */
  get target(): RelayTarget | null {
    return this.relay;
  }

  set target(target: RelayTarget | null) {
    if (this.relay !== null || target === null) throw new TypeError('a bench call gets its relay port once');
    this.relay = target;
    this.socket.connect(target.port, target.address, () => (this.connected = true));
  }

  get counters(): PeerCounters {
    return { sent: this.sent, received: this.received, echoed: this.echoed, highestSeq: this.highest };
  }

  /** Sends the next 20 ms frame to the relay. */
  sendFrame(): void {
    if (!this.connected || !this.sending) return;
    const payload = this.frames[this.frame] as Buffer;
    this.frame = (this.frame + 1) % this.frames.length;
    const datagram = serializeRtp({
      marker: this.sent === 0,
      payloadType: PCMA.payloadType,
      sequence: this.seq,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
      payload,
    });
    this.seq = (this.seq + 1) & 0xffff;
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
    this.sent++;
    this.socket.send(datagram);
  }

  close(): void {
    this.sending = false;
    this.socket.close();
  }

  private receive(datagram: Buffer): void {
    const now = performance.now();
    const packet = tryParseRtp(datagram);
    if (typeof packet === 'string' || packet.payloadType !== PCMA.payloadType) return;
    this.received++;
    if (meanLevel(packet.payload) >= ECHO_LEVEL) this.echoed++;
    const seq = packet.sequence;
    // RFC 3550 §A.1: a sequence number far below the last one wrapped around.
    if (this.lastSeq >= 0 && seq < this.lastSeq && this.lastSeq - seq > 0x8000) this.cycles += 0x10000;
    const extended = this.cycles + seq;
    if (extended > this.highest) this.highest = extended;
    const histogram = this.jitter.histogram;
    if (histogram && this.lastSeq >= 0 && seq === ((this.lastSeq + 1) & 0xffff))
      histogram.add(Math.abs(now - this.lastArrival - FRAME_MS));
    this.lastSeq = seq;
    this.lastArrival = now;
  }
}

export interface DriverStats {
  /** Send slots run. */
  readonly slots: number;
  /** Slots that ran more than 5 ms after their deadline: the bench itself was late. */
  readonly lateSlots: number;
  readonly maxLateMs: number;
}

/**
 * The one clock every bench caller sends on. Each 20 ms period is split into `phases`
 * slots and call i sends in slot i mod phases, so the callers are not all in phase
 * (real ones are not) and no single burst blocks the bench's receive path for long.
 * Deadlines count from the start (slot k at start + k·20/phases ms), so lateness never
 * accumulates into drift; a late wake-up runs every slot that is due.
 */
export class PeerDriver {
  private timer: NodeJS.Timeout | null = null;
  private startMs = 0;
  private next = 0;
  private slots = 0;
  private lateSlots = 0;
  private maxLateMs = 0;

  constructor(
    private readonly peers: readonly MediaPeer[],
    private readonly phases = 4,
  ) {}

  start(): void {
    if (this.timer) return;
    this.startMs = performance.now();
    this.next = 0;
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Lateness since the last reset; `reset` starts a fresh count (at a window's start). */
  stats(reset = false): DriverStats {
    const s = { slots: this.slots, lateSlots: this.lateSlots, maxLateMs: this.maxLateMs };
    if (reset) {
      this.slots = 0;
      this.lateSlots = 0;
      this.maxLateMs = 0;
    }
    return s;
  }

  private get slotMs(): number {
    return FRAME_MS / this.phases;
  }

  private arm(): void {
    const due = this.startMs + this.next * this.slotMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - performance.now()));
  }

  private fire(): void {
    if (!this.timer) return;
    const now = performance.now();
    while (this.startMs + this.next * this.slotMs <= now) {
      const late = now - (this.startMs + this.next * this.slotMs);
      if (late > 5) this.lateSlots++;
      if (late > this.maxLateMs) this.maxLateMs = late;
      const phase = this.next % this.phases;
      for (let i = phase; i < this.peers.length; i += this.phases) this.peers[i]!.sendFrame();
      this.slots++;
      this.next++;
    }
    this.arm();
  }
}
