import { PCMU } from '../../../common/src/audio/g711';
import { parseTelephoneEvent } from '../dtmf/rfc4733';
import { parseRtp, serializeRtp, type RtpPacket } from '../rtp/packet';
import { MediaLeg, type JitterBufferLike, type JitterOutput, type RtpSocket } from './media-leg';

class FakeSocket implements RtpSocket {
  readonly localPort = 40000;
  sent: RtpPacket[] = [];
  listener: ((d: Buffer, a: string, p: number) => void) | null = null;
  closed = false;
  send(datagram: Buffer): void {
    this.sent.push(parseRtp(Buffer.from(datagram)));
  }
  onDatagram(l: (d: Buffer, a: string, p: number) => void): void {
    this.listener = l;
  }
  close(): void {
    this.closed = true;
  }
  deliver(p: RtpPacket): void {
    this.listener?.(serializeRtp(p), '127.0.0.1', 40002);
  }
}

/** In order, no delay: what a jitter buffer gives on a perfect network. */
class PassThrough implements JitterBufferLike {
  private q: RtpPacket[] = [];
  push(p: RtpPacket): void {
    this.q.push(p);
  }
  pop(): JitterOutput {
    const p = this.q.shift();
    return p ? { kind: 'frame', payload: p.payload, timestamp: p.timestamp, seq: p.sequence } : { kind: 'empty' };
  }
}

function leg(opts: { te?: number | null } = {}) {
  const socket = new FakeSocket();
  let now = 1000;
  const m = new MediaLeg({
    socket,
    codec: PCMU,
    telephoneEventPt: opts.te === undefined ? 101 : opts.te,
    remote: { address: '127.0.0.1', port: 40002 },
    jitter: new PassThrough(),
    concealer: { good: (f) => f, lost: () => new Int16Array(160) },
    inband: { process: () => [] },
    telephoneEvents: { onPacket: () => null },
    holdAudio: () => new Int16Array(160).fill(3000),
    now: () => now,
  });
  const tick = (): void => {
    now += 20;
    m.tick(now);
  };
  return { m, socket, tick, advance: (ms: number) => (now += ms) };
}

const tone16k = (value: number): Int16Array => new Int16Array(320).fill(value);

describe('MediaLeg', () => {
  test('caller RTP (PCMU) → 20 ms PCM16 16 kHz frames for the AI, with the added latency', () => {
    const { m, socket, tick } = leg();
    const frames: Array<[Int16Array, number | null]> = [];
    m.on('audio', (pcm, latency) => frames.push([pcm, latency]));
    socket.deliver({
      marker: true,
      payloadType: 0,
      sequence: 1,
      timestamp: 160,
      ssrc: 7,
      payload: Buffer.alloc(160, 0x80),
    });
    tick();
    expect(frames).toHaveLength(1);
    expect(frames[0]![0].length).toBe(320);
    expect(frames[0]![1]).toBe(20);
  });

  test('AI speech → paced PCMU packets: PT 0, 160 bytes, sequence +1, timestamp +160, marker on the first', () => {
    const { m, socket, tick } = leg();
    m.playAi(tone16k(8000));
    m.playAi(tone16k(8000));
    tick();
    tick();
    const [a, b] = socket.sent;
    expect(a!.payloadType).toBe(0);
    expect(a!.payload.length).toBe(160);
    expect(a!.marker).toBe(true);
    expect(b!.sequence).toBe((a!.sequence + 1) & 0xffff);
    expect(b!.timestamp).toBe((a!.timestamp + 160) >>> 0);
    expect(b!.marker).toBe(false);
  });

  test('nothing from the AI → comfort silence keeps flowing, one packet per tick', () => {
    const { socket, tick } = leg();
    for (let i = 0; i < 5; i++) tick();
    expect(socket.sent).toHaveLength(5);
    expect(socket.sent.every((p) => p.payload.every((b) => b === 0xff || b === 0x7f))).toBe(true);
  });

  test('clear → the very next packet is silence again; pending marks come back truncated', () => {
    const { m, socket, tick } = leg();
    const acks: unknown[] = [];
    m.on('mark', (a) => acks.push(a));
    for (let i = 0; i < 10; i++) m.playAi(tone16k(12000));
    m.mark('reply');
    tick();
    m.clear();
    tick();
    const loud = socket.sent[0]!.payload.some((b) => b !== 0xff && b !== 0x7f);
    const afterClear = socket.sent[1]!.payload.filter((b) => b !== 0xff && b !== 0x7f).length;
    expect(loud).toBe(true);
    expect(afterClear).toBe(0);
    expect(acks).toEqual([{ name: 'reply', playedMs: 20, truncated: true }]);
  });

  test('send_dtmf → RFC 4733 packets on the negotiated PT: marker first, one timestamp, end bit three times', () => {
    const { m, socket, tick } = leg();
    expect(m.sendDtmf('5', 100)).toBe(true);
    for (let i = 0; i < 12; i++) tick();
    const events = socket.sent.filter((p) => p.payloadType === 101);
    expect(events[0]!.marker).toBe(true);
    expect(new Set(events.map((p) => p.timestamp)).size).toBe(1);
    const parsed = events.map((p) => parseTelephoneEvent(p.payload));
    expect(parsed.every((e) => e.event === 5)).toBe(true);
    expect(parsed.filter((e) => e.end)).toHaveLength(3);
  });

  test('send_dtmf without a negotiated telephone-event → refused', () => {
    const { m } = leg({ te: null });
    expect(m.sendDtmf('1')).toBe(false);
  });

  test('on hold → nothing is sent; AI away → the caller hears hold audio', () => {
    const { m, socket, tick } = leg();
    m.setHold(true);
    tick();
    expect(socket.sent).toHaveLength(0);
    m.setHold(false);
    m.setAiAway(true);
    tick();
    expect(socket.sent[0]!.payload.some((b) => b !== 0xff && b !== 0x7f)).toBe(true);
  });

  test('music on hold → its frames go out as they are, on the same stream; what the AI queued is dropped; off → silence again', () => {
    const { m, socket, tick } = leg();
    const acks: unknown[] = [];
    m.on('mark', (a) => acks.push(a));
    for (let i = 0; i < 10; i++) m.playAi(tone16k(12000));
    m.mark('reply');
    tick();
    const frames = [0x11, 0x22, 0x33].map((b) => new Uint8Array(160).fill(b));
    let next = 0;
    m.setMusic({ next: () => frames[next++ % frames.length]! });
    expect(acks).toEqual([{ name: 'reply', playedMs: 20, truncated: true }]);
    for (let i = 0; i < 4; i++) tick();
    const music = socket.sent.slice(1);
    expect(music.map((p) => p.payload[0])).toEqual([0x11, 0x22, 0x33, 0x11]);
    expect(music.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    for (let i = 1; i < socket.sent.length; i++)
      expect(socket.sent[i]!.sequence).toBe((socket.sent[i - 1]!.sequence + 1) & 0xffff);
    // The caller on hold itself (inactive): the music is not sent either.
    m.setHold(true);
    tick();
    expect(socket.sent).toHaveLength(5);
    m.setHold(false);
    m.setMusic(null);
    tick();
    expect(socket.sent[5]!.payload.every((b) => b === 0xff || b === 0x7f)).toBe(true);
  });

  test('close → socket closed, ticks do nothing', () => {
    const { m, socket, tick } = leg();
    m.close();
    m.close();
    tick();
    expect(socket.closed).toBe(true);
    expect(socket.sent).toHaveLength(0);
  });
});
