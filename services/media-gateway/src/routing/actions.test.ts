import { PCMU } from '../../../common/src/audio/g711';
import { measureTone } from '../../../common/src/audio/signals';
import { FakeCall } from '../ivr/fake-call.test-support';
import { G711Clip } from '../media/clip';
import { MusicLoop } from '../moh/library';
import { Actions, AiTargets, DirectAiConnector } from './actions';
import { busyTone, ringingTone } from './tones';

const logger = { info: jest.fn(), warn: jest.fn() };

function targets() {
  return new AiTargets({
    aiRoute: async (name) =>
      name === 'sales-bot'
        ? {
            name,
            agentUrl: null,
            dialect: 'twilio',
            options: { persona: 'sales', temperature: 0.2, nested: { no: 1 } },
          }
        : name === 'remote'
          ? { name, agentUrl: 'wss://ai.example/agent', dialect: 'binary', options: {} }
          : null,
    numberTarget: async (digits) => ({
      url: 'ws://numbers-ai',
      dialect: 'olib',
      customParameters: { route: `ai|${digits}`, number: `+${digits}` },
      record: true,
    }),
    defaultTarget: { url: 'ws://127.0.0.1:8090', dialect: 'olib' },
    demoAgentUrl: 'ws://127.0.0.1:8090',
  });
}

describe('AI targets of actions', () => {
  test('ai_route with no URL → the default AI (the demo agent: its dialect path), options as custom parameters', async () => {
    const t = await targets().resolve(new FakeCall(), { ai_route: 'sales-bot' });
    expect(t).toEqual({
      url: 'ws://127.0.0.1:8090/twilio',
      dialect: 'twilio',
      customParameters: {
        route: 'ivr|main',
        route_type: 'ivr',
        ai_route: 'sales-bot',
        persona: 'sales',
        temperature: '0.2',
      },
      record: false,
    });
  });

  test("ai_route with a URL, a number's settings, a bare URL (olib by default), nothing (the default AI); a missing route → null", async () => {
    const call = new FakeCall();
    const t = targets();
    expect(await t.resolve(call, { ai_route: 'remote' })).toMatchObject({
      url: 'wss://ai.example/agent',
      dialect: 'binary',
    });
    expect(await t.resolve(call, { number: '+15551230000' }, { mode: 'voicemail' })).toEqual({
      url: 'ws://numbers-ai',
      dialect: 'olib',
      customParameters: { route: 'ivr|main', number: '+15551230000', route_type: 'ivr', mode: 'voicemail' },
      record: true,
    });
    expect(await t.resolve(call, { url: 'wss://x.example/ws' })).toMatchObject({
      url: 'wss://x.example/ws',
      dialect: 'olib',
    });
    expect(await t.resolve(call, {})).toMatchObject({ url: 'ws://127.0.0.1:8090/olib', dialect: 'olib' });
    expect(await t.resolve(call, { ai_route: 'gone' })).toBeNull();
  });

  test('the direct connector: connectAi with the target; an unknown route or a refusal → failed', async () => {
    const call = new FakeCall();
    const c = new DirectAiConnector(targets(), logger);
    expect(await c.connect(call, { type: 'ai', ai_route: 'remote' })).toBe('connected');
    expect(call.connected).toHaveLength(1);
    expect(await c.connect(call, { type: 'ai', ai_route: 'gone' })).toBe('failed');
    call.aiAnswers = false;
    expect(await c.connect(call, { type: 'ai' })).toBe('failed');
  });
});

describe('actions', () => {
  const actions = (o: Partial<ConstructorParameters<typeof Actions>[0]> = {}) =>
    new Actions({ ai: new DirectAiConnector(targets(), logger), ringTimeoutMs: 30_000, logger, ...o });

  test('sip_user / external: ringing tone while it rings; answered → handed off; no answer → replay with the reason', async () => {
    const call = new FakeCall();
    call.bridgeAnswers = [
      { ok: false, sipStatus: 408, reason: 'no_answer' },
      { ok: true, target: '+15557770000' },
    ];
    expect(await actions().run(call, { type: 'sip_user', username: 'alice' })).toEqual({
      kind: 'replay',
      reason: 'no_answer',
    });
    expect(call.played[0]).toBeInstanceOf(MusicLoop);
    expect(call.playing).toBeNull();
    expect(await actions().run(call, { type: 'external', number: '+15557770000', ring_timeout_seconds: 12 })).toEqual({
      kind: 'handed_off',
      to: '+15557770000',
    });
    expect(call.bridged).toEqual([
      { targets: ['alice'], ringTimeoutMs: 30_000 },
      { targets: ['+15557770000'], ringTimeoutMs: 12_000 },
    ]);
    expect(call.events).toEqual([
      { type: 'ivr_action_failed', data: { target: 'alice', reason: 'no_answer', sip_status: 408 } },
    ]);
  });

  test('menu outside a menu runs the runner; repeat is a replay; hangup ends with its reason', async () => {
    const ran: string[] = [];
    const a = actions({ runMenu: async (_c, m) => void ran.push(m) });
    const call = new FakeCall();
    expect(await a.run(call, { type: 'menu', menu: 'after-hours' })).toEqual({
      kind: 'handed_off',
      to: 'menu:after-hours',
    });
    expect(ran).toEqual(['after-hours']);
    expect(await actions().run(call, { type: 'menu', menu: 'x' })).toEqual({ kind: 'menu', menu: 'x' });
    expect(await a.run(call, { type: 'repeat' })).toEqual({ kind: 'replay', reason: 'repeat' });
    expect(await a.run(call, { type: 'hangup' })).toEqual({ kind: 'ended', reason: 'ivr_hangup' });
    expect(call.endedWith).toEqual({ reason: 'ivr_hangup', by: 'gateway' });
    expect(await a.run(call, { type: 'repeat' })).toEqual({ kind: 'ended', reason: 'caller_gone' });
  });

  test('an AI route at its limit with no queue (connector says busy) → busy tone, then hang up ai_busy', async () => {
    const call = new FakeCall();
    const a = actions({ ai: { connect: async () => 'busy' } });
    const outcome = a.run(call, { type: 'ai', ai_route: 'sales-bot' });
    await new Promise((r) => setImmediate(r));
    expect(call.playing).toBeInstanceOf(G711Clip);
    for (let i = 0; i < 150; i++) call.playing!.next();
    expect(await outcome).toEqual({ kind: 'ended', reason: 'ai_busy' });
  });
});

describe('call progress tones (ITU-T E.180)', () => {
  test('busy: 425 Hz, 0.5 s on / 0.5 s off, three times; ringing: 1 s on / 4 s off', () => {
    const busy = PCMU.decode(busyTone('PCMU').payload);
    expect(busy.length).toBe(24_000);
    expect(measureTone(busy, 8000, 425, 0, 4000).amplitude).toBeGreaterThan(4000);
    expect(measureTone(busy, 8000, 425, 4000, 4000).amplitude).toBeLessThan(50);
    const ring = PCMU.decode(ringingTone('PCMU').payload);
    expect(ring.length).toBe(40_000);
    expect(measureTone(ring, 8000, 425, 0, 8000).amplitude).toBeGreaterThan(4000);
    expect(measureTone(ring, 8000, 425, 8000, 32000).amplitude).toBeLessThan(50);
  });
});
