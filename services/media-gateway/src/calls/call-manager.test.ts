import type { CallDeps, CallRequest } from './call';
import { CallManager } from './call-manager';

function manager(settings: Record<string, unknown> | null = null, maxCalls = 10) {
  return new CallManager({
    maxCalls,
    defaultTarget: { url: 'ws://127.0.0.1:8090', dialect: 'olib' },
    demoAgentUrl: 'ws://127.0.0.1:8090',
    callDeps: () => {
      throw new Error('not reached in these tests');
    },
    numberSettings: async () => settings as never,
    logger: { info: () => undefined, warn: () => undefined },
  });
}

function request(route = ''): CallRequest & { rejected: Array<[number, string]> } {
  const rejected: Array<[number, string]> = [];
  return {
    rejected,
    sipCallId: 'c1',
    fromUser: '+15550001111',
    toUser: '+15557770001',
    route,
    offer: 'v=0',
    progress: () => undefined,
    accept: async () => {
      throw new Error('unused');
    },
    reject: (status, reason) => rejected.push([status, reason]),
    onCancel: () => undefined,
  };
}

describe('CallManager', () => {
  test('an AI number with its own agent and dialect → that agent, that dialect, its options and recording flag', async () => {
    const m = manager({
      dialect: 'twilio',
      agentUrl: 'wss://agent.example/stream',
      options: { persona: 'sales' },
      recordingEnabled: true,
    });
    const t = await m.resolveTarget('ai|15557770001');
    expect(t).toEqual({
      url: 'wss://agent.example/stream',
      dialect: 'twilio',
      customParameters: {
        route: 'ai|15557770001',
        route_type: 'ai',
        route_target: '15557770001',
        number: '+15557770001',
        persona: 'sales',
      },
      record: true,
    });
  });

  test("a number without an agent URL → the demo agent on its dialect's path", async () => {
    const m = manager({ dialect: 'binary', agentUrl: null, options: {}, recordingEnabled: false });
    expect((await m.resolveTarget('ai|15557770001')).url).toBe('ws://127.0.0.1:8090/binary');
  });

  test('queue / IVR routes and direct calls → the default AI, told which route it is', async () => {
    const m = manager();
    const t = await m.resolveTarget('ivr|main-menu');
    expect(t.url).toBe('ws://127.0.0.1:8090/olib');
    expect(t.customParameters).toEqual({ route: 'ivr|main-menu', route_type: 'ivr', route_target: 'main-menu' });
    expect((await m.resolveTarget('')).customParameters['route']).toBe('direct');
  });

  test('over maxCalls or shutting down → 503 so Kamailio tries another gateway', async () => {
    const m = manager(null, 0);
    const r = request('ai|15557770001');
    await m.handle(r);
    expect(r.rejected).toEqual([[503, 'Gateway At Capacity']]);
    const m2 = manager();
    await m2.close();
    const r2 = request();
    await m2.handle(r2);
    expect(r2.rejected).toEqual([[503, 'Gateway Shutting Down']]);
  });

  test('drain with no live calls → done at once, nothing cut, and new calls refused from then on', async () => {
    const m = manager();
    expect(m.refusing).toBe(false);
    const result = await m.drain(60_000);
    expect(result).toMatchObject({ finished: 0, cut: 0 });
    expect(result.waitedMs).toBeLessThan(1000);
    expect(m.refusing).toBe(true);
    const r = request();
    await m.handle(r);
    expect(r.rejected).toEqual([[503, 'Gateway Shutting Down']]);
    expect(await m.drain(0)).toBe(result);
  });

  test('number settings unreadable (database down) → 503, not a crash', async () => {
    const m = new CallManager({
      maxCalls: 5,
      defaultTarget: { url: 'ws://x', dialect: 'olib' },
      callDeps: () => ({}) as CallDeps,
      numberSettings: async () => {
        throw new Error('connection refused');
      },
      logger: { info: () => undefined, warn: () => undefined },
    });
    const r = request('ai|15557770001');
    await m.handle(r);
    expect(r.rejected).toEqual([[503, 'Number Settings Unavailable']]);
  });
});
