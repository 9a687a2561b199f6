import type { AiTarget, AnsweredLeg, CallDeps, DialogLike } from './call';
import type { RtpSocket } from './media-leg';
import { OutboundCalls, type DialResult, type OutboundCallsOptions } from './outbound';
import type { OutboundFailure } from './outbound-store';
import type { CallStore } from './store';

const ANSWER_PCMA = [
  'v=0',
  'o=- 7 1 IN IP4 127.0.0.9',
  's=-',
  'c=IN IP4 127.0.0.9',
  't=0 0',
  'm=audio 40000 RTP/AVP 8 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  '',
].join('\r\n');

/** As the control-plane writes them (services/control-plane/src/calls/control.ts). */
const ARGS = {
  from: '+15557770001',
  to: '+15550001111',
  webhook_url: 'https://hooks.example/calls',
  ai: { url: null, dialect: null, custom_parameters: {} },
  record: false,
  ring_timeout_seconds: 30,
};

/** One dial under test: the far end is driven by the test (progress, final answer). */
class FakeLeg {
  readonly sent: Array<{ sipCallId: string; from: string; to: string; sdp: string }> = [];
  cancels = 0;
  private progress: ((status: number) => void) | null = null;
  private settle!: (r: DialResult) => void;
  readonly result = new Promise<DialResult>((r) => (this.settle = r));

  ring(status = 180): void {
    this.progress?.(status);
  }
  finish(r: DialResult): void {
    this.settle(r);
  }
  port() {
    return {
      onProgress: (l: (status: number) => void) => void (this.progress = l),
      result: this.result,
      cancel: () => void this.cancels++,
    };
  }
}

function dialog(): DialogLike & { byes: number } {
  const d = {
    byes: 0,
    onReinvite: () => undefined,
    onInfoDtmf: () => undefined,
    onTerminated: () => undefined,
    bye: async () => void d.byes++,
    refer: async () => ({ status: 202 }),
  };
  return d;
}

function harness(over: Partial<OutboundCallsOptions> = {}) {
  const writes: string[] = [];
  const failures: OutboundFailure[] = [];
  const released: string[] = [];
  const connected: Array<{ deps: CallDeps; leg: AnsweredLeg }> = [];
  const socketsClosed: number[] = [];
  const leg = new FakeLeg();
  const socket: RtpSocket = {
    localPort: 30000,
    send: () => undefined,
    onDatagram: () => undefined,
    close: () => void socketsClosed.push(30000),
  };
  let claimOk = true;
  const settings: AiTarget = {
    url: 'ws://127.0.0.1:8090/olib',
    dialect: 'olib',
    customParameters: { route: 'ai|15557770001', number: '+15557770001', mode: 'echo' },
    record: true,
  };
  const routes: string[] = [];
  const options: OutboundCallsOptions = {
    gatewayId: 'gw-1',
    dial: (req) => {
      leg.sent.push(req);
      return leg.port();
    },
    openSocket: async () => socket,
    rtpAddress: '127.0.0.1',
    negotiator: () => () => ({ ok: false, status: 488, reason: 'unused' }),
    records: {
      claim: async () => claimOk,
      release: async (id) => void released.push(id),
      ringing: async () => void writes.push('ringing'),
      failed: async (_id, f) => {
        writes.push('failed');
        failures.push(f);
      },
    },
    callStore: {} as CallStore,
    ordered: (_callId, _what, write) => void write(),
    resolveTarget: async (route) => {
      routes.push(route);
      return settings;
    },
    demoAgentUrl: 'ws://127.0.0.1:8090',
    callDeps: (parties, target) => ({ request: parties, target }) as unknown as CallDeps,
    adopt: (deps) => ({
      connect: async (l) => {
        writes.push('answered');
        connected.push({ deps, leg: l });
      },
    }),
    canTake: () => true,
    logger: { info: () => undefined, warn: () => undefined },
    ...over,
  };
  const calls = new OutboundCalls(options);
  return {
    calls,
    leg,
    writes,
    failures,
    released,
    connected,
    socketsClosed,
    routes,
    refuseClaim: () => (claimOk = false),
  };
}

const settled = () => new Promise((r) => setImmediate(r));

describe('OutboundCalls', () => {
  test('originate → INVITE with our offer; 180 → ringing; 200 → answered: a Call runs it, outgoing, on the codec the answer chose', async () => {
    const h = harness();
    const result = await h.calls.originate({ id: '1', callId: 'call-1', args: ARGS });
    expect(result).toMatchObject({ ok: true, gateway: 'gw-1' });
    expect(h.leg.sent).toHaveLength(1);
    expect(h.leg.sent[0]).toMatchObject({ from: '+15557770001', to: '+15550001111' });
    expect(h.leg.sent[0]!.sdp).toContain('m=audio 30000 RTP/AVP 0 8 101');
    expect(h.calls.pending).toBe(1);

    h.leg.ring(180);
    h.leg.ring(183); // the far end is already ringing: one state change
    const d = dialog();
    h.leg.finish({ ok: true, dialog: d, answer: ANSWER_PCMA });
    await settled();
    expect(h.writes).toEqual(['ringing', 'answered']);
    expect(h.calls.pending).toBe(0);
    const { deps, leg } = h.connected[0]!;
    expect(deps).toMatchObject({ callId: 'call-1', direction: 'outgoing' });
    expect(deps.request).toMatchObject({ fromUser: '+15557770001', toUser: '+15550001111', route: 'outbound' });
    expect(leg.negotiation).toMatchObject({
      codec: 'PCMA',
      telephoneEventPt: 101,
      remote: { address: '127.0.0.9', port: 40000 },
    });
    expect(leg.dialog).toBe(d);
  });

  test("the calling number's AI settings apply; the command's own AI target, dialect and parameters win", async () => {
    const h = harness();
    await h.calls.originate({ id: '1', callId: 'call-1', args: { ...ARGS, record: null } });
    h.leg.finish({ ok: true, dialog: dialog(), answer: ANSWER_PCMA });
    await settled();
    expect(h.routes).toEqual(['ai|15557770001']);
    expect(h.connected[0]!.deps.target).toEqual({
      url: 'ws://127.0.0.1:8090/olib',
      dialect: 'olib',
      customParameters: {
        number: '+15557770001',
        mode: 'echo',
        route: 'outbound',
        route_type: 'outbound',
        route_target: '+15550001111',
      },
      record: true,
    });

    const h2 = harness();
    await h2.calls.originate({
      id: '2',
      callId: 'call-2',
      args: {
        ...ARGS,
        record: false,
        ai: { url: null, dialect: 'twilio', custom_parameters: { campaign: 'renewals' } },
      },
    });
    h2.leg.finish({ ok: true, dialog: dialog(), answer: ANSWER_PCMA });
    await settled();
    expect(h2.connected[0]!.deps.target).toMatchObject({
      url: 'ws://127.0.0.1:8090/twilio',
      dialect: 'twilio',
      customParameters: { campaign: 'renewals', mode: 'echo' },
      record: false,
    });

    const h3 = harness();
    await h3.calls.originate({
      id: '3',
      callId: 'call-3',
      args: { ...ARGS, ai: { url: 'wss://agent.example/stream', dialect: 'binary' } },
    });
    h3.leg.finish({ ok: true, dialog: dialog(), answer: ANSWER_PCMA });
    await settled();
    expect(h3.connected[0]!.deps.target).toMatchObject({ url: 'wss://agent.example/stream', dialect: 'binary' });
  });

  test.each([
    [486, 'Busy Here', 'busy', 'callee'],
    [600, 'Busy Everywhere', 'busy', 'callee'],
    [480, 'Temporarily Unavailable', 'no_answer', 'callee'],
    [408, 'Request Timeout', 'no_answer', 'callee'],
    [403, 'Forbidden', 'failed', 'callee'],
    [404, 'Not Found', 'failed', 'callee'],
    [503, 'Service Unavailable', 'failed', 'callee'],
  ])(
    'a final %i %s → failed, disposition %s, the media port released',
    async (status, reason, disposition, endedBy) => {
      const h = harness();
      await h.calls.originate({ id: '1', callId: 'call-1', args: ARGS });
      h.leg.finish({ ok: false, status, reason });
      await settled();
      expect(h.failures).toEqual([{ status, reason, disposition, endedBy }]);
      expect(h.socketsClosed).toHaveLength(1);
      expect(h.calls.pending).toBe(0);
    },
  );

  test('no answer within ring_timeout_seconds → CANCEL, and the 487 is reported as no_answer (ended by the system)', async () => {
    jest.useFakeTimers();
    try {
      const h = harness();
      await h.calls.originate({ id: '1', callId: 'call-1', args: { ...ARGS, ring_timeout_seconds: 5 } });
      h.leg.ring();
      jest.advanceTimersByTime(4999);
      expect(h.leg.cancels).toBe(0);
      jest.advanceTimersByTime(1);
      expect(h.leg.cancels).toBe(1);
      h.leg.finish({ ok: false, status: 487, reason: 'Request Terminated' });
      await jest.runOnlyPendingTimersAsync();
      expect(h.failures).toEqual([
        { status: 487, reason: 'ring timeout', disposition: 'no_answer', endedBy: 'system' },
      ]);
      expect(h.writes).toEqual(['ringing', 'failed']);
    } finally {
      jest.useRealTimers();
    }
  });

  test('hangup while ringing → CANCEL, cancelled by the API; a 200 crossing the CANCEL is hung up with a BYE', async () => {
    const h = harness();
    await h.calls.originate({ id: '1', callId: 'call-1', args: ARGS });
    expect(h.calls.hangup('call-1', 'operator')).toBe(true);
    expect(h.leg.cancels).toBe(1);
    const d = dialog();
    h.leg.finish({ ok: true, dialog: d, answer: ANSWER_PCMA });
    await settled();
    expect(d.byes).toBe(1);
    expect(h.connected).toHaveLength(0);
    expect(h.failures).toEqual([{ status: 487, reason: 'operator', disposition: 'cancelled', endedBy: 'api' }]);
    expect(h.calls.hangup('call-1')).toBe(false);
  });

  test('an answer we cannot use (no common codec) → BYE and failed 488', async () => {
    const h = harness();
    await h.calls.originate({ id: '1', callId: 'call-1', args: ARGS });
    const d = dialog();
    h.leg.finish({
      ok: true,
      dialog: d,
      answer: ANSWER_PCMA.replace(/8 101/, '18').replace(/a=rtpmap:8 PCMA/, 'a=rtpmap:18 G729'),
    });
    await settled();
    expect(d.byes).toBe(1);
    expect(h.failures[0]).toMatchObject({ status: 488, disposition: 'failed', endedBy: 'system' });
    expect(h.socketsClosed).toHaveLength(1);
  });

  test('close() (gateway stopping) → every ringing call cancelled, ended by the system', async () => {
    const h = harness();
    await h.calls.originate({ id: '1', callId: 'call-1', args: ARGS });
    const closing = h.calls.close();
    expect(h.leg.cancels).toBe(1);
    h.leg.finish({ ok: false, status: 487, reason: 'Request Terminated' });
    await closing;
    await settled();
    expect(h.failures).toEqual([
      { status: 487, reason: 'gateway_shutdown', disposition: 'cancelled', endedBy: 'system' },
    ]);
    await expect(h.calls.originate({ id: '2', callId: 'call-2', args: ARGS })).rejects.toMatchObject({
      code: 'ERR_ORIGINATE_REFUSED',
    });
  });

  test('a draining or full gateway → the command goes back to the other gateways, nothing dialled', async () => {
    const h = harness({ canTake: () => false });
    await expect(h.calls.originate({ id: '41', callId: 'call-1', args: ARGS })).rejects.toMatchObject({
      code: 'ERR_ORIGINATE_REFUSED',
    });
    expect(h.released).toEqual(['41']);
    expect(h.leg.sent).toHaveLength(0);
  });

  test('a call no longer waiting (claimed elsewhere, cancelled) → ERR_CALL_NOT_ACTIVE, nothing dialled', async () => {
    const h = harness();
    h.refuseClaim();
    await expect(h.calls.originate({ id: '1', callId: 'call-1', args: ARGS })).rejects.toMatchObject({
      code: 'ERR_CALL_NOT_ACTIVE',
    });
    expect(h.leg.sent).toHaveLength(0);
  });

  test.each([
    ['no destination', { from: '+15557770001' }],
    ['a header injected in the number', { ...ARGS, to: '+1555\r\nX-Evil: 1' }],
    ['a URI instead of a user part', { ...ARGS, to: 'sip:bob@evil.example' }],
    ['an AI URL that is not a WebSocket', { ...ARGS, ai: { url: 'http://agent.example' } }],
    ['a ring time out of range', { ...ARGS, ring_timeout_seconds: 100000 }],
  ])(
    'command arguments with %s → refused (ERR_ORIGINATE_REFUSED), nothing dialled, the call failed',
    async (_what, args) => {
      const h = harness();
      await expect(h.calls.originate({ id: '1', callId: 'call-1', args })).rejects.toMatchObject({
        code: 'ERR_ORIGINATE_REFUSED',
      });
      expect(h.leg.sent).toHaveLength(0);
      expect(h.failures).toEqual([
        { status: null, reason: 'refused by the gateway', disposition: 'failed', endedBy: 'system' },
      ]);
    },
  );
});
