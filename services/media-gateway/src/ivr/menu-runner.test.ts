import type { Action, MenuDefinition } from '../../../common/src/ivr/menu';
import { Actions, type AiConnector, type QueueEntry } from '../routing/actions';
import { FakeCall } from './fake-call.test-support';
import { MenuRunner } from './menu-runner';
import { G711Clip } from '../media/clip';
import type { PlayablePrompt } from './prompts';
import { isMenuDefinition, MenuCache, type LoadedMenu } from './store';

/** Each prompt lasts 10 frames (200 ms). */
const PROMPT_FRAMES = 10;

const flush = () => jest.advanceTimersByTimeAsync(0);

function setup(
  menus: Record<string, MenuDefinition>,
  o: { ai?: AiConnector; queue?: QueueEntry; failPrompt?: boolean; say?: boolean } = {},
) {
  const call = new FakeCall();
  const prompted: PlayablePrompt[] = [];
  const aiCalls: Array<{ action: Action; custom?: Readonly<Record<string, string>> }> = [];
  const ai: AiConnector = o.ai ?? {
    connect: async (c, action, options) => {
      aiCalls.push({ action, custom: options?.customParameters });
      return (await c.connectAi({ url: 'ws://ai', dialect: 'olib', customParameters: {}, record: false }))
        ? 'connected'
        : 'failed';
    },
  };
  const logger = { info: jest.fn(), warn: jest.fn() };
  const menuRunner: { current?: MenuRunner } = {};
  const actions = new Actions({
    ai,
    ...(o.queue ? { queue: o.queue } : {}),
    runMenu: (c, m) => menuRunner.current!.run(c, m),
    ringTimeoutMs: 30_000,
    logger,
  });
  const fallbacks = { n: 0 };
  const runner = new MenuRunner({
    menus: {
      get: async (name) => (menus[name] ? { name, version: 1, definition: menus[name] } : null),
    },
    prompts: {
      encoded: async (p) => {
        prompted.push(p);
        if (o.failPrompt) throw new Error('no such prompt');
        return new Uint8Array(160 * PROMPT_FRAMES).fill(0x55);
      },
    },
    actions,
    aiTargets: { resolve: async () => ({ url: 'ws://ai', dialect: 'olib', customParameters: {}, record: false }) },
    logger,
    metrics: {
      ivrPromptFailed: () => undefined,
      ivrAiTtsFallback: () => void fallbacks.n++,
      ivrMenuEnded: () => undefined,
    },
  });
  menuRunner.current = runner;
  return { call, runner, prompted, aiCalls, logger, fallbacks };
}

const MAIN: MenuDefinition = {
  prompt: { text: 'Press 1 for sales, 2 for the AI, 3 for support, 9 for the operator menu.' },
  options: {
    '1': { type: 'sip_user', username: 'sales', ring_timeout_seconds: 15 },
    '2': { type: 'ai', ai_route: 'assistant' },
    '3': { type: 'queue', queue: 'support', priority: 5 },
    '9': { type: 'menu', menu: 'operators' },
    '0': { type: 'external', number: '+15557770000' },
  },
  timeout_seconds: 3,
  max_retries: 1,
};
const OPERATORS: MenuDefinition = {
  prompt: { file: 'operators.wav' },
  options: { '1': { type: 'voicemail' }, '2': { type: 'busy' }, '#': { type: 'hangup', reason: 'caller_done' } },
};

describe('menu runner', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('a key after the prompt → its option (SIP user bridged with its ring time); the path is in the events', async () => {
    const { call, runner } = setup({ main: MAIN });
    const done = runner.run(call, 'main');
    await flush();
    expect(call.playing).toBeInstanceOf(G711Clip);
    call.tick(PROMPT_FRAMES);
    await flush();
    expect(call.playing).toBeNull();
    call.press('1');
    await flush();
    await done;
    expect(call.bridged).toEqual([{ targets: ['sales'], ringTimeoutMs: 15_000 }]);
    expect(call.events).toEqual([
      { type: 'ivr_menu', data: { menu: 'main', version: 1 } },
      { type: 'ivr_digit', data: { menu: 'main', digit: '1', source: 'rfc4733', barge_in: false } },
      {
        type: 'ivr_action',
        data: { menu: 'main', trigger: 'digit', action: 'sip_user', username: 'sales', ring_timeout_seconds: 15 },
      },
    ]);
    expect(call.digitListeners).toBe(0);
    expect(call.live).toBe(true);
  });

  test('a key during the prompt barges in: the prompt stops at once, the option is taken', async () => {
    const { call, runner } = setup({ main: MAIN });
    const done = runner.run(call, 'main');
    await flush();
    const clip = call.playing as G711Clip;
    call.tick(3);
    call.press('2', 'inband');
    await flush();
    await done;
    expect(clip.ended).toBe(true);
    expect(call.framesSent).toBe(3);
    expect(call.connected).toHaveLength(1);
    expect(call.events[1]).toEqual({
      type: 'ivr_digit',
      data: { menu: 'main', digit: '2', source: 'inband', barge_in: true },
    });
  });

  test('silence → timeout after timeout_seconds from the prompt end, prompt replayed; past max_retries → hang up ivr_retries_exhausted', async () => {
    const { call, runner, prompted } = setup({ main: MAIN });
    const done = runner.run(call, 'main');
    await flush();
    // The prompt is still playing after 10 s of wall time: no timeout before it ends.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(call.types()).toEqual(['ivr_menu']);
    call.tick(PROMPT_FRAMES);
    await jest.advanceTimersByTimeAsync(2_900);
    expect(call.types()).toEqual(['ivr_menu']);
    await jest.advanceTimersByTimeAsync(200);
    expect(call.types()).toEqual(['ivr_menu', 'ivr_timeout', 'ivr_action']);
    expect(prompted).toHaveLength(2);
    expect(call.playing).toBeInstanceOf(G711Clip);
    call.tick(PROMPT_FRAMES);
    await jest.advanceTimersByTimeAsync(3_100);
    await done;
    expect(call.events.slice(1)).toEqual([
      { type: 'ivr_timeout', data: { menu: 'main', retries: 1 } },
      { type: 'ivr_action', data: { menu: 'main', trigger: 'timeout', action: 'repeat' } },
      { type: 'ivr_timeout', data: { menu: 'main', retries: 2 } },
      {
        type: 'ivr_action',
        data: { menu: 'main', trigger: 'retries_exhausted', action: 'hangup', reason: 'ivr_retries_exhausted' },
      },
      { type: 'ivr_hangup', data: { menu: 'main', reason: 'ivr_retries_exhausted' } },
    ]);
    expect(call.endedWith).toEqual({ reason: 'ivr_retries_exhausted', by: 'gateway' });
  });

  test('an invalid key counts with timeouts; invalid_action and retries_exhausted_action are taken when set', async () => {
    const menu: MenuDefinition = {
      ...MAIN,
      max_retries: 2,
      invalid_action: { type: 'repeat' },
      retries_exhausted_action: { type: 'ai', url: 'ws://fallback', dialect: 'twilio' },
    };
    const { call, runner, aiCalls } = setup({ main: menu });
    const done = runner.run(call, 'main');
    await flush();
    call.press('7');
    await flush();
    call.tick(PROMPT_FRAMES);
    await jest.advanceTimersByTimeAsync(3_000);
    call.press('*');
    await flush();
    await done;
    expect(call.types()).toEqual([
      'ivr_menu',
      'ivr_digit',
      'ivr_invalid',
      'ivr_action',
      'ivr_timeout',
      'ivr_action',
      'ivr_digit',
      'ivr_invalid',
      'ivr_action',
    ]);
    expect(call.events[2]!.data).toEqual({ menu: 'main', digit: '7', retries: 1 });
    expect(call.events.at(-1)!.data).toMatchObject({
      trigger: 'retries_exhausted',
      action: 'ai',
      url: 'ws://fallback',
    });
    expect(aiCalls[0]!.action).toEqual({ type: 'ai', url: 'ws://fallback', dialect: 'twilio' });
  });

  test('sub-menu: its own prompt and retries; voicemail goes to the AI with mode=voicemail', async () => {
    const { call, runner, prompted, aiCalls } = setup({ main: MAIN, operators: OPERATORS });
    const done = runner.run(call, 'main');
    await flush();
    call.press('5'); // invalid in main: one retry
    await flush();
    call.press('9');
    await flush();
    expect(prompted.at(-1)).toEqual({ file: 'operators.wav' });
    call.press('1');
    await flush();
    await done;
    expect(call.types()).toEqual([
      'ivr_menu',
      'ivr_digit',
      'ivr_invalid',
      'ivr_action',
      'ivr_digit',
      'ivr_action',
      'ivr_menu',
      'ivr_digit',
      'ivr_action',
    ]);
    expect(call.events[5]).toEqual({
      type: 'ivr_action',
      data: { menu: 'main', trigger: 'digit', action: 'menu', next_menu: 'operators' },
    });
    expect(call.events[6]).toEqual({ type: 'ivr_menu', data: { menu: 'operators', version: 1 } });
    expect(aiCalls).toEqual([{ action: { type: 'ai' }, custom: { mode: 'voicemail' } }]);
  });

  test('a bridge the target does not answer → back to the menu (prompt again) with ivr_action_failed; the next key works', async () => {
    const { call, runner, prompted } = setup({ main: MAIN });
    call.bridgeAnswers = [
      { ok: false, sipStatus: 486, reason: 'busy' },
      { ok: true, target: '+15557770000' },
    ];
    const done = runner.run(call, 'main');
    await flush();
    call.press('1');
    await flush();
    expect(prompted).toHaveLength(2);
    call.press('0');
    await flush();
    await done;
    expect(call.bridged.map((b) => b.targets)).toEqual([['sales'], ['+15557770000']]);
    expect(call.events.find((e) => e.type === 'ivr_action_failed')).toEqual({
      type: 'ivr_action_failed',
      data: { target: 'sales', reason: 'busy', sip_status: 486 },
    });
  });

  test('queue: entered with the option priority and source menu; no queues on the gateway → hang up queue_unavailable', async () => {
    const entered: unknown[] = [];
    const withQueue = setup({ main: MAIN }, { queue: { enter: async (_c, q, opts) => void entered.push([q, opts]) } });
    const done = withQueue.runner.run(withQueue.call, 'main');
    await flush();
    withQueue.call.press('3');
    await flush();
    await done;
    expect(entered).toEqual([['support', { priority: 5, source: 'menu' }]]);
    expect(withQueue.call.live).toBe(true);

    const without = setup({ main: MAIN });
    const done2 = without.runner.run(without.call, 'main');
    await flush();
    without.call.press('3');
    await flush();
    await done2;
    expect(without.call.endedWith).toEqual({ reason: 'queue_unavailable', by: 'gateway' });
    expect(without.call.types().slice(-2)).toEqual(['ivr_action_failed', 'ivr_hangup']);
  });

  test('busy: the busy tone plays to its end, then hang up with reason busy; # hangs up with the option reason', async () => {
    const { call, runner } = setup({ main: MAIN, operators: OPERATORS });
    const done = runner.run(call, 'main');
    await flush();
    call.press('9');
    await flush();
    call.press('2');
    await flush();
    const tone = call.playing as G711Clip;
    expect(tone).toBeInstanceOf(G711Clip);
    call.tick(149);
    await flush();
    expect(call.live).toBe(true);
    call.tick(1);
    await flush();
    await done;
    expect(call.endedWith).toEqual({ reason: 'busy', by: 'gateway' });
    expect(call.events.at(-1)).toEqual({ type: 'ivr_hangup', data: { menu: 'operators', reason: 'busy' } });

    const second = setup({ operators: OPERATORS });
    const done2 = second.runner.run(second.call, 'operators');
    await flush();
    second.call.press('#');
    await flush();
    await done2;
    expect(second.call.endedWith).toEqual({ reason: 'caller_done', by: 'gateway' });
  });

  test('no such menu → hang up ivr_menu_not_found', async () => {
    const { call, runner } = setup({});
    await runner.run(call, 'nope');
    expect(call.endedWith).toEqual({ reason: 'ivr_menu_not_found', by: 'gateway' });
    expect(call.events).toEqual([{ type: 'ivr_hangup', data: { menu: 'nope', reason: 'ivr_menu_not_found' } }]);
  });

  test('the caller hangs up during the prompt: the runner lets go, no BYE of ours, no timer left', async () => {
    const { call, runner } = setup({ main: MAIN });
    const done = runner.run(call, 'main');
    await flush();
    call.tick(2);
    call.hangUp();
    await flush();
    await done;
    expect(call.endedWith).toEqual({ reason: 'caller_hangup', by: 'caller' });
    expect(call.types()).toEqual(['ivr_menu']);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a prompt that cannot be played: ivr_prompt_failed, and the menu still takes keys', async () => {
    const { call, runner } = setup({ main: MAIN }, { failPrompt: true });
    const done = runner.run(call, 'main');
    await flush();
    call.press('2');
    await flush();
    await done;
    expect(call.types()).toEqual(['ivr_menu', 'ivr_prompt_failed', 'ivr_digit', 'ivr_action']);
    expect(call.connected).toHaveLength(1);
  });

  test('ai_tts prompt on a call that cannot speak through the AI: spoken by espeak-ng instead, counted', async () => {
    const { call, runner, prompted, fallbacks } = setup({
      main: { prompt: { ai_tts: 'Hello from the AI voice' }, options: { '1': { type: 'hangup' } } },
    });
    const done = runner.run(call, 'main');
    await flush();
    call.press('1');
    await flush();
    await done;
    expect(prompted).toEqual([{ text: 'Hello from the AI voice' }]);
    expect(fallbacks.n).toBe(1);
    expect(call.endedWith).toEqual({ reason: 'ivr_hangup', by: 'gateway' });
  });

  test('the AI refuses: back to the menu with ivr_action_failed ai_unavailable', async () => {
    const { call, runner, prompted } = setup({ main: MAIN });
    call.aiAnswers = false;
    const done = runner.run(call, 'main');
    await flush();
    call.press('2');
    await flush();
    expect(prompted).toHaveLength(2);
    call.hangUp();
    await done;
    expect(call.events.find((e) => e.type === 'ivr_action_failed')!.data).toEqual({
      action: 'ai',
      target: 'assistant',
      reason: 'ai_unavailable',
    });
  });
});

describe('menu cache', () => {
  test('reads the version per call and the definition only when it changed', async () => {
    let version = 1;
    const reads: number[] = [];
    const cache = new MenuCache({
      menuVersion: async (name) => (name === 'main' ? version : null),
      menu: async (name): Promise<LoadedMenu> => {
        reads.push(version);
        return { name, version, definition: { ...MAIN, timeout_seconds: version } };
      },
    });
    expect((await cache.get('main'))!.definition.timeout_seconds).toBe(1);
    expect((await cache.get('main'))!.definition.timeout_seconds).toBe(1);
    version = 2;
    expect((await cache.get('main'))!.definition.timeout_seconds).toBe(2);
    expect(reads).toEqual([1, 2]);
    expect(await cache.get('gone')).toBeNull();
  });
});

test('a stored definition is checked against the API schema before the runner plays it', () => {
  expect(isMenuDefinition(MAIN)).toBe(true);
  expect(isMenuDefinition({ prompt: {}, options: {} })).toBe(false);
  expect(isMenuDefinition({ prompt: { text: 'x' }, options: { x: { type: 'repeat' } } })).toBe(false);
  expect(isMenuDefinition({ prompt: { text: 'x' }, options: { '1': { type: 'teleport' } } })).toBe(false);
});
