import { PCMU } from '../../../common/src/audio/g711';
import type { CallEvent } from '../ai-stream/dialects/types';
import { serializeRtp } from '../rtp/packet';
import { MediaBridge, SwitchableSocket, type BridgeSide } from './bridge';
import type { DialogLike, EndedBy } from './call';
import { MediaLeg, type RtpSocket } from './media-leg';
import type { DialResult, OutgoingLeg } from './outbound';
import { CallTransfer, type TransferDeps, type TransferHost } from './transfer';

class FakeSocket implements RtpSocket {
  static next = 30000;
  readonly localPort = (FakeSocket.next += 2);
  readonly sent: Array<{ datagram: Buffer; port: number; address: string }> = [];
  closed = false;
  private listener: ((d: Buffer, a: string, p: number) => void) | null = null;
  send(datagram: Buffer, port: number, address: string): void {
    this.sent.push({ datagram, port, address });
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

function legOn(socket: RtpSocket): MediaLeg {
  return new MediaLeg({
    ...parts(),
    socket,
    codec: PCMU,
    telephoneEventPt: 101,
    remote: { address: '127.0.0.1', port: 1 },
  });
}

function parts() {
  return {
    jitter: { push: () => undefined, pop: () => ({ kind: 'empty' as const }) },
    concealer: { good: (f: Int16Array) => f, lost: () => new Int16Array(160) },
    inband: null,
    telephoneEvents: { onPacket: () => null },
    holdAudio: () => new Int16Array(160),
    now: () => 0,
  };
}

class FakeDialog implements DialogLike {
  byes = 0;
  private terminated: ((reason: string) => void) | null = null;
  constructor(private readonly referResult: { status: number; outcome?: Promise<number> } = { status: 202 }) {}
  referred: string[] = [];
  onReinvite(): void {}
  onInfoDtmf(): void {}
  onTerminated(listener: (reason: string) => void): void {
    this.terminated = listener;
  }
  bye(): Promise<void> {
    this.byes++;
    return Promise.resolve();
  }
  refer(target: string): Promise<{ status: number; outcome?: Promise<number> }> {
    this.referred.push(target);
    return Promise.resolve(this.referResult);
  }
  hangUp(): void {
    this.terminated?.('remote');
  }
}

const ANSWER = (pt: number, name: string) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.7\r\ns=-\r\nc=IN IP4 127.0.0.7\r\nt=0 0\r\nm=audio 40000 RTP/AVP ${pt} 101\r\na=rtpmap:${pt} ${name}/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n`;

interface Dialled {
  request: { sipCallId: string; from: string; to: string; sdp: string };
  settle(r: DialResult): void;
  cancelled: boolean;
}

function setup(refer?: { status: number; outcome?: Promise<number> }) {
  const callerSocket = new SwitchableSocket(new FakeSocket());
  const callerLeg = legOn(callerSocket);
  const dialog = new FakeDialog(refer);
  const events: Array<[string, Record<string, unknown>]> = [];
  const told: CallEvent[] = [];
  const aiOn: Array<MediaLeg | null> = [];
  const holds: boolean[] = [];
  const ended: Array<{ reason: string; by: EndedBy }> = [];
  let released: string | null = null;
  const dials: Dialled[] = [];
  const sockets: FakeSocket[] = [];
  const host: TransferHost = {
    callId: 'call-1',
    ourNumber: '+15550001',
    theirNumber: '+15559999',
    dialog,
    caller: {
      leg: callerLeg,
      socket: callerSocket,
      codecPt: 0,
      telephoneEventPt: 101,
      remote: () => ({ address: '127.0.0.2', port: 20000 }),
    },
    connectAi: (leg) => aiOn.push(leg),
    holdCaller: (h) => holds.push(h),
    tellAi: (e) => told.push(e),
    releaseAi: (reason) => {
      released = reason;
      return Promise.resolve();
    },
    record: (type, data) => events.push([type, data]),
    end: (reason, by) => {
      ended.push({ reason, by });
      return Promise.resolve();
    },
    log: { info: () => undefined, warn: () => undefined },
  };
  const deps: TransferDeps = {
    domain: 'bridge.test',
    dial: (request) => {
      let settle!: (r: DialResult) => void;
      const result = new Promise<DialResult>((r) => (settle = r));
      const d: Dialled = { request, settle, cancelled: false };
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
    openSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return Promise.resolve(s);
    },
    rtpAddress: '127.0.0.5',
    mediaParts: () => parts(),
    subscribeClock: () => () => undefined,
    ringTimeoutMs: 60_000,
  };
  const transfer = new CallTransfer(host, deps);
  return { transfer, dialog, events, told, aiOn, holds, ended, dials, sockets, callerSocket, released: () => released };
}

const flush = () => new Promise((r) => setImmediate(r));
const types = (events: Array<[string, unknown]>) => events.map(([t]) => t);

describe('blind transfer (REFER)', () => {
  test('REFER accepted, NOTIFY 200 → transfer_succeeded with the sipfrag status, the call ends by transfer', async () => {
    const t = setup({ status: 202, outcome: Promise.resolve(200) });
    const r = await t.transfer.start({
      mode: 'blind',
      target: '+15551234567',
      requestedBy: 'api',
      waitForOutcome: true,
    });
    expect(r).toMatchObject({
      ok: true,
      mode: 'blind',
      refer_status: 202,
      sip_status: 200,
      target: 'sip:+15551234567@bridge.test',
    });
    expect(t.dialog.referred).toEqual(['sip:+15551234567@bridge.test']);
    expect(types(t.events)).toEqual(['transfer_requested', 'transfer_accepted', 'transfer_succeeded']);
    expect(t.ended).toEqual([{ reason: 'transferred to sip:+15551234567@bridge.test', by: 'transfer' }]);
  });

  test('NOTIFY 486 → transfer_failed (busy) to the AI, the caller stays, another transfer may follow', async () => {
    const t = setup({ status: 202, outcome: Promise.resolve(486) });
    await expect(
      t.transfer.start({ mode: 'blind', target: 'alice', requestedBy: 'ai', waitForOutcome: true }),
    ).rejects.toMatchObject({
      code: 'ERR_CALL_TRANSFER_FAILED',
      details: { sip_status: 486, refer_status: 202 },
    });
    expect(t.told).toEqual([
      { type: 'transfer_failed', target: 'sip:alice@bridge.test', mode: 'blind', reason: 'busy', sipStatus: 486 },
    ]);
    expect(t.ended).toEqual([]);
    expect(t.transfer.state).toBe('idle');
  });

  test('REFER refused 501 in mode auto → the target is dialled and bridged (relay: same codec); the AI leaves', async () => {
    const t = setup({ status: 501 });
    const started = t.transfer.start({
      mode: 'auto',
      target: 'sip:desk@bridge.test',
      requestedBy: 'api',
      waitForOutcome: true,
    });
    await flush();
    expect(t.dials).toHaveLength(1);
    expect(t.dials[0]!.request).toMatchObject({ from: '+15550001', to: 'desk' });
    t.dials[0]!.settle({ ok: true, dialog: new FakeDialog(), answer: ANSWER(0, 'PCMU') });
    const r = await started;
    expect(r).toMatchObject({
      ok: true,
      mode: 'bridged',
      refer_status: 501,
      fell_back: true,
      sip_status: 200,
      bridge: 'relay',
    });
    expect(t.transfer.state).toBe('bridged');
    expect(t.aiOn).toEqual([null]);
    expect(t.released()).toBe('transferred');
    expect(types(t.events)).toEqual([
      'transfer_requested',
      'transfer_failed',
      'transfer_requested',
      'transfer_answered',
      'transfer_succeeded',
    ]);
  });

  test('REFER refused in mode blind → ERR_CALL_TRANSFER_FAILED, nothing dialled', async () => {
    const t = setup({ status: 405 });
    await expect(t.transfer.start({ mode: 'blind', target: 'desk', requestedBy: 'api' })).rejects.toMatchObject({
      code: 'ERR_CALL_TRANSFER_FAILED',
      details: { sip_status: 405 },
    });
    expect(t.dials).toHaveLength(0);
  });
});

describe('targets', () => {
  test.each(['sip:evil@attacker.example', 'sips:x@10.0.0.1:5060', 'a', '<script>', 'sip:@', '+1'])(
    '%s → ERR_TRANSFER_TARGET_INVALID, nothing sent',
    async (target) => {
      const t = setup();
      await expect(t.transfer.start({ mode: 'blind', target, requestedBy: 'ai' })).rejects.toMatchObject({
        code: 'ERR_TRANSFER_TARGET_INVALID',
      });
      expect(t.dialog.referred).toEqual([]);
    },
  );
});

describe('bridged transfer', () => {
  test('the target is busy → transfer_failed busy 486 to the AI, which keeps the caller; the socket is released', async () => {
    const t = setup();
    const started = t.transfer.start({
      mode: 'bridged',
      target: '+15557654321',
      requestedBy: 'ai',
      waitForOutcome: true,
    });
    await flush();
    t.dials[0]!.settle({ ok: false, status: 486, reason: 'Busy Here' });
    await expect(started).rejects.toMatchObject({ code: 'ERR_CALL_TRANSFER_FAILED', details: { sip_status: 486 } });
    expect(t.told).toEqual([
      {
        type: 'transfer_failed',
        target: 'sip:+15557654321@bridge.test',
        mode: 'bridged',
        reason: 'busy',
        sipStatus: 486,
      },
    ]);
    expect(t.aiOn).toEqual([]);
    expect(t.sockets[0]!.closed).toBe(true);
    expect(t.transfer.state).toBe('idle');
  });

  test('the target leg is offered the caller codec only; an answer in another codec → BYE, 488, the AI told', async () => {
    const t = setup();
    const started = t.transfer.start({ mode: 'bridged', target: 'desk', requestedBy: 'api', waitForOutcome: true });
    await flush();
    expect(t.dials[0]!.request.sdp).toMatch(/^m=audio \d+ RTP\/AVP 0 101\r?$/m);
    const target = new FakeDialog();
    t.dials[0]!.settle({ ok: true, dialog: target, answer: ANSWER(8, 'PCMA') });
    await expect(started).rejects.toMatchObject({ details: { sip_status: 488 } });
    expect(target.byes).toBe(1);
    expect(t.told.at(-1)).toMatchObject({ type: 'transfer_failed', sipStatus: 488 });
  });

  test('bridged: the target hanging up ends the call', async () => {
    const t = setup();
    const started = t.transfer.start({ mode: 'bridged', target: 'desk', requestedBy: 'api', waitForOutcome: true });
    await flush();
    const target = new FakeDialog();
    t.dials[0]!.settle({ ok: true, dialog: target, answer: ANSWER(0, 'PCMU') });
    expect(await started).toMatchObject({ bridge: 'relay' });
    target.hangUp();
    await flush();
    expect(t.ended).toEqual([{ reason: 'transfer target hung up (remote)', by: 'transfer' }]);
  });

  test('the call ending while the target rings → CANCEL', async () => {
    const t = setup();
    void t.transfer.start({ mode: 'bridged', target: 'desk', requestedBy: 'api' });
    await flush();
    await t.transfer.close();
    expect(t.dials[0]!.cancelled).toBe(true);
  });
});

describe('warm transfer', () => {
  async function answered() {
    const t = setup();
    const r = await t.transfer.start({
      mode: 'warm',
      target: 'desk',
      announce: 'caller asks about invoice 42',
      requestedBy: 'api',
    });
    expect(r).toMatchObject({ state: 'dialing' });
    await flush();
    const target = new FakeDialog();
    t.dials[0]!.settle({ ok: true, dialog: target, answer: ANSWER(0, 'PCMU') });
    await flush();
    return { ...t, target };
  }

  test('the target answers → the caller on hold audio, the AI on the target leg, told with the announcement', async () => {
    const t = await answered();
    expect(t.transfer.state).toBe('consulting');
    expect(t.holds).toEqual([true]);
    expect(t.aiOn).toHaveLength(1);
    expect(t.aiOn[0]).toBeInstanceOf(MediaLeg);
    expect(t.told).toEqual([
      { type: 'transfer_target_answered', target: 'sip:desk@bridge.test', announce: 'caller asks about invoice 42' },
    ]);
  });

  test('complete → caller and target bridged, hold off, the AI released', async () => {
    const t = await answered();
    expect(await t.transfer.complete()).toMatchObject({ ok: true, mode: 'warm', state: 'bridged', bridge: 'relay' });
    expect(t.holds).toEqual([true, false]);
    expect(t.aiOn.at(-1)).toBeNull();
    expect(t.released()).toBe('transferred');
  });

  test('cancel → BYE to the target, the AI back on the caller leg and told; complete then refused', async () => {
    const t = await answered();
    await t.transfer.cancel();
    expect(t.target.byes).toBe(1);
    expect(t.aiOn.at(-1)).toBe(t.transfer['host'].caller.leg);
    expect(t.told.at(-1)).toEqual({
      type: 'transfer_failed',
      target: 'sip:desk@bridge.test',
      mode: 'warm',
      reason: 'cancelled',
    });
    await expect(t.transfer.complete()).rejects.toMatchObject({ code: 'ERR_TRANSFER_NOT_PENDING' });
  });

  test('a second transfer while one runs → ERR_TRANSFER_IN_PROGRESS', async () => {
    const t = await answered();
    await expect(t.transfer.start({ mode: 'blind', target: 'bob', requestedBy: 'ai' })).rejects.toMatchObject({
      code: 'ERR_TRANSFER_IN_PROGRESS',
    });
  });
});

describe('MediaBridge relay', () => {
  function side(codecPt: number, tePt: number | null, port: number): BridgeSide & { raw: FakeSocket } {
    const raw = new FakeSocket();
    const socket = new SwitchableSocket(raw);
    return {
      raw,
      socket,
      leg: legOn(socket),
      codecPt,
      telephoneEventPt: tePt,
      remote: () => ({ address: '127.0.0.9', port }),
    };
  }
  const rtp = (pt: number): Buffer =>
    serializeRtp({
      marker: false,
      payloadType: pt,
      sequence: 7,
      timestamp: 160,
      ssrc: 0x1234,
      payload: Buffer.alloc(160, 0x55),
    });

  test('same codec → packets pass unchanged; telephone-event mapped 101 → 96; other payload types dropped; the legs send nothing', () => {
    const a = side(0, 101, 4000);
    const b = side(0, 96, 5000);
    const bridge = new MediaBridge(a, b);
    expect(bridge.mode).toBe('relay');
    a.raw.receive(rtp(0));
    a.raw.receive(rtp(101));
    a.raw.receive(rtp(18));
    expect(b.raw.sent.map((s) => [(s.datagram[1] as number) & 0x7f, s.port])).toEqual([
      [0, 5000],
      [96, 5000],
    ]);
    expect(b.raw.sent[0]!.datagram.subarray(2).equals(rtp(0).subarray(2))).toBe(true);
    expect(bridge.stats).toEqual({ relayedAtoB: 2, relayedBtoA: 0, dropped: 1 });
    a.leg.tick(20);
    expect(a.raw.sent).toEqual([]);
    bridge.close();
    a.leg.tick(40);
    expect(a.raw.sent).toHaveLength(1);
  });

  test('relayed packets continue the stream the leg was sending: its SSRC, sequence + 1, timestamp + 160', () => {
    const a = side(0, 101, 4000);
    const b = side(0, 101, 5000);
    b.leg.tick(20);
    const own = b.raw.sent[0]!.datagram;
    const bridge = new MediaBridge(a, b);
    a.raw.receive(rtp(0));
    const relayed = b.raw.sent[1]!.datagram;
    expect(relayed.readUInt32BE(8)).toBe(own.readUInt32BE(8));
    expect(relayed.readUInt16BE(2)).toBe((own.readUInt16BE(2) + 1) & 0xffff);
    expect(relayed.readUInt32BE(4)).toBe((own.readUInt32BE(4) + 160) >>> 0);
    expect(relayed.subarray(12).equals(rtp(0).subarray(12))).toBe(true);
    bridge.close();
  });
});
