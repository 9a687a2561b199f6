import type { RtpPacket } from '../rtp/packet';
import { signed32, type RtpPacketFields } from '../rtp/session';
import { CatalogueError } from '../../../common/src/errors';

/**
 * RFC 4733 telephone-events (DTMF named events), payload of §2.3:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     event     |E|R| volume    |          duration             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * event: §3.2 code; E: the event has ended; R: reserved (sent 0, ignored);
 * volume: power level in −dBm0, 0..63; duration: in timestamp units, measured
 * from the event's start, which every packet of the event carries as its RTP
 * timestamp (§2.5.1.1).
 */
export const TELEPHONE_EVENT_PAYLOAD_LENGTH = 4;
/** §2.5.1.3: a duration that does not fit in 16 bits needs event segments. */
export const MAX_EVENT_DURATION = 0xffff;

export interface TelephoneEvent {
  readonly event: number;
  readonly end: boolean;
  /** 0..63, meaning 0 to −63 dBm0. */
  readonly volume: number;
  /** Timestamp units since the event began. */
  readonly duration: number;
}

export type DtmfDigit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

/** §3.2 DTMF named events 0–15, in code order. (16 is hook flash: not a digit.) */
const DIGITS: readonly DtmfDigit[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'];

export const RFC4733_ERRORS = {
  ERR_DTMF_TRUNCATED: 'telephone-event payload is shorter than 4 octets',
} as const;

export type Rfc4733ErrorCode = keyof typeof RFC4733_ERRORS;

export class Rfc4733Error extends CatalogueError(RFC4733_ERRORS) {}

/** The digit of a §3.2 event code, or undefined for codes that are not DTMF digits. */
export function eventToDigit(event: number): DtmfDigit | undefined {
  return DIGITS[event];
}

/** The §3.2 event code of a digit (case-insensitive for A–D); TypeError for anything else. */
export function digitToEvent(digit: string): number {
  const index = DIGITS.indexOf(digit.toUpperCase() as DtmfDigit);
  if (index < 0) throw new TypeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return index;
}

/** Whether `value` is one of the sixteen DTMF digits. */
export function isDtmfDigit(value: string): value is DtmfDigit {
  return (DIGITS as readonly string[]).includes(value);
}

/**
 * Reads the first event of a telephone-event payload. (§2.5.1.5 lets a sender
 * pack several short events into one packet; senders of key presses do not,
 * so only the first is read.)
 */
export function parseTelephoneEvent(payload: Buffer): TelephoneEvent {
  if (payload.length < TELEPHONE_EVENT_PAYLOAD_LENGTH)
    throw new Rfc4733Error('ERR_DTMF_TRUNCATED', `telephone-event payload of ${payload.length} octets`);
  const flags = payload[1]!;
  return { event: payload[0]!, end: (flags & 0x80) !== 0, volume: flags & 0x3f, duration: payload.readUInt16BE(2) };
}

export function serializeTelephoneEvent(e: TelephoneEvent): Buffer {
  if (!Number.isInteger(e.event) || e.event < 0 || e.event > 255)
    throw new TypeError(`event must be 0..255, got ${e.event}`);
  if (!Number.isInteger(e.volume) || e.volume < 0 || e.volume > 63)
    throw new TypeError(`volume must be 0..63, got ${e.volume}`);
  if (!Number.isInteger(e.duration) || e.duration < 0 || e.duration > MAX_EVENT_DURATION) {
    throw new TypeError(`duration must be 0..${MAX_EVENT_DURATION}, got ${e.duration}`);
  }
  const out = Buffer.allocUnsafe(TELEPHONE_EVENT_PAYLOAD_LENGTH);
  out[0] = e.event;
  out[1] = (e.end ? 0x80 : 0) | e.volume; // R = 0
  out.writeUInt16BE(e.duration, 2);
  return out;
}

/** One key press, reported once. */
export interface DtmfKeyPress {
  readonly digit: DtmfDigit;
  readonly durationMs: number;
}

export interface TelephoneEventReceiverOptions {
  /** The negotiated telephone-event payload type; other packets are ignored. Unset: every packet is read as an event. */
  readonly payloadType?: number;
  readonly clockRate?: number;
  /**
   * Silence after the last packet of an event before its end is inferred (its end
   * packets were lost). 250 ms by default: five missed updates at §2.5.1.2's 50 ms.
   */
  readonly endTimeoutMs?: number;
  /** Clock for onPacket calls without a time; `Date.now` by default. */
  readonly now?: () => number;
}

interface OngoingEvent {
  readonly ssrc: number;
  /** Timestamp of the current segment; the event's identity together with ssrc and code. */
  timestamp: number;
  readonly event: number;
  /** Duration of segments before the current one (§2.5.1.3). */
  earlierSegments: number;
  duration: number;
  lastPacketMs: number;
  /** An end packet arrived with the largest duration: a further segment may follow. */
  endedAtMax: boolean;
}

interface EndedEvent {
  readonly ssrc: number;
  readonly timestamp: number;
  readonly event: number;
}

const ENDED_MEMORY = 8;
/** How far back (seconds of timestamps) a packet counts as a straggler of the same timeline rather than a new one. */
const STRAGGLER_WINDOW_S = 5;

/**
 * Turns the telephone-event packets of one stream into key presses, each reported
 * exactly once with its duration, at its end:
 *
 * - the end packet is retransmitted three times (§2.5.1.4): later copies are
 *   recognised by (SSRC, timestamp, code) and ignored;
 * - the start packet (marker) may be lost: any packet with a new timestamp
 *   starts an event (§2.5.2.1);
 * - all end packets may be lost: the end is inferred when a new event starts or
 *   when {@link tick} finds no packet for `endTimeoutMs` (§2.5.2.2 leaves the
 *   timeout to the receiver);
 * - a long press split into segments (§2.5.1.3: same code, next segment's
 *   timestamp = previous timestamp + 0xFFFF) is one key press;
 * - late packets of an event already reported are ignored.
 *
 * When two presses complete at once (one ended by the start of the next that is
 * itself already over), the second is returned by the next call of
 * {@link onPacket} or {@link tick}; call tick() every frame tick.
 */
export class TelephoneEventReceiver {
  private readonly payloadType: number | undefined;
  private readonly samplesPerMs: number;
  private readonly stragglerWindow: number;
  private readonly endTimeoutMs: number;
  private readonly now: () => number;
  private current: OngoingEvent | undefined;
  private readonly ended: EndedEvent[] = [];
  private readonly ready: DtmfKeyPress[] = [];
  private malformedPackets = 0;

  constructor(options: TelephoneEventReceiverOptions = {}) {
    this.payloadType = options.payloadType;
    this.samplesPerMs = (options.clockRate ?? 8000) / 1000;
    this.stragglerWindow = STRAGGLER_WINDOW_S * 1000 * this.samplesPerMs;
    this.endTimeoutMs = options.endTimeoutMs ?? 250;
    this.now = options.now ?? Date.now;
  }

  /** Packets too short to hold an event. */
  get malformed(): number {
    return this.malformedPackets;
  }

  /** Feeds one RTP packet; returns a key press that completed, if any. */
  onPacket(packet: RtpPacket, nowMs: number = this.now()): DtmfKeyPress | null {
    if (this.payloadType !== undefined && packet.payloadType !== this.payloadType) return this.next();
    if (packet.payload.length < TELEPHONE_EVENT_PAYLOAD_LENGTH) {
      this.malformedPackets += 1;
      return this.next();
    }
    const e = parseTelephoneEvent(packet.payload);
    const { ssrc, timestamp } = packet;
    if (this.wasReported(ssrc, timestamp, e.event)) return this.next();

    const current = this.current;
    if (current && current.ssrc === ssrc && current.timestamp === timestamp && current.event === e.event) {
      current.duration = Math.max(current.duration, e.duration);
      current.lastPacketMs = nowMs;
      if (e.end) this.endCurrent(e.duration >= MAX_EVENT_DURATION);
      return this.next();
    }

    if (current) {
      if (this.continuesAsSegment(current, ssrc, timestamp, e.event)) {
        // §2.5.1.3: the next segment of the same long press.
        this.remember(current);
        current.earlierSegments += current.duration;
        current.timestamp = timestamp;
        current.duration = e.duration;
        current.lastPacketMs = nowMs;
        current.endedAtMax = false;
        if (e.end) this.endCurrent(e.duration >= MAX_EVENT_DURATION);
        return this.next();
      }
      if (current.ssrc === ssrc && this.isBehind(timestamp, current.timestamp)) {
        // A stray packet of an older event that was never seen: too late to report.
        return this.next();
      }
      this.finish(current);
    }

    this.current = {
      ssrc,
      timestamp,
      event: e.event,
      earlierSegments: 0,
      duration: e.duration,
      lastPacketMs: nowMs,
      endedAtMax: false,
    };
    if (e.end) this.endCurrent(e.duration >= MAX_EVENT_DURATION);
    return this.next();
  }

  /** Infers the end of an event whose packets stopped; returns a key press that completed, if any. */
  tick(nowMs: number = this.now()): DtmfKeyPress | null {
    const current = this.current;
    if (current && nowMs - current.lastPacketMs >= this.endTimeoutMs) this.finish(current);
    return this.next();
  }

  /** Forgets everything (e.g. after a re-INVITE changed the stream). */
  reset(): void {
    this.current = undefined;
    this.ended.length = 0;
    this.ready.length = 0;
  }

  private endCurrent(maybeSegmented: boolean): void {
    const current = this.current!;
    if (maybeSegmented) {
      // Wait for the next segment or the timeout before calling it one press.
      current.endedAtMax = true;
      return;
    }
    this.finish(current);
  }

  private finish(event: OngoingEvent): void {
    this.remember(event);
    this.current = undefined;
    const digit = eventToDigit(event.event);
    if (digit)
      this.ready.push({ digit, durationMs: Math.round((event.earlierSegments + event.duration) / this.samplesPerMs) });
  }

  private remember(event: OngoingEvent): void {
    this.ended.push({ ssrc: event.ssrc, timestamp: event.timestamp, event: event.event });
    if (this.ended.length > ENDED_MEMORY) this.ended.shift();
  }

  private wasReported(ssrc: number, timestamp: number, event: number): boolean {
    for (const e of this.ended) if (e.ssrc === ssrc && e.timestamp === timestamp && e.event === event) return true;
    // Older than the newest ended event of this source: a straggler.
    const last = this.ended[this.ended.length - 1];
    return last !== undefined && last.ssrc === ssrc && this.isBehind(timestamp, last.timestamp);
  }

  /**
   * Whether `timestamp` lies a little before `reference` on the same timeline. Far
   * behind is not a straggler but a sender that restarted its clock (re-INVITE).
   */
  private isBehind(timestamp: number, reference: number): boolean {
    const delta = signed32(timestamp - reference);
    return delta < 0 && delta > -this.stragglerWindow;
  }

  private continuesAsSegment(current: OngoingEvent, ssrc: number, timestamp: number, event: number): boolean {
    return (
      current.ssrc === ssrc &&
      current.event === event &&
      current.duration >= MAX_EVENT_DURATION &&
      (current.timestamp + MAX_EVENT_DURATION) >>> 0 === timestamp
    );
  }

  private next(): DtmfKeyPress | null {
    return this.ready.shift() ?? null;
  }
}

export interface TelephoneEventSendOptions {
  /** The negotiated telephone-event payload type. */
  readonly payloadType: number;
  /** RTP timestamp of the event's start: the sender's media clock when the key goes down. */
  readonly timestamp: number;
  /** −dBm0, 0..63; 10 by default. */
  readonly volume?: number;
  readonly clockRate?: number;
  /** Interval between updates; §2.5.1.2 recommends 50 ms. */
  readonly updateIntervalMs?: number;
  /** Copies of the end packet; §2.5.1.4 says three. */
  readonly endPackets?: number;
  /** Spacing of the end packet copies; §2.5.1.4: the update interval. */
  readonly endIntervalMs?: number;
}

/** One packet of an outgoing event and when to send it, relative to the key going down. */
export interface TelephoneEventFrame extends RtpPacketFields {
  readonly offsetMs: number;
  readonly event: TelephoneEvent;
}

/**
 * The packets that send one key press (RFC 4733 §2.5.1): the first with the
 * marker bit, updates every `updateIntervalMs` with the duration so far, then
 * the end packet (E bit, the full duration) three times. All share the start
 * timestamp. The caller numbers them with {@link RtpSender.send} and sends each at
 * its `offsetMs`. Presses longer than 0xFFFF samples (8.19 s at 8 kHz) would need
 * §2.5.1.3 segments and are refused: no key press lasts that long.
 */
export function telephoneEventPackets(
  digit: string,
  durationMs: number,
  options: TelephoneEventSendOptions,
): TelephoneEventFrame[] {
  const event = digitToEvent(digit);
  const samplesPerMs = (options.clockRate ?? 8000) / 1000;
  const volume = options.volume ?? 10;
  const interval = options.updateIntervalMs ?? 50;
  const endPackets = options.endPackets ?? 3;
  const endInterval = options.endIntervalMs ?? interval;
  const total = Math.round(durationMs * samplesPerMs);
  if (!(durationMs > 0)) throw new RangeError(`durationMs must be positive, got ${durationMs}`);
  if (total > MAX_EVENT_DURATION)
    throw new RangeError(
      `a ${durationMs} ms event needs segments (longest is ${Math.floor(MAX_EVENT_DURATION / samplesPerMs)} ms)`,
    );
  if (!(interval > 0) || !(endInterval >= 0) || !Number.isInteger(endPackets) || endPackets < 1) {
    throw new RangeError('updateIntervalMs must be positive, endIntervalMs non-negative, endPackets at least 1');
  }

  const frames: TelephoneEventFrame[] = [];
  const add = (offsetMs: number, end: boolean, duration: number): void => {
    const e: TelephoneEvent = { event, end, volume, duration };
    frames.push({
      offsetMs,
      event: e,
      payloadType: options.payloadType,
      timestamp: options.timestamp >>> 0,
      marker: frames.length === 0,
      payload: serializeTelephoneEvent(e),
    });
  };
  for (let t = 0; t < durationMs; t += interval) add(t, false, Math.round(t * samplesPerMs));
  for (let i = 0; i < endPackets; i++) add(durationMs + i * endInterval, true, total);
  return frames;
}
