import { RtpReceiverStats, RtpSender, signed32 } from './session';
import type { RtpPacket } from './packet';

const frame = Buffer.alloc(160, 0xff);

function packet(sequence: number, timestamp: number, ssrc = 0x1234, payloadType = 0): RtpPacket {
  return { marker: false, payloadType, sequence, timestamp, ssrc, payload: frame };
}

describe('RtpSender', () => {
  it('no fixed values → SSRC, sequence and timestamp come from the random source (RFC 3550 §5.1)', () => {
    const values = [0xdeadbeef, 0x0001_abcd, 0x8000_0000];
    const sender = new RtpSender({ payloadType: 0, random: () => values.shift()! });
    expect(sender.ssrc).toBe(0xdeadbeef);
    expect(sender.nextSequence).toBe(0xabcd);
    expect(sender.timestamp).toBe(0x8000_0000);
  });

  it('two default senders → different SSRCs from the OS random source', () => {
    expect(new RtpSender({ payloadType: 0 }).ssrc).not.toBe(new RtpSender({ payloadType: 0 }).ssrc);
  });

  it('20 ms frames at 8 kHz → timestamp +160 and sequence +1 per packet', () => {
    const sender = new RtpSender({ payloadType: 8, ssrc: 1, initialSequence: 10, initialTimestamp: 1000 });
    const sent = [sender.frame(frame), sender.frame(frame), sender.frame(frame)];
    expect(sent.map((p) => [p.sequence, p.timestamp, p.payloadType, p.ssrc])).toEqual([
      [10, 1000, 8, 1],
      [11, 1160, 8, 1],
      [12, 1320, 8, 1],
    ]);
    expect(sender.packetsSent).toBe(3);
    expect(sender.octetsSent).toBe(480);
  });

  it('first packet and the first after silence → marker set; the rest → clear (RFC 3551 §4.1)', () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1, initialSequence: 0, initialTimestamp: 0 });
    const a = sender.frame(frame);
    const b = sender.frame(frame);
    sender.silence();
    sender.silence();
    const c = sender.frame(frame);
    const d = sender.frame(frame);
    expect([a.marker, b.marker, c.marker, d.marker]).toEqual([true, false, true, false]);
    // Silence advanced the clock by two frames without using sequence numbers.
    expect([c.sequence, c.timestamp]).toEqual([2, 640]);
  });

  it('sequence 65535 → wraps to 0; timestamp near 2^32 → wraps modulo 2^32', () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1, initialSequence: 65534, initialTimestamp: 2 ** 32 - 160 });
    const sent = [sender.frame(frame), sender.frame(frame), sender.frame(frame)];
    expect(sent.map((p) => p.sequence)).toEqual([65534, 65535, 0]);
    expect(sent.map((p) => p.timestamp)).toEqual([4294967136, 0, 160]);
  });

  it("send() for an event packet → next sequence number, caller's timestamp, media clock untouched", () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1, initialSequence: 5, initialTimestamp: 800 });
    const event = sender.send({ payloadType: 101, timestamp: 800, marker: true, payload: Buffer.alloc(4) });
    expect([event.sequence, event.timestamp, event.payloadType, event.marker]).toEqual([5, 800, 101, true]);
    expect(sender.timestamp).toBe(800);
    expect(sender.frame(frame).sequence).toBe(6);
  });

  it('payload type changed after a re-INVITE → later frames carry it; 128 → TypeError', () => {
    const sender = new RtpSender({ payloadType: 0, ssrc: 1 });
    sender.payloadType = 8;
    expect(sender.frame(frame).payloadType).toBe(8);
    expect(() => {
      sender.payloadType = 128;
    }).toThrow(TypeError);
  });
});

describe('RtpReceiverStats (RFC 3550 A.1, A.3, A.8)', () => {
  it('sequence wraps at 65535 → extended highest sequence counts the cycle, nothing lost', () => {
    const stats = new RtpReceiverStats();
    const verdicts = [65533, 65534, 65535, 0, 1, 2].map((seq, i) => stats.update(packet(seq, i * 160), i * 20));
    expect(verdicts).toEqual(['new-source', 'ok', 'ok', 'ok', 'ok', 'ok']);
    const s = stats.snapshot();
    expect(s.extendedHighestSequence).toBe(65536 + 2);
    expect(s.expected).toBe(6);
    expect(s.cumulativeLost).toBe(0);
  });

  it('a packet from before the wrap arriving after it → reordered, extended number below the cycle', () => {
    const stats = new RtpReceiverStats();
    stats.update(packet(65534, 0), 0);
    stats.update(packet(0, 320), 40);
    expect(stats.update(packet(65535, 160), 41)).toBe('reordered');
    expect(stats.update(packet(65535, 160), 42)).toBe('duplicate');
    const s = stats.snapshot();
    expect(s.extendedHighestSequence).toBe(65536);
    expect([s.expected, s.packetsReceived, s.cumulativeLost, s.reordered, s.duplicates]).toEqual([3, 3, 0, 1, 1]);
  });

  it('hand-computed example: arrivals 0, 20, 45, 60, 80 ms for 20 ms packets → J = 4.541015625 (A.8)', () => {
    // transit (timestamp units): 0, 0, 40, 0, 0 → |D|: 0, 40, 40, 0
    // J: 0 → 0 + (40 − 0)/16 = 2.5 → 2.5 + (40 − 2.5)/16 = 4.84375 → 4.84375 + (0 − 4.84375)/16 = 4.541015625
    const stats = new RtpReceiverStats();
    [0, 20, 45, 60, 80].forEach((arrivalMs, i) => stats.update(packet(100 + i, 160 * i), arrivalMs));
    const s = stats.snapshot();
    expect(s.jitter).toBeCloseTo(4.541015625, 12);
    expect(s.jitterMs).toBeCloseTo(4.541015625 / 8, 12);
    expect(stats.report()!.jitter).toBe(4);
  });

  it('perfect pacing across a timestamp wrap → jitter 0', () => {
    const stats = new RtpReceiverStats();
    for (let i = 0; i < 10; i++) stats.update(packet(i, (2 ** 32 - 800 + 160 * i) % 2 ** 32), 1000 + 20 * i);
    expect(stats.snapshot().jitter).toBe(0);
  });

  it('telephone-event packets repeating their timestamp → counted, but not jitter', () => {
    const stats = new RtpReceiverStats({ nonMediaPayloadTypes: [101] });
    for (let i = 0; i < 5; i++) stats.update(packet(i, 0, 0x1234, 101), 20 * i);
    const s = stats.snapshot();
    expect(s.packetsReceived).toBe(5);
    expect(s.jitter).toBe(0);
  });

  it('1 of 11 lost → cumulative lost 1, fraction 1/11, report 23/256; the next interval starts clean', () => {
    const stats = new RtpReceiverStats();
    for (let i = 0; i < 10; i++) if (i !== 4) stats.update(packet(i, 160 * i), 20 * i);
    stats.update(packet(10, 1600), 200);
    const s = stats.snapshot();
    expect(s.cumulativeLost).toBe(1);
    expect(s.fractionLost).toBeCloseTo(1 / 11, 12);
    const block = stats.report()!;
    expect(block).toEqual({
      ssrc: 0x1234,
      fractionLost: Math.floor(256 / 11),
      cumulativeLost: 1,
      extendedHighestSequence: 10,
      jitter: 0,
    });
    stats.update(packet(11, 1760), 220);
    expect(stats.snapshot().fractionLost).toBe(0);
    expect(stats.report()!.fractionLost).toBe(0);
  });

  it('duplicates of the newest and of an older packet → counted apart, not as received', () => {
    const stats = new RtpReceiverStats();
    for (let i = 0; i < 5; i++) stats.update(packet(i, 160 * i), 20 * i);
    expect(stats.update(packet(4, 640), 90)).toBe('duplicate');
    expect(stats.update(packet(2, 320), 91)).toBe('duplicate');
    const s = stats.snapshot();
    expect([s.packetsReceived, s.duplicates, s.cumulativeLost]).toEqual([5, 2, 0]);
  });

  it('a jump past MAX_DROPOUT → dropped, then confirmed by the next packet → restart', () => {
    const stats = new RtpReceiverStats();
    stats.update(packet(100, 0), 0);
    stats.update(packet(101, 160), 20);
    expect(stats.update(packet(20000, 320), 40)).toBe('jump');
    expect(stats.update(packet(102, 320), 41)).toBe('ok');
    expect(stats.update(packet(30000, 480), 60)).toBe('jump');
    expect(stats.update(packet(30001, 640), 80)).toBe('restart');
    const s = stats.snapshot();
    expect([s.expected, s.packetsReceived, s.cumulativeLost]).toEqual([1, 1, 0]);
  });

  it('new SSRC → statistics start over', () => {
    const stats = new RtpReceiverStats();
    stats.update(packet(1, 0, 1), 0);
    stats.update(packet(3, 320, 1), 40);
    expect(stats.snapshot().cumulativeLost).toBe(1);
    expect(stats.update(packet(500, 9999, 2), 60)).toBe('new-source');
    const s = stats.snapshot();
    expect([s.ssrc, s.expected, s.cumulativeLost]).toEqual([2, 1, 0]);
  });

  it('minSequential 2 → the first packet is on probation, the next in sequence validates the source', () => {
    const stats = new RtpReceiverStats({ minSequential: 2 });
    expect(stats.update(packet(7, 0), 0)).toBe('probation');
    expect(stats.update(packet(9, 320), 40)).toBe('probation');
    expect(stats.update(packet(10, 480), 60)).toBe('ok');
    expect(stats.snapshot().packetsReceived).toBe(1);
  });

  it('no packet yet → an empty snapshot and no report block', () => {
    const stats = new RtpReceiverStats();
    expect(stats.snapshot().expected).toBe(0);
    expect(stats.report()).toBeUndefined();
  });
});

describe('signed32', () => {
  it('timestamp differences across the wrap → small signed numbers', () => {
    expect(signed32(160 - (2 ** 32 - 160))).toBe(320);
    expect(signed32(2 ** 32 - 160 - 160)).toBe(-320);
  });
});
