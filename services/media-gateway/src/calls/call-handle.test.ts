import { EventEmitter } from 'node:events';
import { PCMU } from '../../../common/src/audio/g711';
import type { AiStream } from '../ai-stream';
import { G711Clip } from '../media/clip';
import { serializeRtp } from '../rtp/packet';
import { Call, type AiTarget, type CallDeps, type CallRequest, type DialogLike } from './call';
import { CallManager } from './call-manager';
import type { RtpSocket } from './media-leg';
import type { DialResult, OutgoingLeg } from './outbound';
import type { CallRoutes } from './routes';
import type { CallRecordStart } from './store';

class FakeSocket implements RtpSocket {
  static next = 40000;
  readonly localPort = (FakeSocket.next += 2);
  readonly sent: Buffer[] = [];
  closed = false;
  private listener: ((d: Buffer, a: string, p: number) => void) | null = null;
  send(datagram: Buffer): void {
    this.sent.push(datagram);
  }
  onDatagram(listener: (d: Buffer, a: string, p: number) => void): void {
    this.listener = listener;
  }
  receive(d: Buffer): void {
    this.listener?.(d, '127.0.0.1', 1);
  }
  close(): void {
    this.closed = true;
  }
}

class FakeDialog implements DialogLike {
  byes = 0;
  private terminated: ((reason: string) => void) | null = null;
  private info: ((digit: string, durationMs: number) => void) | null = null;
  onReinvite(): void {}
  onInfoDtmf(listener: (digit: string, durationMs: number) => void): void {
    this.info = listener;
  }
  onTerminated(listener: (reason: string) => void): void {
    this.terminated = listener;
  }
  bye(): Promise<void> {
    this.byes++;
    return Promise.resolve();
  }
  refer(): Promise<{ status: number }> {
    return Promise.resolve({ status: 501 });
  }
  hangUp(): void {
    this.terminated?.('remote');
  }
  sipInfo(digit: string): void {
    this.info?.(digit, 160);
  }
}

/** What the call sees of an AI stream: start accepted or refused, what it was sent. */
class FakeAi extends EventEmitter {
  dtmf: string[] = [];
  audioFrames = 0;
  ended: string | null = null;
  constructor(private readonly accept: boolean) {
    super();
  }
  start(): Promise<void> {
    return this.accept ? Promise.resolve() : Promise.reject(new Error('refused: 403'));
  }
  sendAudio(): void {
    this.audioFrames++;
  }
  sendDtmf(digit: string): void {
    this.dtmf.push(digit);
  }
  reportPlayoutDepth(): void {}
  sendEvent(): void {}
  markPlayed(): void {}
  end(reason: string): Promise<void> {
    this.ended = reason;
    return Promise.resolve();
  }
}

const ANSWER = `v=0\r\no=- 1 1 IN IP4 127.0.0.7\r\ns=-\r\nc=IN IP4 127.0.0.7\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n`;

const TARGET: AiTarget = { url: 'ws://ai.test/olib', dialect: 'olib', customParameters: {}, record: false };

interface Dialled {
  to: string;
  settle(r: DialResult): void;
  cancelled: boolean;
  dialog: FakeDialog;
}

function rtp(payloadType: number, seq: number, marker = false): Buffer {
  return serializeRtp({
    marker,
    payloadType,
    sequence: seq,
    timestamp: seq * 160,
    ssrc: 7,
    payload: Buffer.alloc(payloadType === 101 ? 4 : 160, 0xff),
  });
}

function setup(opts: { aiAccepts?: boolean; route?: string } = {}) {
  const sockets: FakeSocket[] = [];
  const clock = new Set<(tick: number, now: number) => void>();
  const started: CallRecordStart[] = [];
  const events: Array<[string, Record<string, unknown>]> = [];
  const ended: unknown[] = [];
  const ais: FakeAi[] = [];
  const aiInfo: Array<{ url: string; dialect: string }> = [];
  const inbandAsked: boolean[] = [];
  const dials: Dialled[] = [];
  const dialog = new FakeDialog();
  const progress: number[] = [];
  const request: CallRequest = {
    sipCallId: 'sip-1',
    fromUser: '+15550001111',
    toUser: '+15557770001',
    route: opts.route ?? 'ivr|main',
    offer: 'v=0 offer',
    progress: (s) => progress.push(s),
    accept: () => Promise.resolve(dialog),
    reject: () => undefined,
    onCancel: () => undefined,
  };
  const deps: CallDeps = {
    request,
    target: TARGET,
    gatewayId: 'gw-test',
    rtpAddress: '127.0.0.5',
    openSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return Promise.resolve(s);
    },
    negotiate: () => ({
      ok: true,
      sdp: 'v=0 answer',
      codec: 'PCMU',
      telephoneEventPt: 101,
      remote: { address: '127.0.0.9', port: 30000 },
      remoteDirection: 'sendrecv',
    }),
    createAiStream: (info) => {
      const ai = new FakeAi(opts.aiAccepts ?? true);
      ais.push(ai);
      aiInfo.push({ url: info.url, dialect: info.dialect });
      return ai as unknown as AiStream;
    },
    mediaParts: (_pt, _te, o) => {
      inbandAsked.push(o?.inband ?? false);
      let frames: Buffer[] = [];
      return {
        jitter: {
          push: (p) => {
            if (p.payloadType === 0) frames.push(p.payload);
          },
          pop: () => {
            const f = frames.shift();
            frames = frames.slice();
            return f ? { kind: 'frame' as const, payload: f, timestamp: 0, seq: 0 } : { kind: 'empty' as const };
          },
        },
        concealer: { good: (f: Int16Array) => f, lost: () => new Int16Array(160) },
        inband: null,
        // A marker packet of telephone-event is a press of 7 (the receiver's own tests cover RFC 4733).
        telephoneEvents: { onPacket: (p) => (p.marker ? { digit: '7', durationMs: 100 } : null) },
        holdAudio: () => new Int16Array(160),
        now: () => 0,
      };
    },
    subscribeClock: (l) => {
      clock.add(l);
      return () => clock.delete(l);
    },
    store: {
      numberSettings: () => Promise.resolve(null),
      started: (r) => {
        started.push(r);
        return Promise.resolve();
      },
      event: (_id, type, data) => {
        events.push([type, data]);
        return Promise.resolve();
      },
      ended: (_id, r) => {
        ended.push(r);
        return Promise.resolve();
      },
    },
    metrics: {
      callStarted: () => undefined,
      callEnded: () => undefined,
      rtpToWsLatency: () => undefined,
      wsToRtpLatency: () => undefined,
      frames: () => undefined,
      wsEvent: () => undefined,
      dtmf: () => undefined,
    },
    transfers: {
      domain: 'bridge.test',
      ringTimeoutMs: 60_000,
      dial: (req) => {
        let settle!: (r: DialResult) => void;
        const result = new Promise<DialResult>((r) => (settle = r));
        const d: Dialled = { to: req.to, settle, cancelled: false, dialog: new FakeDialog() };
        dials.push(d);
        const leg: OutgoingLeg = {
          onProgress: () => undefined,
          result,
          cancel: () => {
            d.cancelled = true;
            settle({ ok: false, status: 487, reason: 'Request Terminated' });
          },
        };
        return leg;
      },
    },
    recordingsDir: '/tmp',
    logger: { info: () => undefined, warn: () => undefined },
    now: () => 0,
  };
  const call = new Call(deps);
  const tick = (n = 1) => {
    for (let i = 0; i < n; i++) for (const l of [...clock]) l(i, i * 20);
  };
  return {
    call,
    request,
    deps,
    sockets,
    tick,
    started,
    events,
    ended,
    ais,
    aiInfo,
    inbandAsked,
    dials,
    dialog,
    progress,
  };
}

const flush = () => new Promise((r) => setImmediate(r));
const types = (events: Array<[string, unknown]>) => events.map(([t]) => t);

describe('Call as a CallHandle (answered without an AI)', () => {
  test('answerWithoutAi → 180, 200 OK, active, calls row with the route and no AI, in-band DTMF on, no AI stream', async () => {
    const t = setup();
    await t.call.answerWithoutAi(t.request);
    expect(t.progress).toEqual([180]);
    expect(t.call.state).toBe('active');
    expect(t.call.live).toBe(true);
    expect(t.call.attended).toBe(false);
    expect(t.call.codec).toBe('PCMU');
    expect(t.call.parties).toEqual({
      sipCallId: 'sip-1',
      fromUser: '+15550001111',
      toUser: '+15557770001',
      route: 'ivr|main',
    });
    expect(t.started).toMatchObject([{ route: 'ivr|main', aiUrl: null, aiDialect: null, codec: 'PCMU' }]);
    expect(t.ais).toHaveLength(0);
    expect(t.inbandAsked).toEqual([true]);
  });

  test('play(clip) → its frames go out once, then silence; done resolves after the last frame', async () => {
    const t = setup();
    await t.call.answerWithoutAi(t.request);
    const payload = new Uint8Array(400).map((_, i) => i % 200);
    const clip = new G711Clip(payload, PCMU);
    let done = false;
    void clip.done.then(() => (done = true));
    t.call.play(clip);
    t.tick(2);
    await flush();
    expect(done).toBe(false);
    t.tick(1);
    await flush();
    expect(done).toBe(true);
    t.tick(1);
    const socket = t.sockets[0] as FakeSocket;
    const payloads = socket.sent.map((d) => d.subarray(12));
    expect(payloads).toHaveLength(4);
    expect([...(payloads[0] as Buffer)]).toEqual([...payload.subarray(0, 160)]);
    expect([...(payloads[2] as Buffer).subarray(0, 80)]).toEqual([...payload.subarray(320, 400)]);
    // The padded tail and what follows are µ-law silence.
    expect((payloads[2] as Buffer).subarray(80).every((b) => b === 0xff)).toBe(true);
    expect((payloads[3] as Buffer).every((b) => b === 0xff)).toBe(true);
  });

  test('a clip replaced by another source, or playing when the call ends → its done resolves', async () => {
    const t = setup();
    await t.call.answerWithoutAi(t.request);
    const first = new G711Clip(new Uint8Array(16000), PCMU);
    const second = new G711Clip(new Uint8Array(16000), PCMU);
    t.call.play(first);
    t.call.play(second);
    await expect(first.done).resolves.toBeUndefined();
    expect(second.ended).toBe(false);
    await t.call.end('test over', 'api');
    await expect(second.done).resolves.toBeUndefined();
  });

  test('RFC 4733 and SIP INFO key presses → onDigit listeners with their source, recorded; unsubscribe stops them', async () => {
    const t = setup();
    await t.call.answerWithoutAi(t.request);
    const got: string[] = [];
    const off = t.call.onDigit((d, source) => got.push(`${d}/${source}`));
    const socket = t.sockets[0] as FakeSocket;
    socket.receive(rtp(101, 1, true));
    t.dialog.sipInfo('#');
    expect(got).toEqual(['7/rfc4733', '#/sip-info']);
    await flush();
    expect(t.events.filter(([type]) => type === 'dtmf').map(([, d]) => d['source'])).toEqual(['rfc4733', 'sip-info']);
    off();
    t.dialog.sipInfo('1');
    expect(got).toHaveLength(2);
  });

  test('connectAi → the stream opens with that target, music stops, the AI hears the caller and gets later key presses', async () => {
    const t = setup();
    await t.call.answerWithoutAi(t.request);
    const got: string[] = [];
    t.call.onDigit((d) => got.push(d));
    const music = { next: () => new Uint8Array(160).fill(0x42) };
    t.call.play(music);
    const target: AiTarget = { ...TARGET, url: 'ws://other.test/twilio', dialect: 'twilio' };
    await expect(t.call.connectAi(target)).resolves.toBe(true);
    expect(t.aiInfo).toEqual([{ url: 'ws://other.test/twilio', dialect: 'twilio' }]);
    expect(t.call.attended).toBe(true);
    const socket = t.sockets[0] as FakeSocket;
    socket.sent.length = 0;
    socket.receive(rtp(0, 1));
    t.tick(1);
    // Comfort silence from the AI side, no more music.
    expect((socket.sent[0] as Buffer).subarray(12).includes(0x42)).toBe(false);
    expect((t.ais[0] as FakeAi).audioFrames).toBe(1);
    t.dialog.sipInfo('5');
    socket.receive(rtp(101, 2, true));
    expect((t.ais[0] as FakeAi).dtmf).toEqual(['5', '7']);
    expect(got).toEqual([]);
    await flush();
    expect(t.events).toContainEqual(['ai_connected', { url: 'ws://other.test/twilio', dialect: 'twilio' }]);
    // The AI's hangup ends the call as on any AI call.
    (t.ais[0] as FakeAi).emit('hangup', 'done');
    await t.call.ended;
    expect(t.call.live).toBe(false);
  });

  test('connectAi refused → false, the call still up and still ours (digits to listeners, music on)', async () => {
    const t = setup({ aiAccepts: false });
    await t.call.answerWithoutAi(t.request);
    const got: string[] = [];
    t.call.onDigit((d) => got.push(d));
    await expect(t.call.connectAi(TARGET)).resolves.toBe(false);
    expect(t.call.state).toBe('active');
    expect((t.ais[0] as FakeAi).ended).toBe('refused');
    t.dialog.sipInfo('3');
    expect(got).toEqual(['3']);
    await flush();
    expect(types(t.events)).toContain('ai_failed');
  });
});

describe('bridgeTo (ring all)', () => {
  async function ringing(targets = ['alice', 'bob']) {
    const t = setup();
    await t.call.answerWithoutAi(t.request);
    const music = { next: () => new Uint8Array(160).fill(0x42) };
    t.call.play(music);
    const outcome = t.call.bridgeTo(targets, { ringTimeoutMs: 60_000 });
    await flush();
    return { t, outcome };
  }

  test('two targets ring at once; the first 2xx wins, the other is CANCELled; either BYE then ends the call', async () => {
    const { t, outcome } = await ringing();
    expect(t.dials.map((d) => d.to)).toEqual(['alice', 'bob']);
    // The caller still hears the music while they ring.
    const socket = t.sockets[0] as FakeSocket;
    socket.sent.length = 0;
    t.tick(1);
    expect((socket.sent[0] as Buffer).subarray(12)[0]).toBe(0x42);
    const bob = t.dials[1] as Dialled;
    bob.settle({ ok: true, dialog: bob.dialog, answer: ANSWER });
    await expect(outcome).resolves.toEqual({ ok: true, target: 'bob' });
    expect((t.dials[0] as Dialled).cancelled).toBe(true);
    expect(bob.cancelled).toBe(false);
    expect(t.call.attended).toBe(true);
    expect(types(t.events)).toEqual(expect.arrayContaining(['bridge_ringing', 'bridge_answered']));
    // Caller RTP now goes to bob's leg (relay: same codec).
    const bobSocket = t.sockets[2] as FakeSocket;
    socket.receive(rtp(0, 9));
    expect(bobSocket.sent).toHaveLength(1);
    bob.dialog.hangUp();
    await t.call.ended;
    expect(t.ended).toMatchObject([{ by: 'callee' }]);
    expect(t.dialog.byes).toBe(1);
  });

  test('a second 2xx (it crossed our CANCEL) → BYE to that party; the first stays bridged', async () => {
    const { t, outcome } = await ringing();
    const [alice, bob] = t.dials as [Dialled, Dialled];
    alice.settle({ ok: true, dialog: alice.dialog, answer: ANSWER });
    bob.settle({ ok: true, dialog: bob.dialog, answer: ANSWER });
    await expect(outcome).resolves.toEqual({ ok: true, target: 'alice' });
    await flush();
    expect(bob.dialog.byes).toBe(1);
    expect(alice.dialog.byes).toBe(0);
    expect(t.call.attended).toBe(true);
  });

  test('the caller hangs up after the bridge → BYE to the bridged party', async () => {
    const { t, outcome } = await ringing();
    const alice = t.dials[0] as Dialled;
    alice.settle({ ok: true, dialog: alice.dialog, answer: ANSWER });
    await expect(outcome).resolves.toEqual({ ok: true, target: 'alice' });
    t.dialog.hangUp();
    await t.call.ended;
    expect(alice.dialog.byes).toBe(1);
    expect(t.ended).toMatchObject([{ by: 'caller' }]);
  });

  test('everyone busy → busy 486 with each status; the call stays up, still ours, and may ring again', async () => {
    const { t, outcome } = await ringing();
    for (const d of t.dials) d.settle({ ok: false, status: 486, reason: 'Busy Here' });
    await expect(outcome).resolves.toEqual({
      ok: false,
      sipStatus: 486,
      reason: 'busy',
      statuses: { alice: 486, bob: 486 },
    });
    expect(t.call.live).toBe(true);
    expect(t.call.attended).toBe(false);
    const again = t.call.bridgeTo(['carol'], { ringTimeoutMs: 60_000 });
    await flush();
    const carol = t.dials[2] as Dialled;
    carol.settle({ ok: false, status: 404, reason: 'Not Found' });
    await expect(again).resolves.toMatchObject({ ok: false, sipStatus: 404, reason: 'failed' });
  });

  test('nobody answers within the ring timeout → all CANCELled, no_answer', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const t = setup();
      await t.call.answerWithoutAi(t.request);
      const outcome = t.call.bridgeTo(['alice', 'bob'], { ringTimeoutMs: 5000 });
      await flush();
      jest.advanceTimersByTime(5000);
      await expect(outcome).resolves.toMatchObject({ ok: false, reason: 'no_answer', sipStatus: 487 });
      expect(t.dials.every((d) => d.cancelled)).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  test('the caller hangs up while they ring → all CANCELled, cancelled', async () => {
    const { t, outcome } = await ringing();
    t.dialog.hangUp();
    await expect(outcome).resolves.toMatchObject({ ok: false, reason: 'cancelled' });
    expect(t.dials.every((d) => d.cancelled)).toBe(true);
  });

  test('a bad target is not dialled (400); all bad → failed without dialling', async () => {
    const { t, outcome } = await ringing(['sip:evil@elsewhere.example', 'alice']);
    expect(t.dials.map((d) => d.to)).toEqual(['alice']);
    (t.dials[0] as Dialled).settle({ ok: false, status: 480, reason: 'Unavailable' });
    await expect(outcome).resolves.toMatchObject({
      ok: false,
      reason: 'no_answer',
      statuses: { 'sip:evil@elsewhere.example': 400, alice: 480 },
    });
  });
});

describe('CallManager with routes', () => {
  function managed(routes: CallRoutes) {
    const t = setup();
    const m = new CallManager({
      maxCalls: 10,
      defaultTarget: { url: 'ws://127.0.0.1:8090', dialect: 'olib' },
      callDeps: (request, target) => ({ ...t.deps, request, target }),
      numberSettings: () => Promise.resolve(null),
      routes,
      logger: { info: () => undefined, warn: () => undefined },
    });
    return { t, m };
  }
  const req = (t: ReturnType<typeof setup>, route: string, rejected: Array<[number, string]> = []): CallRequest => ({
    ...t.request,
    route,
    reject: (s, r) => rejected.push([s, r]),
  });

  test('ivr|<menu> with the hook → answered without an AI, the hook gets the call and the menu name', async () => {
    const seen: string[] = [];
    const { t, m } = managed({
      ivr: (call, menu) => {
        seen.push(`${menu} ${call.live} ${call.parties.route}`);
        return new Promise(() => undefined);
      },
    });
    await m.handle(req(t, 'ivr|main'));
    await flush();
    expect(seen).toEqual(['main true ivr|main']);
    expect(t.ais).toHaveLength(0);
    expect(m.active).toBe(1);
  });

  test('a hook that fails, or lets go of a call nobody took → the call ends', async () => {
    const { t, m } = managed({ queue: () => Promise.reject(new Error('boom')) });
    await m.handle(req(t, 'queue|sales'));
    await flush();
    await flush();
    expect(t.ended).toMatchObject([{ reason: 'route failed', by: 'gateway' }]);
    const other = managed({ ivr: () => Promise.resolve() });
    await other.m.handle(req(other.t, 'ivr|main'));
    await flush();
    await flush();
    expect(other.t.ended).toMatchObject([{ reason: 'route finished' }]);
  });

  test('admitAi busy → 486 Busy Here, no answer; queue → answered without AI and queued with the priority', async () => {
    const queued: string[] = [];
    let admission: 'busy' | 'queue' = 'busy';
    const { t, m } = managed({
      admitAi: (digits) =>
        Promise.resolve(admission === 'busy' ? { kind: 'busy' } : { kind: 'queue', queue: `q-${digits}`, priority: 5 }),
      queue: (call, queue, opts) => {
        queued.push(`${queue} ${opts?.priority} ${call.live}`);
        return new Promise(() => undefined);
      },
    });
    const rejected: Array<[number, string]> = [];
    await m.handle(req(t, 'ai|15557770001', rejected));
    expect(rejected).toEqual([[486, 'Busy Here']]);
    expect(t.progress).toEqual([]);
    admission = 'queue';
    await m.handle(req(t, 'ai|15557770001'));
    await flush();
    expect(queued).toEqual(['q-15557770001 5 true']);
    expect(t.ais).toHaveLength(0);
  });

  test('admitAi ai → a normal AI call; its seat released when it ends', async () => {
    let released = 0;
    const { t, m } = managed({
      admitAi: () =>
        Promise.resolve({
          kind: 'ai',
          release: () => {
            released++;
            return Promise.resolve();
          },
        }),
    });
    await m.handle(req(t, 'ai|15557770001'));
    expect(t.ais).toHaveLength(1);
    expect(released).toBe(0);
    await m.close();
    await flush();
    expect(released).toBe(1);
  });
});
