import { assign, orderAgents, type AgentView } from './strategy';

function person(name: string, position: number, extra: Partial<AgentView> = {}): AgentView {
  return {
    label: `sip_user:${name}`,
    id: position + 1,
    kind: 'sip_user',
    position,
    lastOfferedAt: null,
    lastEndedAt: null,
    free: 1,
    ...extra,
  };
}

const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i + 1), called: '+15550001' }));

describe('queue strategies', () => {
  test('round robin starts after the agent offered a call last, and alternates within one dispatch', () => {
    const agents = [person('a', 0, { lastOfferedAt: 1000 }), person('b', 1, { lastOfferedAt: 500 }), person('c', 2)];
    expect(orderAgents('round_robin', agents).map((a) => a.label)).toEqual(['sip_user:b', 'sip_user:c', 'sip_user:a']);
    const plan = assign('round_robin', entries(3), agents, { now: 2000, ringAllInProgress: false });
    expect(plan.map((p) => p.agents[0]!.label)).toEqual(['sip_user:b', 'sip_user:c', 'sip_user:a']);
  });

  test('round robin skips a busy agent and leaves callers waiting when nobody is free', () => {
    const agents = [person('a', 0, { free: 0 }), person('b', 1)];
    const plan = assign('round_robin', entries(2), agents, { now: 1, ringAllInProgress: false });
    expect(plan).toEqual([{ entry: '1', agents: [expect.objectContaining({ label: 'sip_user:b' })], ringAll: false }]);
  });

  test('least recent: the agent whose last call ended longest ago (never first)', () => {
    const agents = [person('a', 0, { lastEndedAt: 300 }), person('b', 1, { lastEndedAt: 100 }), person('c', 2)];
    expect(orderAgents('least_recent', agents).map((a) => a.label)).toEqual(['sip_user:c', 'sip_user:b', 'sip_user:a']);
  });

  test('ring all: the head caller rings every free person; the next waits for that ring to end', () => {
    const agents = [person('a', 0), person('b', 1), person('c', 2, { free: 0 })];
    const plan = assign('ring_all', entries(2), agents, { now: 1, ringAllInProgress: false });
    expect(plan).toHaveLength(1);
    expect(plan[0]!.ringAll).toBe(true);
    expect(plan[0]!.agents.map((a) => a.label)).toEqual(['sip_user:a', 'sip_user:b']);
    expect(assign('ring_all', entries(1), [person('a', 0)], { now: 1, ringAllInProgress: true })).toEqual([]);
  });

  test('an AI agent takes callers up to its free seats, in queue order', () => {
    const ai: AgentView = {
      label: 'ai:bot',
      id: 9,
      kind: 'ai',
      position: 0,
      lastOfferedAt: null,
      lastEndedAt: null,
      free: 2,
    };
    const plan = assign('round_robin', entries(4), [ai], { now: 1, ringAllInProgress: false });
    expect(plan.map((p) => p.entry)).toEqual(['1', '2']);
  });

  test("a number's own AI serves only that number's callers; others behind them still get it", () => {
    const own: AgentView = {
      label: 'number:+15550002',
      id: null,
      kind: 'number',
      position: 0,
      lastOfferedAt: null,
      lastEndedAt: null,
      free: 1,
      onlyCalled: '+15550002',
    };
    const plan = assign(
      'ring_all',
      [
        { id: '1', called: '+15550001' },
        { id: '2', called: '+15550002' },
      ],
      [own],
      {
        now: 1,
        ringAllInProgress: false,
      },
    );
    expect(plan.map((p) => p.entry)).toEqual(['2']);
  });
});
