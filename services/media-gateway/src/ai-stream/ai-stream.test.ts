import { EventEmitter } from 'node:events';
import { AiStream, type AiStreamOptions } from './ai-stream';
import { AiStreamError } from './errors';
import type { WireFrame } from './queue';
import type { SocketOptions, WebSocketLike } from '../../../common/src/ai-protocol/socket';
import { parseOlibGatewayFrame, type OlibGatewayFrame } from '../../../common/src/ai-protocol/wire/olib';
import { int16ToBase64 } from '../../../common/src/ai-protocol/wire/pcm';
import { parseTwilioGatewayFrame } from '../../../common/src/ai-protocol/wire/twilio';

/** A socket the test drives by hand. */
class FakeSocket extends EventEmitter implements WebSocketLike {
  readyState = 0;
  bufferedAmount = 0;
  readonly sent: WireFrame[] = [];
  pings = 0;
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  terminated = false;

  constructor(
    readonly url: string,
    readonly protocols: string[],
    readonly options: SocketOptions,
  ) {
    super();
  }

  send(data: WireFrame): void {
    this.sent.push(data);
  }
  ping(): void {
    this.pings++;
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    this.emit('open');
  }
  receive(frame: object | string): void {
    this.emit('message', Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)), false);
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.emit('close', code, Buffer.from(reason));
  }
  /** Frames sent so far, as olib frames. */
  frames(): OlibGatewayFrame[] {
    return this.sent.map((w) => {
      const parsed = parseOlibGatewayFrame(String(w));
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.frame;
    });
  }
  types(): string[] {
    return this.frames().map((f) => f.type);
  }
}

const FRAME = new Int16Array(320).fill(1000);
const secrets = {
  jwtSecretKey: 'jwt-secret-for-tests-0123456789abcdef',
  sipSharedSecret: 'shared-secret-for-tests-0123456789abcdef',
};

function setup(overrides: Partial<AiStreamOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const stream = new AiStream({
    url: 'ws://ai.example/olib',
    dialect: 'olib',
    call: {
      callId: 'call-1',
      conversationId: 'conv-1',
      from: '+15550001',
      to: '+15550002',
      direction: 'incoming',
      codec: 'PCMU',
    },
    secrets,
    reconnect: { maxDownMs: 5000, initialDelayMs: 100, maxDelayMs: 800 },
    queue: { maxBufferedMs: 100 },
    heartbeatMs: 0,
    random: () => 0.5,
    wsFactory: (url, protocols, options) => {
      const socket = new FakeSocket(url, protocols, options);
      sockets.push(socket);
      return socket;
    },
    ...overrides,
  });
  const events: unknown[][] = [];
  for (const name of [
    'audio',
    'clear',
    'mark',
    'text',
    'hangup',
    'transfer',
    'transfer_complete',
    'transfer_cancel',
    'send_dtmf',
    'sms',
    'reconnecting',
    'reconnected',
    'down',
    'error',
  ] as const) {
    stream.on(name, (...args: unknown[]) => events.push([name, ...args]));
  }
  return { stream, sockets, events };
}

/** Lets the real event loop turn until `ready()` (JWT signing is asynchronous). */
async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !ready(); i++) await new Promise((r) => setImmediate(r));
  if (!ready()) throw new Error('condition never became true');
}

async function connected(overrides: Partial<AiStreamOptions> = {}) {
  const s = setup(overrides);
  const started = s.stream.start();
  await until(() => s.sockets.length === 1);
  const socket = s.sockets[0] as FakeSocket;
  socket.open();
  socket.receive({ type: 'auth_ok', data: { call_id: 'call-1' } });
  await started;
  return { ...s, socket };
}

beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));
afterEach(() => {
  expect(jest.getTimerCount()).toBe(0);
  jest.useRealTimers();
});

describe('start()', () => {
  test('connects without subprotocols or credentials in the URL, sends auth first, resolves on auth_ok', async () => {
    const { stream, socket } = await connected();
    expect(socket.url).toBe('ws://ai.example/olib');
    expect(socket.protocols).toEqual([]);
    expect(socket.options.headers).toEqual({});
    const [auth] = socket.frames();
    expect(auth).toMatchObject({
      type: 'auth',
      auth: { call_id: 'call-1', reconnected: false },
      call: { conversation_id: 'conv-1', codec: 'PCMU', sample_rate: 8000 },
    });
    expect(stream.state).toBe('open');
    expect(stream.stats.connects).toBe(1);
    stream.close();
  });

  test('an error frame before acceptance → rejects ERR_AI_AUTH_REJECTED, socket terminated, stream closed', async () => {
    const { stream, sockets } = setup();
    const started = stream.start();
    await until(() => sockets.length === 1);
    sockets[0]?.open();
    sockets[0]?.receive({ type: 'error', data: { code: 'ERR_AUTH_TOKEN', message: 'token expired' } });
    await expect(started).rejects.toMatchObject({ code: 'ERR_AI_AUTH_REJECTED', message: 'token expired' });
    expect(sockets[0]?.terminated).toBe(true);
    expect(stream.state).toBe('closed');
  });

  test('close 4401 before acceptance → ERR_AI_AUTH_REJECTED; close 1006 → ERR_AI_CONNECT_FAILED', async () => {
    const a = setup();
    const startedA = a.stream.start();
    await until(() => a.sockets.length === 1);
    a.sockets[0]?.open();
    a.sockets[0]?.drop(4401, 'unauthorized');
    await expect(startedA).rejects.toMatchObject({ code: 'ERR_AI_AUTH_REJECTED' });

    const b = setup();
    const startedB = b.stream.start();
    await until(() => b.sockets.length === 1);
    b.sockets[0]?.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:9'));
    b.sockets[0]?.drop(1006);
    await expect(startedB).rejects.toMatchObject({
      code: 'ERR_AI_CONNECT_FAILED',
      message: 'connect ECONNREFUSED 127.0.0.1:9',
    });
  });

  test('an HTTP 401 to the upgrade → ERR_AI_AUTH_REJECTED', async () => {
    const { stream, sockets } = setup();
    const started = stream.start();
    await until(() => sockets.length === 1);
    sockets[0]?.emit('error', new Error('Unexpected server response: 401'));
    sockets[0]?.drop(1006);
    await expect(started).rejects.toBeInstanceOf(AiStreamError);
    await expect(started).rejects.toMatchObject({ code: 'ERR_AI_AUTH_REJECTED' });
  });

  test('no acceptance within connectTimeoutMs → ERR_AI_CONNECT_TIMEOUT and nothing left running', async () => {
    const { stream, sockets } = setup({ connectTimeoutMs: 2000 });
    const started = stream.start();
    await until(() => sockets.length === 1);
    sockets[0]?.open();
    jest.advanceTimersByTime(2000);
    await expect(started).rejects.toMatchObject({ code: 'ERR_AI_CONNECT_TIMEOUT' });
    expect(sockets[0]?.terminated).toBe(true);
  });

  test('an AI that talks without auth_ok is taken to have accepted', async () => {
    const { stream, sockets, events } = setup();
    const started = stream.start();
    await until(() => sockets.length === 1);
    sockets[0]?.open();
    sockets[0]?.receive({ type: 'response', data: { text: 'Hello' } });
    await started;
    expect(events).toEqual([['text', 'Hello', true]]);
    stream.close();
  });

  test('end() before acceptance → start() rejects ERR_AI_STREAM_CLOSED', async () => {
    const { stream, sockets } = setup();
    const started = stream.start();
    await until(() => sockets.length === 1);
    await stream.end('caller_hangup');
    await expect(started).rejects.toMatchObject({ code: 'ERR_AI_STREAM_CLOSED' });
    expect(sockets[0]?.terminated).toBe(true);
  });

  test('start() twice → TypeError', async () => {
    const { stream } = await connected();
    await expect(stream.start()).rejects.toThrow(TypeError);
    stream.close();
  });
});

describe('messages from the AI', () => {
  test('each validated frame becomes its event', async () => {
    const { stream, socket, events } = await connected();
    const pcm = new Int16Array([1, 2, 3]);
    socket.receive({ type: 'audio', data: { audio: int16ToBase64(pcm) } });
    socket.receive({ type: 'mark', data: { name: 'm1' } });
    socket.receive({ type: 'clear' });
    socket.receive({ type: 'transfer', data: { target: 'sip:desk@example.com' } });
    socket.receive({ type: 'transfer', data: { target: '+15550100', mode: 'warm' } });
    socket.receive({ type: 'transfer_complete' });
    socket.receive({ type: 'transfer_cancel' });
    socket.receive({ type: 'send_dtmf', data: { digits: '12#', duration_ms: 80 } });
    socket.receive({ type: 'sms', data: { text: 'bye', to_number: '+1', in_reply_to: 'm-1' } });
    socket.receive({ type: 'hangup', data: { reason: 'done' } });
    expect(events).toEqual([
      ['audio', pcm],
      ['mark', 'm1'],
      ['clear'],
      ['transfer', 'sip:desk@example.com', 'auto'],
      ['transfer', '+15550100', 'warm'],
      ['transfer_complete'],
      ['transfer_cancel'],
      ['send_dtmf', '12#', 80],
      ['sms', { text: 'bye', to: '+1', inReplyTo: 'm-1' }],
      ['hangup', 'done'],
    ]);
    expect(stream.stats.audioChunksReceived).toBe(1);
    stream.close();
  });

  test('a bad frame → error event ERR_AI_BAD_FRAME, counted, an error frame to the AI at most once a second, stream still open', async () => {
    const { stream, socket, events } = await connected();
    socket.receive('{"type":"response","data":{}}');
    socket.receive('not json at all');
    socket.receive({ type: 'audio', data: { audio: '%%%%' } });
    expect(events.map((e) => [e[0], (e[1] as AiStreamError).code])).toEqual([
      ['error', 'ERR_AI_BAD_FRAME'],
      ['error', 'ERR_AI_BAD_FRAME'],
      ['error', 'ERR_AI_BAD_FRAME'],
    ]);
    expect(stream.stats.badFrames).toBe(3);
    expect(socket.types().filter((t) => t === 'error')).toHaveLength(1);
    jest.advanceTimersByTime(1000);
    socket.receive('[]');
    expect(socket.types().filter((t) => t === 'error')).toHaveLength(2);
    expect(stream.state).toBe('open');
    stream.close();
  });

  test('a bad frame with no error listener is logged, never thrown', async () => {
    const warnings: string[] = [];
    const { stream, socket } = await connected({
      logger: { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m) },
    });
    stream.removeAllListeners('error');
    expect(() => socket.receive('garbage')).not.toThrow();
    expect(warnings).toEqual(['ai-stream: error']);
    stream.close();
  });

  test("an error frame after acceptance → error event ERR_AI_REMOTE_ERROR with the AI's code", async () => {
    const { stream, socket, events } = await connected();
    socket.receive({ type: 'error', data: { code: 'ERR_TTS', message: 'voice unavailable' } });
    const [[name, error]] = events as [[string, AiStreamError]];
    expect(name).toBe('error');
    expect(error).toMatchObject({
      code: 'ERR_AI_REMOTE_ERROR',
      message: 'voice unavailable',
      details: { remoteCode: 'ERR_TTS' },
    });
    stream.close();
  });

  test("the AI's ping is answered with a pong of the same id", async () => {
    const { stream, socket } = await connected();
    socket.receive({ type: 'ping', data: { id: 42 } });
    expect(socket.frames().at(-1)).toEqual({ type: 'pong', data: { call_id: 'call-1', id: 42 } });
    stream.close();
  });
});

describe('sending', () => {
  test('audio frames go straight out with increasing sequence; DTMF and mark acks in between', async () => {
    const { stream, socket } = await connected();
    stream.sendAudio(FRAME);
    stream.sendDtmf('5', 100);
    stream.sendAudio(FRAME);
    stream.markPlayed('m1', 480, false);
    expect(socket.types()).toEqual(['auth', 'audio_data', 'dtmf', 'audio_data', 'mark']);
    const seqs = socket.frames().flatMap((f) => (f.type === 'audio_data' ? [f.data.sequence] : []));
    expect(seqs).toEqual([1, 2]);
    expect(stream.stats.framesSent).toBe(2);
    stream.close();
  });

  test('a congested socket: audio waits in the queue, beyond maxBufferedMs the oldest is dropped and counted', async () => {
    const { stream, socket } = await connected({ queue: { maxBufferedMs: 100 } });
    socket.bufferedAmount = 10_000_000;
    for (let i = 0; i < 8; i++) stream.sendAudio(FRAME);
    expect(socket.types()).toEqual(['auth']);
    expect(stream.stats).toMatchObject({ framesQueued: 5, framesDropped: 3, framesSent: 0 });
    socket.bufferedAmount = 0;
    jest.advanceTimersByTime(20);
    const seqs = socket.frames().flatMap((f) => (f.type === 'audio_data' ? [f.data.sequence] : []));
    expect(seqs).toEqual([4, 5, 6, 7, 8]);
    expect(stream.stats).toMatchObject({ framesQueued: 0, framesDropped: 3, framesSent: 5 });
    stream.close();
  });

  test('binary dialect: dropped frames are announced with audio_gap before the audio that follows', async () => {
    const { stream, socket } = await connected({ dialect: 'binary', queue: { maxBufferedMs: 40 } });
    socket.bufferedAmount = 10_000_000;
    for (let i = 0; i < 5; i++) stream.sendAudio(FRAME);
    socket.bufferedAmount = 0;
    jest.advanceTimersByTime(20);
    const kinds = socket.sent.map((w) =>
      typeof w === 'string' ? (JSON.parse(w) as { type: string }).type : `bin${w.byteLength}`,
    );
    expect(kinds).toEqual(['auth', 'audio_gap', 'bin640', 'bin640']);
    expect(JSON.parse(socket.sent[1] as string)).toEqual({
      type: 'audio_gap',
      data: { call_id: 'call-1', dropped_frames: 3, dropped_ms: 60 },
    });
    stream.close();
  });

  test('a frame that is not 320 samples, or a digit that is not DTMF → TypeError', async () => {
    const { stream } = await connected();
    expect(() => stream.sendAudio(new Int16Array(160))).toThrow(TypeError);
    expect(() => stream.sendDtmf('X', 100)).toThrow(TypeError);
    stream.close();
  });

  test('playout depth: flow paused at playoutPauseMs, resumed at playoutResumeMs, once each', async () => {
    const { stream, socket } = await connected({
      queue: { maxBufferedMs: 100, playoutPauseMs: 3000, playoutResumeMs: 500 },
    });
    for (const depth of [1000, 3000, 3500, 2000, 600, 500, 400, 3100]) stream.reportPlayoutDepth(depth);
    const flows = socket.frames().flatMap((f) => (f.type === 'flow' ? [[f.data.state, f.data.buffered_ms]] : []));
    expect(flows).toEqual([
      ['paused', 3000],
      ['resumed', 500],
      ['paused', 3100],
    ]);
    stream.close();
  });

  test('hold, resume and sms are sent as call events', async () => {
    const { stream, socket } = await connected();
    stream.sendEvent({ type: 'hold' });
    stream.sendEvent({ type: 'resume' });
    stream.sendEvent({ type: 'sms', messageId: 'sms-1', from: '+1', to: '+2', text: 'hi' });
    expect(socket.types().slice(1)).toEqual(['hold', 'resume', 'sms']);
    stream.close();
  });
});

describe('heartbeat', () => {
  test('every heartbeatMs: a WebSocket ping and an app-level ping', async () => {
    const { stream, socket } = await connected({ heartbeatMs: 1000 });
    jest.advanceTimersByTime(1000);
    socket.receive({ type: 'pong', data: { id: 1 } });
    jest.advanceTimersByTime(1000);
    expect(socket.pings).toBe(2);
    expect(
      socket
        .frames()
        .filter((f) => f.type === 'ping')
        .map((f) => (f.type === 'ping' ? f.data.id : 0)),
    ).toEqual([1, 2]);
    stream.close();
  });

  test('WebSocket pongs alone keep the socket alive', async () => {
    const { stream, socket } = await connected({ heartbeatMs: 1000 });
    for (let i = 0; i < 5; i++) {
      jest.advanceTimersByTime(1000);
      socket.emit('pong');
    }
    expect(stream.state).toBe('open');
    stream.close();
  });

  test('silence for more than two periods → socket dropped and reconnecting', async () => {
    const { stream, socket, events } = await connected({ heartbeatMs: 1000 });
    jest.advanceTimersByTime(3000);
    expect(socket.terminated).toBe(true);
    expect(stream.state).toBe('reconnecting');
    expect(events).toEqual([['reconnecting', 1]]);
    stream.close();
  });
});

describe('reconnecting', () => {
  test('a dropped socket is replaced after backoff; the new auth says reconnected: true for the same call; queued audio follows', async () => {
    const { stream, sockets, socket, events } = await connected();
    stream.sendAudio(FRAME);
    socket.drop(1006);
    expect(stream.state).toBe('reconnecting');
    expect(events).toEqual([['reconnecting', 1]]);
    stream.sendAudio(FRAME);
    stream.sendDtmf('1', 100);
    jest.advanceTimersByTime(74); // attempt 1: ceiling 100, random 0.5 → 75 ms
    expect(sockets).toHaveLength(1);
    jest.advanceTimersByTime(1);
    await until(() => sockets.length === 2);
    const next = sockets[1] as FakeSocket;
    next.open();
    expect(next.frames()[0]).toMatchObject({ type: 'auth', auth: { call_id: 'call-1', reconnected: true } });
    next.receive({ type: 'auth_ok' });
    expect(events).toEqual([['reconnecting', 1], ['reconnected']]);
    expect(next.types()).toEqual(['auth', 'dtmf', 'audio_data']);
    const [, , audio] = next.frames();
    expect(audio?.type === 'audio_data' && audio.data.sequence).toBe(2);
    expect(stream.stats).toMatchObject({ connects: 2, reconnects: 1, reconnectAttempts: 1 });
    stream.close();
  });

  test('failed attempts back off exponentially, then "down" once maxDownMs is spent, leaving no timer or socket', async () => {
    const { stream, sockets, socket, events } = await connected({
      reconnect: { maxDownMs: 2000, initialDelayMs: 100, maxDelayMs: 800 },
    });
    socket.drop(1001);
    const startedAt = Date.now();
    const attemptTimes: number[] = [];
    while (stream.state !== 'closed') {
      const before = sockets.length;
      jest.advanceTimersToNextTimer();
      if (sockets.length > before || stream.state === 'connecting') {
        await until(() => sockets.length > before);
        attemptTimes.push(Date.now() - startedAt);
        const s = sockets.at(-1) as FakeSocket;
        s.emit('error', new Error('connect ECONNREFUSED'));
        s.drop(1006);
      }
    }
    // delays 75, 150, 300, 600, 600, … (random 0.5 → 3/4 of the ceiling), the last moved inside the window
    expect(attemptTimes.slice(0, 4)).toEqual([75, 225, 525, 1125]);
    expect(attemptTimes.at(-1)).toBeLessThan(2000);
    expect(events.at(-1)).toEqual(['down', 'ai_unreachable']);
    expect(events.filter((e) => e[0] === 'reconnecting').map((e) => e[1])).toEqual(attemptTimes.map((_, i) => i + 1));
    expect(sockets.every((s) => s.terminated || s.readyState === 3)).toBe(true);
    expect(stream.state).toBe('closed');
  });

  test('a reconnect refused with 4401 → down "auth_rejected", no further attempts', async () => {
    const { stream, sockets, socket, events } = await connected();
    socket.drop(1006);
    jest.advanceTimersByTime(75);
    await until(() => sockets.length === 2);
    sockets[1]?.open();
    sockets[1]?.drop(4401, 'ERR_AUTH_TOKEN');
    expect(events.at(-1)).toEqual(['down', 'auth_rejected']);
    expect(stream.state).toBe('closed');
  });

  test('close() while waiting to reconnect cancels the attempt', async () => {
    const { stream, sockets, socket } = await connected();
    socket.drop(1006);
    stream.close();
    jest.advanceTimersByTime(10_000);
    expect(sockets).toHaveLength(1);
    expect(stream.state).toBe('closed');
  });
});

describe('the AI closing', () => {
  test('close 1000 without hangup → hangup "ai_closed", no reconnect', async () => {
    const { stream, socket, events } = await connected();
    socket.drop(1000);
    expect(events).toEqual([['hangup', 'ai_closed']]);
    expect(stream.state).toBe('closed');
  });

  test('hangup then close → one hangup event', async () => {
    const { stream, socket, events } = await connected();
    socket.receive({ type: 'hangup', data: { reason: 'goodbye' } });
    socket.drop(1000);
    expect(events).toEqual([['hangup', 'goodbye']]);
    expect(stream.state).toBe('closed');
  });

  test('an application close code (4000–4999) → down with the code and reason', async () => {
    const { stream, socket, events } = await connected();
    socket.drop(4009, 'capacity');
    expect(events).toEqual([['down', 'ai_closed_4009: capacity']]);
    expect(stream.state).toBe('closed');
  });
});

describe('end() and close()', () => {
  test('end() sends call_end, closes with 1000 and the reason, resolves when the AI closes; idempotent', async () => {
    const { stream, socket } = await connected();
    stream.sendAudio(FRAME);
    const ended = stream.end('caller_hangup');
    expect(stream.end('again')).toBe(ended);
    expect(socket.frames().at(-1)).toMatchObject({
      type: 'call_end',
      data: { call_id: 'call-1', reason: 'caller_hangup' },
    });
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'caller_hangup' });
    stream.sendAudio(FRAME);
    expect(socket.types().at(-1)).toBe('call_end');
    socket.drop(1000);
    await ended;
    expect(stream.state).toBe('closed');
  });

  test("end() gives up waiting for the AI's close after closeTimeoutMs and terminates", async () => {
    const { stream, socket } = await connected({ closeTimeoutMs: 500 });
    const ended = stream.end('caller_hangup');
    jest.advanceTimersByTime(500);
    await ended;
    expect(socket.terminated).toBe(true);
  });

  test('end() after down resolves at once', async () => {
    const { stream, socket } = await connected();
    socket.drop(4403);
    await expect(stream.end('x')).resolves.toBeUndefined();
    stream.close();
    stream.close();
    expect(stream.state).toBe('closed');
  });

  test('end() of a never-started stream resolves', async () => {
    const { stream } = setup();
    await stream.end('unused');
    expect(stream.state).toBe('closed');
  });
});

describe('twilio dialect', () => {
  test('credentials in the upgrade headers; connected + start on open; accepted without a reply', async () => {
    const { stream, sockets } = setup({ dialect: 'twilio', url: 'ws://ai.example/twilio' });
    const started = stream.start();
    await until(() => sockets.length === 1);
    const socket = sockets[0] as FakeSocket;
    expect(socket.options.headers['authorization']).toMatch(/^Bearer ey/);
    expect(socket.options.headers['x-bridge-call-id']).toBe('call-1');
    socket.open();
    await started;
    const events = socket.sent.map((w) => {
      const parsed = parseTwilioGatewayFrame(String(w));
      return parsed.ok ? parsed.frame.event : parsed.reason;
    });
    expect(events).toEqual(['connected', 'start']);
    stream.sendAudio(FRAME);
    stream.sendEvent({ type: 'sms', messageId: 'm', from: '+1', to: '+2', text: 'no twilio equivalent' });
    const last = parseTwilioGatewayFrame(String(socket.sent.at(-1)));
    expect(last.ok && last.frame.event).toBe('media');
    stream.sendEvent({ type: 'hold', heldBy: 'gateway' });
    const hold = parseTwilioGatewayFrame(String(socket.sent.at(-1)));
    expect(hold.ok && hold.frame.event).toBe('hold');
    const ended = stream.end('done');
    const stop = parseTwilioGatewayFrame(String(socket.sent.at(-1)));
    expect(stop.ok && stop.frame.event).toBe('stop');
    socket.drop(1000);
    await ended;
  });
});
