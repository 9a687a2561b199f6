import { closedPort, FakeUdpPeer } from '../../../../tests/media-relay/fake-udp-peer';
import { ControlChannel, type RelayLogger } from './control-channel';
import { RelayUnavailableError } from './errors';
import { udpTransport } from './transport';

function recordingLogger(): RelayLogger & { lines: Array<{ level: string; message: string; meta: unknown }> } {
  const lines: Array<{ level: string; message: string; meta: unknown }> = [];
  const log = (level: string) => (message: unknown, meta?: unknown) => {
    lines.push({ level, message: String(message), meta });
    return undefined as never;
  };
  return { lines, debug: log('debug'), warn: log('warn') };
}

describe('ControlChannel', () => {
  let peer: FakeUdpPeer;
  const channels: ControlChannel[] = [];
  const open = (
    options: { timeoutMs?: number; retransmitMs?: number; logger?: RelayLogger; port?: number } = {},
  ): ControlChannel => {
    const channel = new ControlChannel({
      relay: 'rtpengine',
      transport: udpTransport('127.0.0.1', options.port ?? peer.port),
      timeoutMs: options.timeoutMs ?? 1000,
      retransmitMs: options.retransmitMs ?? 100,
      logger: options.logger,
    });
    channels.push(channel);
    return channel;
  };

  beforeEach(async () => {
    peer = await FakeUdpPeer.start();
  });

  afterEach(async () => {
    await Promise.all(channels.splice(0).map((c) => c.close()));
    await peer.close();
  });

  it('frames a request as "<cookie> <body>" and resolves with the body after the reply cookie', async () => {
    peer.respond((req) => `echo:${req.text}`);
    const reply = await open().request('ping', 'd7:command4:pinge');
    expect(reply.toString()).toBe('echo:d7:command4:pinge');
    expect(peer.received).toHaveLength(1);
    expect(peer.received[0]?.cookie).toMatch(/^[0-9a-f]{8}_1$/);
  });

  it('matches replies to requests by cookie, whatever order they come back in', async () => {
    const channel = open();
    const first = channel.request('a', 'first');
    const second = channel.request('b', 'second');
    await peer.waitForRequests(2);
    const [r1, r2] = peer.received;
    // Answer the second request first.
    peer.reply(r2!.cookie, 'reply-to-second');
    peer.reply(r1!.cookie, 'reply-to-first');
    expect((await first).toString()).toBe('reply-to-first');
    expect((await second).toString()).toBe('reply-to-second');
    expect(channel.pendingCount).toBe(0);
  });

  it('gives every request its own cookie, and two clients never share one', async () => {
    peer.respond(() => 'ok');
    const a = open();
    const b = open();
    await Promise.all([a.request('x', '1'), a.request('x', '2'), b.request('x', '3'), b.request('x', '4')]);
    const cookies = peer.received.map((r) => r.cookie);
    expect(new Set(cookies).size).toBe(4);
    const prefixes = new Set(cookies.map((c) => c.split('_')[0]));
    expect(prefixes.size).toBe(2);
  });

  it('retransmits an unanswered request with the same cookie until the reply comes', async () => {
    // The relay "loses" the first two copies and answers the third.
    peer.respond((_req, attempt) => (attempt >= 3 ? 'finally' : undefined));
    const reply = await open({ retransmitMs: 50, timeoutMs: 2000 }).request('offer', 'body');
    expect(reply.toString()).toBe('finally');
    expect(peer.received).toHaveLength(3);
    expect(new Set(peer.received.map((r) => r.cookie)).size).toBe(1);
    expect(new Set(peer.received.map((r) => r.text))).toEqual(new Set(['body']));
  });

  it('doubles the retransmission interval', async () => {
    const channel = open({ retransmitMs: 50, timeoutMs: 500 });
    await expect(channel.request('ping', 'x')).rejects.toBeInstanceOf(RelayUnavailableError);
    // Sends at 0, 50, 150 and 350 ms (the next would be 750): four copies in 500 ms
    // where a fixed 50 ms timer would send ten.
    expect(peer.received).toHaveLength(4);
  });

  it('rejects with RelayUnavailableError (timeout) when no reply comes before the deadline', async () => {
    const started = Date.now();
    const err = await open({ timeoutMs: 300, retransmitMs: 50 })
      .request('ping', 'x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayUnavailableError);
    expect((err as RelayUnavailableError).reason).toBe('timeout');
    expect((err as RelayUnavailableError).code).toBe('ERR_RELAY_UNAVAILABLE');
    expect((err as Error).message).toMatch(/rtpengine ping: relay did not answer \(no reply within 300 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(peer.received.length).toBeGreaterThan(1);
  });

  it('honours a per-request timeout', async () => {
    const channel = open({ timeoutMs: 5000 });
    const started = Date.now();
    await expect(channel.request('ping', 'x', 150)).rejects.toMatchObject({ reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('close() rejects every pending request with reason "closed", and is idempotent', async () => {
    const channel = open({ timeoutMs: 5000 });
    const pending = [channel.request('offer', 'a'), channel.request('answer', 'b')];
    await peer.waitForRequests(2);
    const closing = channel.close();
    expect(channel.close()).toBe(closing);
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RelayUnavailableError);
      expect(((r as PromiseRejectedResult).reason as RelayUnavailableError).reason).toBe('closed');
    }
    await closing;
    await expect(channel.request('ping', 'late')).rejects.toMatchObject({ reason: 'closed' });
    expect(channel.pendingCount).toBe(0);
  });

  it('stops retransmitting once closed', async () => {
    const channel = open({ timeoutMs: 5000, retransmitMs: 30 });
    const pending = channel.request('ping', 'x').catch(() => undefined);
    await peer.waitForRequests(1);
    await channel.close();
    await pending;
    const seen = peer.received.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(peer.received.length).toBe(seen);
  });

  it('logs a reply nobody asked for and keeps waiting for the right one', async () => {
    const logger = recordingLogger();
    const channel = open({ logger, timeoutMs: 2000 });
    const pending = channel.request('query', 'q');
    await peer.waitForRequests(1);
    peer.reply('deadbeef_99', 'stray');
    peer.sendRaw(Buffer.from('no-cookie-at-all'));
    await new Promise((r) => setTimeout(r, 50));
    peer.reply(peer.received[0]!.cookie, 'mine');
    expect((await pending).toString()).toBe('mine');
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'unmatched relay reply dropped',
      'relay reply without a cookie dropped',
    ]);
    expect(logger.lines[0]?.meta).toMatchObject({ relay: 'rtpengine', requestId: 'deadbeef_99' });
  });

  it('logs a duplicate reply to a retransmitted request at debug level only', async () => {
    const logger = recordingLogger();
    // Answers every copy, as a relay does when both the original and the retransmission arrive.
    peer.respond((_req, attempt) => (attempt >= 2 ? `reply ${attempt}` : undefined));
    const channel = open({ logger, retransmitMs: 30, timeoutMs: 2000 });
    const first = await channel.request('offer', 'x');
    expect(first.toString()).toBe('reply 2');
    peer.reply(peer.received[0]!.cookie, 'again');
    await new Promise((r) => setTimeout(r, 50));
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(logger.lines.map((l) => l.message)).toContain('late or duplicate relay reply dropped');
  });

  it('fails fast with reason "unreachable" when nothing listens on the control port', async () => {
    const channel = open({ port: await closedPort(), timeoutMs: 5000 });
    const started = Date.now();
    const err = await channel.request('ping', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayUnavailableError);
    expect((err as RelayUnavailableError).reason).toBe('unreachable');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
