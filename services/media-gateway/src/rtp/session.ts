import { randomBytes } from 'node:crypto';
import type { RtpPacket } from './packet';

/** 16-bit sequence space (RFC 3550 A.1 `RTP_SEQ_MOD`). */
export const RTP_SEQ_MOD = 0x10000;
const TIMESTAMP_MOD = 0x1_0000_0000;

/** A random unsigned 32-bit integer from the OS CSPRNG (RFC 3550 §8.1 asks for a good one for SSRCs). */
export function randomUint32(): number {
  return randomBytes(4).readUInt32BE(0);
}

export interface RtpSenderOptions {
  readonly payloadType: number;
  /** Media clock rate in Hz; 8000 for G.711 and telephone-event (RFC 3551 §4.5.14, RFC 4733 §2.1). */
  readonly clockRate?: number;
  /** Samples one frame advances the timestamp: 20 ms by default (160 at 8 kHz). */
  readonly samplesPerFrame?: number;
  /** Fixed values for tests; each defaults to a random one as §5.1 asks. */
  readonly ssrc?: number;
  readonly initialSequence?: number;
  readonly initialTimestamp?: number;
  readonly random?: () => number;
}

/** The fields a caller chooses for a packet the sender numbers (see {@link RtpSender.send}). */
export interface RtpPacketFields {
  readonly payloadType: number;
  readonly timestamp: number;
  readonly marker: boolean;
  readonly payload: Buffer;
}

/**
 * The sending half of one RTP stream: SSRC, sequence numbers, the media clock
 * and the marker bit. Pure state; the socket is the caller's.
 *
 * RFC 3550 §5.1: SSRC, initial sequence number and initial timestamp are random.
 * The timestamp counts samples, so each 20 ms G.711 frame advances it by 160.
 * RFC 3551 §4.1: the first packet of a talkspurt (after a period in which no
 * packets were sent while the clock ran on) carries the marker bit; this sender
 * also marks the very first packet, as most phones do.
 */
export class RtpSender {
  readonly ssrc: number;
  readonly clockRate: number;
  readonly samplesPerFrame: number;
  private payloadTypeValue: number;
  private sequence: number;
  private mediaTimestamp: number;
  private talkspurtStart = true;
  private packets = 0;
  private octets = 0;

  constructor(options: RtpSenderOptions) {
    const random = options.random ?? randomUint32;
    this.clockRate = options.clockRate ?? 8000;
    this.samplesPerFrame = options.samplesPerFrame ?? (this.clockRate * 20) / 1000;
    this.payloadTypeValue = checkPayloadType(options.payloadType);
    this.ssrc = (options.ssrc ?? random()) >>> 0;
    this.sequence = (options.initialSequence ?? random()) & 0xffff;
    this.mediaTimestamp = (options.initialTimestamp ?? random()) >>> 0;
  }

  /** The payload type {@link frame} uses; a re-INVITE may change the codec. */
  get payloadType(): number {
    return this.payloadTypeValue;
  }

  set payloadType(value: number) {
    this.payloadTypeValue = checkPayloadType(value);
  }

  /** RTP timestamp of the next frame: the sender's media clock now. */
  get timestamp(): number {
    return this.mediaTimestamp;
  }

  /** Sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.sequence;
  }

  /** RFC 3550 §6.4.1 sender's packet count. */
  get packetsSent(): number {
    return this.packets;
  }

  /** RFC 3550 §6.4.1 sender's octet count (payload octets only). */
  get octetsSent(): number {
    return this.octets;
  }

  /** The next media frame at the current media time; the clock then advances by `samples`. */
  frame(payload: Buffer, samples = this.samplesPerFrame): RtpPacket {
    const packet = this.send({
      payloadType: this.payloadTypeValue,
      timestamp: this.mediaTimestamp,
      marker: this.talkspurtStart,
      payload,
    });
    this.talkspurtStart = false;
    this.advance(samples);
    return packet;
  }

  /**
   * Media time passes with nothing sent (silence suppressed, on hold, or the
   * ticks a telephone-event occupied); the next frame starts a new talkspurt.
   */
  silence(samples = this.samplesPerFrame): void {
    this.talkspurtStart = true;
    this.advance(samples);
  }

  /**
   * A packet whose timestamp and marker the caller decides, e.g. an RFC 4733
   * event, which carries the event's start time in every packet (§2.5.1.1). It
   * takes the next sequence number and does not move the media clock.
   */
  send(fields: RtpPacketFields): RtpPacket {
    const packet: RtpPacket = {
      marker: fields.marker,
      payloadType: checkPayloadType(fields.payloadType),
      sequence: this.sequence,
      timestamp: fields.timestamp >>> 0,
      ssrc: this.ssrc,
      payload: fields.payload,
    };
    this.sequence = (this.sequence + 1) & 0xffff;
    this.packets += 1;
    this.octets += fields.payload.length;
    return packet;
  }

  private advance(samples: number): void {
    if (!Number.isInteger(samples) || samples < 0)
      throw new TypeError(`samples must be a non-negative integer, got ${samples}`);
    this.mediaTimestamp = (this.mediaTimestamp + samples) % TIMESTAMP_MOD;
  }
}

function checkPayloadType(pt: number): number {
  if (!Number.isInteger(pt) || pt < 0 || pt > 127) throw new TypeError(`payload type must be 0..127, got ${pt}`);
  return pt;
}

export interface RtpReceiverStatsOptions {
  readonly clockRate?: number;
  /** RFC 3550 A.1 MAX_DROPOUT: a forward jump larger than this needs confirming. */
  readonly maxDropout?: number;
  /** RFC 3550 A.1 MAX_MISORDER: how far behind the highest a packet may be and still count. */
  readonly maxMisorder?: number;
  /**
   * RFC 3550 A.1 MIN_SEQUENTIAL: in-sequence packets required before a new source
   * is valid. The appendix uses 2; the default here is 1 (the first packet counts),
   * because the relay in front of the gateway already anchors the source.
   */
  readonly minSequential?: number;
  /**
   * Payload types counted for loss but left out of jitter: RFC 4733 §2.5.1.1 events
   * repeat their start timestamp, which would read as jitter.
   */
  readonly nonMediaPayloadTypes?: readonly number[];
}

/**
 * What {@link RtpReceiverStats.update} made of a packet:
 * - `ok`: in order (possibly after a gap);
 * - `reordered`: behind the highest sequence number but new;
 * - `duplicate`: seen before; drop it;
 * - `probation`: the source is not yet valid (minSequential); drop it;
 * - `jump`: more than maxDropout ahead (or far behind); dropped until the next packet confirms it;
 * - `restart`: the jump was confirmed, the sender restarted its sequence; statistics start over;
 * - `new-source`: the first packet of a (new) SSRC; statistics start over.
 */
export type RtpReceiveVerdict = 'ok' | 'reordered' | 'duplicate' | 'probation' | 'jump' | 'restart' | 'new-source';

/** Receiver statistics of one source (RFC 3550 §6.4.1 fields and a few more). */
export interface RtpReceptionStats {
  readonly ssrc: number | undefined;
  /** Distinct packets received (duplicates are not counted, see {@link RtpReceiverStats}). */
  readonly packetsReceived: number;
  readonly octetsReceived: number;
  /** Cycles × 65536 + highest sequence number (A.1 `cycles + max_seq`). */
  readonly extendedHighestSequence: number;
  readonly expected: number;
  /** expected − received (A.3); negative only when packets from before the first one arrive. */
  readonly cumulativeLost: number;
  /** Lost since the last {@link RtpReceiverStats.report}, as a fraction 0..1. */
  readonly fractionLost: number;
  /** Interarrival jitter (A.8) in timestamp units and in milliseconds. */
  readonly jitter: number;
  readonly jitterMs: number;
  readonly duplicates: number;
  readonly reordered: number;
}

/** The fields of an RTCP reception report block (RFC 3550 §6.4.1) this object owns. */
export interface ReceptionReportBlock {
  readonly ssrc: number;
  /** Fixed point, the fraction × 256, 0..255. */
  readonly fractionLost: number;
  /** Clamped to the 24-bit signed field. */
  readonly cumulativeLost: number;
  readonly extendedHighestSequence: number;
  readonly jitter: number;
}

// Slots of the duplicate window: more than maxMisorder so a slot is not reused inside the window.
const SEEN_WINDOW = 1024;

/**
 * Receiver statistics for one RTP source, after RFC 3550 Appendix A.1 (sequence
 * validation, extended highest sequence number), A.3 (expected, lost, fraction
 * lost) and A.8 (interarrival jitter).
 *
 * Deviation, written down: A.1 counts duplicates as received, so cumulative
 * loss can go negative (§6.4.1 notes it). Here duplicates are detected with a
 * window of recently seen sequence numbers, counted apart and not as received,
 * so loss stays an honest count.
 */
export class RtpReceiverStats {
  private readonly clockRate: number;
  private readonly maxDropout: number;
  private readonly maxMisorder: number;
  private readonly minSequential: number;
  private readonly nonMedia: ReadonlySet<number>;

  private ssrc: number | undefined;
  private probation = 0;
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private received = 0;
  private octets = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private duplicates = 0;
  private reordered = 0;
  private readonly seen = new Float64Array(SEEN_WINDOW).fill(-1);

  private jitter = 0;
  private lastTransitArrival = NaN;
  private lastTransitTimestamp = 0;

  constructor(options: RtpReceiverStatsOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    this.maxDropout = options.maxDropout ?? 3000;
    this.maxMisorder = options.maxMisorder ?? 100;
    this.minSequential = Math.max(1, options.minSequential ?? 1);
    this.nonMedia = new Set(options.nonMediaPayloadTypes ?? []);
    if (this.maxMisorder >= SEEN_WINDOW) throw new TypeError(`maxMisorder must be below ${SEEN_WINDOW}`);
  }

  /** Accounts for one arriving packet; `arrivalMs` on any monotonic millisecond clock. */
  update(
    packet: Pick<RtpPacket, 'sequence' | 'timestamp' | 'ssrc' | 'payloadType' | 'payload'>,
    arrivalMs: number,
  ): RtpReceiveVerdict {
    const seq = packet.sequence;
    if (packet.ssrc !== this.ssrc) {
      this.startSource(packet.ssrc, seq);
      if (this.probation > 0) return 'probation';
      this.accept(packet, seq, arrivalMs);
      return 'new-source';
    }

    const udelta = (seq - this.maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
    if (this.probation > 0) {
      // A.1: the source becomes valid after minSequential packets in sequence.
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation -= 1;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSequence(seq);
          this.accept(packet, seq, arrivalMs);
          return 'ok';
        }
      } else {
        this.probation = this.minSequential - 1;
        this.maxSeq = seq;
      }
      return 'probation';
    }

    let verdict: RtpReceiveVerdict;
    if (udelta === 0) {
      this.duplicates += 1;
      return 'duplicate';
    } else if (udelta < this.maxDropout) {
      // In order, with a permissible gap.
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
      verdict = 'ok';
    } else if (udelta <= RTP_SEQ_MOD - this.maxMisorder) {
      // A very large jump: believe it only when the next packet follows it.
      if (seq === this.badSeq) {
        this.initSequence(seq);
        this.accept(packet, seq, arrivalMs);
        return 'restart';
      }
      this.badSeq = (seq + 1) & 0xffff;
      return 'jump';
    } else {
      verdict = 'reordered';
    }

    const extended = this.extend(seq);
    if (this.seen[extended % SEEN_WINDOW] === extended) {
      this.duplicates += 1;
      return 'duplicate';
    }
    if (verdict === 'reordered') this.reordered += 1;
    this.accept(packet, seq, arrivalMs);
    return verdict;
  }

  snapshot(): RtpReceptionStats {
    const extendedHighestSequence = this.cycles + this.maxSeq;
    const expected = this.ssrc === undefined ? 0 : extendedHighestSequence - this.baseSeq + 1;
    const expectedInterval = expected - this.expectedPrior;
    const lostInterval = expectedInterval - (this.received - this.receivedPrior);
    return {
      ssrc: this.ssrc,
      packetsReceived: this.received,
      octetsReceived: this.octets,
      extendedHighestSequence,
      expected,
      cumulativeLost: expected - this.received,
      fractionLost: expectedInterval > 0 && lostInterval > 0 ? lostInterval / expectedInterval : 0,
      jitter: this.jitter,
      jitterMs: (this.jitter * 1000) / this.clockRate,
      duplicates: this.duplicates,
      reordered: this.reordered,
    };
  }

  /** A reception report block (A.3) for this source; starts a new reporting interval. */
  report(): ReceptionReportBlock | undefined {
    if (this.ssrc === undefined) return undefined;
    const s = this.snapshot();
    const expectedInterval = s.expected - this.expectedPrior;
    const lostInterval = expectedInterval - (this.received - this.receivedPrior);
    this.expectedPrior = s.expected;
    this.receivedPrior = this.received;
    return {
      ssrc: this.ssrc,
      fractionLost:
        expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval),
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, s.cumulativeLost)),
      extendedHighestSequence: s.extendedHighestSequence % TIMESTAMP_MOD,
      jitter: Math.floor(this.jitter),
    };
  }

  private startSource(ssrc: number, seq: number): void {
    this.ssrc = ssrc;
    this.jitter = 0;
    this.lastTransitArrival = NaN;
    this.duplicates = 0;
    this.reordered = 0;
    this.octets = 0;
    this.seen.fill(-1);
    this.initSequence(seq);
    this.maxSeq = seq;
    this.probation = this.minSequential - 1;
  }

  /** A.1 init_seq. */
  private initSequence(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
    this.seen.fill(-1);
  }

  /** Extended sequence number of `seq` relative to the highest seen (it may be just behind, across a wrap). */
  private extend(seq: number): number {
    let extended = this.cycles + seq;
    if (seq > this.maxSeq && seq - this.maxSeq > RTP_SEQ_MOD / 2) extended -= RTP_SEQ_MOD;
    return extended;
  }

  private accept(
    packet: Pick<RtpPacket, 'timestamp' | 'payloadType' | 'payload'>,
    seq: number,
    arrivalMs: number,
  ): void {
    const extended = this.extend(seq);
    this.seen[extended % SEEN_WINDOW] = extended;
    this.received += 1;
    this.octets += packet.payload.length;
    if (this.nonMedia.has(packet.payloadType)) return;

    // A.8: transit = arrival − timestamp, both in timestamp units; J += (|D| − J)/16.
    // D is taken as a difference of differences so 32-bit timestamp wrap cancels.
    const arrival = (arrivalMs * this.clockRate) / 1000;
    if (!Number.isNaN(this.lastTransitArrival)) {
      const timestampDelta = signed32(packet.timestamp - this.lastTransitTimestamp);
      const d = Math.abs(arrival - this.lastTransitArrival - timestampDelta);
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastTransitArrival = arrival;
    this.lastTransitTimestamp = packet.timestamp;
  }
}

/**
 * The difference of two 32-bit RTP timestamps (or extended sequence numbers) read as
 * a signed 32-bit number: serial-number arithmetic (RFC 1982 §3.2), so a timestamp
 * just past the 2^32 wrap (RFC 3550 §5.1) counts as after the one just before it.
 */
export function signed32(delta: number): number {
  return delta | 0;
}
