import { rtpFromPcap } from '../rtp/pcap';
import type { RtpPacket } from '../rtp/packet';
import { RtpSender } from '../rtp/session';
import { readSippCapture, SIPP_DTMF_CAPTURES } from '../../test-fixtures/sipp-captures';
import {
  digitToEvent,
  eventToDigit,
  parseTelephoneEvent,
  Rfc4733Error,
  serializeTelephoneEvent,
  telephoneEventPackets,
  TelephoneEventReceiver,
  type DtmfKeyPress,
} from './rfc4733';

const PT = 101;

/** Packets of one key press as the receiver sees them: what the sender built, numbered. */
function press(
  digit: string,
  durationMs: number,
  startTimestamp: number,
  sender = new RtpSender({ payloadType: 0, ssrc: 0xabc, initialSequence: 1 }),
) {
  return telephoneEventPackets(digit, durationMs, { payloadType: PT, timestamp: startTimestamp }).map((f) => ({
    atMs: f.offsetMs,
    packet: sender.send(f),
  }));
}

/** Feeds `(atMs, packet)` pairs in order, ticking every 20 ms in between, and collects what comes out. */
function run(
  receiver: TelephoneEventReceiver,
  packets: ReadonlyArray<{ atMs: number; packet: RtpPacket }>,
  untilMs: number,
): DtmfKeyPress[] {
  const out: DtmfKeyPress[] = [];
  let i = 0;
  for (let now = 0; now <= untilMs; now += 20) {
    while (i < packets.length && packets[i]!.atMs <= now) {
      const r = receiver.onPacket(packets[i]!.packet, packets[i]!.atMs);
      if (r) out.push(r);
      i += 1;
    }
    const t = receiver.tick(now);
    if (t) out.push(t);
  }
  return out;
}

describe('telephone-event payload (RFC 4733 §2.3)', () => {
  it('octets 05 8a 08 c0 → event 5, end, volume 10, duration 2240', () => {
    expect(parseTelephoneEvent(Buffer.from([0x05, 0x8a, 0x08, 0xc0]))).toEqual({
      event: 5,
      end: true,
      volume: 10,
      duration: 2240,
    });
  });

  it('R bit set by a sender → ignored, volume still read', () => {
    expect(parseTelephoneEvent(Buffer.from([0x0b, 0x4a, 0x00, 0xa0]))).toEqual({
      event: 11,
      end: false,
      volume: 10,
      duration: 160,
    });
  });

  it('serialised event → parses back; R written as 0', () => {
    const e = { event: 15, end: true, volume: 63, duration: 65535 };
    const bytes = serializeTelephoneEvent(e);
    expect([...bytes]).toEqual([0x0f, 0xbf, 0xff, 0xff]);
    expect(parseTelephoneEvent(bytes)).toEqual(e);
  });

  it('3-octet payload → ERR_DTMF_TRUNCATED', () => {
    expect(() => parseTelephoneEvent(Buffer.alloc(3))).toThrow(Rfc4733Error);
  });

  it('out-of-range fields → TypeError', () => {
    expect(() => serializeTelephoneEvent({ event: 1, end: false, volume: 64, duration: 0 })).toThrow(TypeError);
    expect(() => serializeTelephoneEvent({ event: 1, end: false, volume: 1, duration: 65536 })).toThrow(TypeError);
  });

  it('§3.2 codes ↔ digits: 0–9, 10 *, 11 #, 12–15 A–D; 16 (flash) is no digit', () => {
    expect([...Array(16).keys()].map(eventToDigit).join('')).toBe('0123456789*#ABCD');
    expect(eventToDigit(16)).toBeUndefined();
    expect(digitToEvent('#')).toBe(11);
    expect(digitToEvent('d')).toBe(15);
    expect(() => digitToEvent('E')).toThrow(TypeError);
  });
});

describe('TelephoneEventReceiver on SIPp captures', () => {
  it.each(SIPP_DTMF_CAPTURES.map((c) => [c.file, c.digit]))('%s → %s exactly once, 280 ms', (file, digit) => {
    const captured = rtpFromPcap(readSippCapture(file));
    const receiver = new TelephoneEventReceiver({ payloadType: PT });
    const t0 = captured[0]!.timestampMs;
    const out: DtmfKeyPress[] = [];
    for (const c of captured) {
      const r = receiver.onPacket(c.packet, c.timestampMs - t0);
      if (r) out.push(r);
    }
    for (let now = 0; now < 2000; now += 20) {
      const r = receiver.tick(now + 300);
      if (r) out.push(r);
    }
    expect(out).toEqual([{ digit, durationMs: 280 }]);
  });

  it.each([
    ['the start packet', [0]],
    ['the first three packets', [0, 1, 2]],
    ['two of the three end packets', [7, 9]],
    ['every packet but the last end copy', [0, 1, 2, 3, 4, 5, 6, 7, 8]],
  ])('SIPp digit 5 with %s lost → 5 once, 280 ms', (_name, lost) => {
    const captured = rtpFromPcap(readSippCapture('dtmf_2833_5.pcap')).filter((_, i) => !lost.includes(i));
    const receiver = new TelephoneEventReceiver({ payloadType: PT });
    const out = run(
      receiver,
      captured.map((c, i) => ({ atMs: i * 20, packet: c.packet })),
      1000,
    );
    expect(out).toEqual([{ digit: '5', durationMs: 280 }]);
  });

  it("SIPp digit 9 with all three end packets lost → 9 once, after the end timeout, with the last update's duration", () => {
    const captured = rtpFromPcap(readSippCapture('dtmf_2833_9.pcap')).slice(0, 7);
    const receiver = new TelephoneEventReceiver({ payloadType: PT, endTimeoutMs: 250 });
    const seen: Array<[number, DtmfKeyPress]> = [];
    captured.forEach((c, i) => {
      const r = receiver.onPacket(c.packet, i * 20);
      if (r) seen.push([i * 20, r]);
    });
    for (let now = 120; now <= 1000; now += 20) {
      const r = receiver.tick(now);
      if (r) seen.push([now, r]);
    }
    // Last update at 120 ms carried duration 0x780 = 1920 samples.
    expect(seen).toEqual([[380, { digit: '9', durationMs: 240 }]]);
  });
});

describe('TelephoneEventReceiver on synthetic loss and order', () => {
  it('end packet arriving before a late update → one press; the late update is ignored', () => {
    const packets = press('7', 200, 8000);
    const receiver = new TelephoneEventReceiver();
    const end = packets.find((p) => parseTelephoneEvent(p.packet.payload).end)!;
    const update = packets[2]!;
    const out = [
      receiver.onPacket(packets[0]!.packet, 0),
      receiver.onPacket(end.packet, 200),
      receiver.onPacket(update.packet, 210),
      receiver.tick(2000),
    ];
    expect(out.filter(Boolean)).toEqual([{ digit: '7', durationMs: 200 }]);
  });

  it("the same digit twice with the first press's end packets lost → two presses, the first ended by the second's start", () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1, initialSequence: 1 });
    const first = press('3', 150, 1000, sender).filter((p) => !parseTelephoneEvent(p.packet.payload).end);
    const second = press('3', 150, 1000 + 8 * 400, sender).map((p) => ({ ...p, atMs: p.atMs + 400 }));
    const out = run(new TelephoneEventReceiver({ endTimeoutMs: 1000 }), [...first, ...second], 3000);
    expect(out).toEqual([
      { digit: '3', durationMs: 100 },
      { digit: '3', durationMs: 150 },
    ]);
  });

  it('a pending press ended by a press whose only surviving packet is its end → both, the second on the next call', () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1, initialSequence: 1 });
    const first = press('1', 100, 0, sender).slice(0, 2);
    const secondEnd = press('2', 100, 4000, sender).filter((p) => parseTelephoneEvent(p.packet.payload).end);
    const receiver = new TelephoneEventReceiver({ endTimeoutMs: 10_000 });
    expect(receiver.onPacket(first[0]!.packet, 0)).toBeNull();
    expect(receiver.onPacket(first[1]!.packet, 50)).toBeNull();
    expect(receiver.onPacket(secondEnd[0]!.packet, 600)).toEqual({ digit: '1', durationMs: 50 });
    expect(receiver.tick(620)).toEqual({ digit: '2', durationMs: 100 });
    expect(receiver.onPacket(secondEnd[1]!.packet, 650)).toBeNull();
    expect(receiver.tick(5000)).toBeNull();
  });

  it('random loss of up to all but one packet of each press, 200 presses → each reported exactly once', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const sender = new RtpSender({ payloadType: 0, ssrc: 9, initialSequence: 1 });
    const digits = '0123456789*#ABCD';
    const expected: string[] = [];
    const packets: Array<{ atMs: number; packet: RtpPacket }> = [];
    for (let k = 0; k < 200; k++) {
      const digit = digits[k % 16]!;
      const startMs = k * 1000;
      const all = press(digit, 120, (k * 8000) >>> 0, sender).map((p) => ({ ...p, atMs: p.atMs + startMs }));
      const kept = all.filter(() => random() > 0.5);
      if (kept.length === 0) continue; // nothing at all arrived: nothing to report
      expected.push(digit);
      packets.push(...kept);
    }
    const out = run(new TelephoneEventReceiver(), packets, 201_000);
    expect(out.map((p) => p.digit)).toEqual(expected);
  });

  it('packets of another payload type → ignored when the receiver knows its payload type', () => {
    const receiver = new TelephoneEventReceiver({ payloadType: 96 });
    const out = run(receiver, press('4', 100, 0), 2000);
    expect(out).toEqual([]);
  });

  it('a payload too short → counted as malformed, nothing reported', () => {
    const receiver = new TelephoneEventReceiver();
    expect(
      receiver.onPacket(
        { marker: true, payloadType: PT, sequence: 1, timestamp: 0, ssrc: 1, payload: Buffer.alloc(2) },
        0,
      ),
    ).toBeNull();
    expect(receiver.malformed).toBe(1);
    expect(receiver.tick(10_000)).toBeNull();
  });

  it('hook flash (event 16) → not a digit, not reported, its end copies still deduplicated', () => {
    const receiver = new TelephoneEventReceiver();
    const flash = (end: boolean, seq: number): RtpPacket => ({
      marker: seq === 1,
      payloadType: PT,
      sequence: seq,
      timestamp: 500,
      ssrc: 1,
      payload: serializeTelephoneEvent({ event: 16, end, volume: 10, duration: end ? 800 : 0 }),
    });
    const out = [
      receiver.onPacket(flash(false, 1), 0),
      receiver.onPacket(flash(true, 2), 100),
      receiver.onPacket(flash(true, 3), 120),
      receiver.tick(5000),
    ];
    expect(out.filter(Boolean)).toEqual([]);
  });

  it('a long press in two §2.5.1.3 segments → one press with the summed duration', () => {
    const segment = (timestamp: number, duration: number, end: boolean, seq: number): RtpPacket => ({
      marker: seq === 1,
      payloadType: PT,
      sequence: seq,
      timestamp,
      ssrc: 1,
      payload: serializeTelephoneEvent({ event: 8, end, volume: 10, duration }),
    });
    const receiver = new TelephoneEventReceiver();
    const out = [
      receiver.onPacket(segment(1000, 0, false, 1), 0),
      receiver.onPacket(segment(1000, 40000, false, 2), 5000),
      receiver.onPacket(segment(1000, 0xffff, true, 3), 8192),
      receiver.onPacket(segment(1000, 0xffff, true, 4), 8200),
      receiver.onPacket(segment(1000 + 0xffff, 800, false, 5), 8300),
      receiver.onPacket(segment(1000 + 0xffff, 1600, true, 6), 8392),
      receiver.onPacket(segment(1000 + 0xffff, 1600, true, 7), 8400),
      receiver.tick(20_000),
    ];
    expect(out.filter(Boolean)).toEqual([{ digit: '8', durationMs: Math.round((0xffff + 1600) / 8) }]);
  });

  it('a stray update of an earlier, never-seen press → ignored; a sender clock restarted far back → new presses accepted', () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1, initialSequence: 1 });
    const receiver = new TelephoneEventReceiver();
    const later = press('6', 100, 80_000, sender);
    expect(run(receiver, later, 1000)).toEqual([{ digit: '6', durationMs: 100 }]);
    const stray = press('2', 100, 79_000, sender)[1]!.packet;
    expect(receiver.onPacket(stray, 1100)).toBeNull();
    expect(receiver.tick(5000)).toBeNull();
    const restarted = press('9', 100, 10, sender);
    expect(run(receiver, restarted, 1000)).toEqual([{ digit: '9', durationMs: 100 }]);
  });
});

describe('telephoneEventPackets (RFC 4733 §2.5.1)', () => {
  it('200 ms press → marker start, updates every 50 ms, end three times 50 ms apart, one timestamp', () => {
    const frames = telephoneEventPackets('#', 200, { payloadType: PT, timestamp: 12345 });
    expect(frames.map((f) => [f.offsetMs, f.marker, f.event.end, f.event.duration])).toEqual([
      [0, true, false, 0],
      [50, false, false, 400],
      [100, false, false, 800],
      [150, false, false, 1200],
      [200, false, true, 1600],
      [250, false, true, 1600],
      [300, false, true, 1600],
    ]);
    expect(new Set(frames.map((f) => f.timestamp))).toEqual(new Set([12345]));
    expect(frames.every((f) => f.payloadType === PT && f.event.event === 11 && f.event.volume === 10)).toBe(true);
    expect(frames.every((f) => parseTelephoneEvent(f.payload).duration === f.event.duration)).toBe(true);
  });

  it('options → update interval, end spacing, copies and volume as asked', () => {
    const frames = telephoneEventPackets('1', 100, {
      payloadType: 96,
      timestamp: 0,
      updateIntervalMs: 40,
      endIntervalMs: 20,
      endPackets: 2,
      volume: 5,
    });
    expect(frames.map((f) => [f.offsetMs, f.event.end])).toEqual([
      [0, false],
      [40, false],
      [80, false],
      [100, true],
      [120, true],
    ]);
    expect(frames[0]!.event.volume).toBe(5);
  });

  it('built, numbered by RtpSender and received → the same digit once with the same duration', () => {
    const out = run(new TelephoneEventReceiver({ payloadType: PT }), press('A', 160, 4_294_967_000), 1000);
    expect(out).toEqual([{ digit: 'A', durationMs: 160 }]);
  });

  it('longer than 0xFFFF samples, zero length, or not a digit → refused', () => {
    expect(() => telephoneEventPackets('1', 8200, { payloadType: PT, timestamp: 0 })).toThrow(RangeError);
    expect(() => telephoneEventPackets('1', 0, { payloadType: PT, timestamp: 0 })).toThrow(RangeError);
    expect(() => telephoneEventPackets('x', 100, { payloadType: PT, timestamp: 0 })).toThrow(TypeError);
  });
});
