import { randomUUID } from 'node:crypto';
import { Client, type Notification } from 'pg';
import { QUEUE_CHANNEL, type QueueNotice } from '../../services/common/src/queues/events';
import { api, createUser, type ApiResponse } from '../support/api';
import { testStack } from '../support/stack';

/**
 * Queues against the test stack's control-plane and PostgreSQL: CRUD with the shared
 * action checks, agents and VIP numbers, the numbers API's concurrency fields,
 * statistics computed from queue_entries rows written here, operator moves (rows
 * and the NOTIFYs on queue_events a LISTEN sees), and the per-queue gauges on /metrics.
 */

interface ErrorBody {
  error: {
    code: string;
    message: string;
    target?: string;
    used_by?: string[];
    state?: string;
    fields?: Array<{ field: string }>;
  };
}
interface EntryBody {
  id: string;
  queue: string;
  state: string;
  priority: number;
  priority_source: string;
  position: number | null;
  wait_seconds: number;
  agent_id: number | null;
  agent: string | null;
  enqueued_at: string;
}
interface StatsBody {
  queue: string;
  waiting: number;
  longest_wait_seconds: number;
  offered: number;
  answered: number;
  answered_within_service_level: number;
  abandoned: number;
  overflowed: number;
  service_level: number | null;
  avg_wait_seconds: number | null;
}

const run = Math.random().toString(36).slice(2, 8);
const n = (base: string): string => `${base}-${run}`;
const op = <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> =>
  api<T>(method, path, { role: 'operator', body });

let db: Client;
beforeAll(async () => {
  db = new Client({ connectionString: testStack().env['DATABASE_URL'] });
  await db.connect();
});
afterAll(() => db.end());

/** Inserts a queue_entries row; times are seconds relative to now (negative: in the past). */
async function entry(
  queue: string,
  fields: {
    state?: string;
    priority?: number;
    enqueued?: number;
    offered?: number;
    answered?: number;
    ended?: number;
    outcome?: string;
    gateway?: string;
  } = {},
): Promise<string> {
  const at = (s: number | undefined): string | null =>
    s === undefined ? null : new Date(Date.now() + s * 1000).toISOString();
  const enqueued = at(fields.enqueued ?? 0);
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO queue_entries (queue, call_id, gateway, caller, called, priority, enqueued_at, position_at, state,
       offered_at, answered_at, ended_at, outcome)
     VALUES ($1, $2, $3, '+442079460001', '+442079460002', $4, $5, $5, $6, $7, $8, $9, $10) RETURNING id`,
    [
      queue,
      randomUUID(),
      fields.gateway ?? 'gw-test',
      fields.priority ?? 0,
      enqueued,
      fields.state ?? 'waiting',
      at(fields.offered),
      at(fields.answered),
      at(fields.ended),
      fields.outcome ?? null,
    ],
  );
  return (rows[0] as { id: string }).id;
}

async function clearEntries(queue: string): Promise<void> {
  await db.query('DELETE FROM queue_entries WHERE queue = $1', [queue]);
}

describe('queues: CRUD with the shared action checks', () => {
  test('every column round-trips; an update changes only what it names', async () => {
    const target = n('overflow');
    const menu = n('leave-menu');
    await op('POST', '/api/queues/', { name: target });
    await op('POST', '/api/ivr/menus/', { name: menu, definition: { prompt: { text: 'x' }, options: {} } });
    const name = n('full');
    const body = {
      name,
      description: 'Full',
      strategy: 'least_recent',
      ring_timeout_seconds: 12,
      wrap_up_seconds: 5,
      max_wait_seconds: 90,
      max_wait_action: { type: 'queue', queue: target, priority: 9 },
      max_length: 3,
      max_length_action: { type: 'busy' },
      hold_music: 'jazz.wav',
      announce_position: true,
      announce_wait: true,
      announce_interval_seconds: 40,
      leave_digit: '#',
      leave_action: { type: 'menu', menu },
      service_level_seconds: 30,
    };
    const created = await op('POST', '/api/queues/', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...body, waiting: 0 });
    const updated = await op('PUT', `/api/queues/${name}`, { max_length: null, max_length_action: null });
    expect(updated.body).toMatchObject({ ...body, max_length: null, max_length_action: null });
    expect((await op('GET', `/api/queues/${name}`)).body).toMatchObject({
      strategy: 'least_recent',
      wrap_up_seconds: 5,
    });
    const defaults = await op('POST', '/api/queues/', { name: n('defaults') });
    expect(defaults.body).toMatchObject({
      strategy: 'ring_all',
      ring_timeout_seconds: 20,
      wrap_up_seconds: 0,
      max_wait_seconds: null,
      max_wait_action: null,
      announce_interval_seconds: 30,
      service_level_seconds: 20,
    });
    // The queue and the menu its actions name cannot go while it names them.
    const inUse = await op<ErrorBody>('DELETE', `/api/queues/${target}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.error).toMatchObject({
      code: 'ERR_QUEUE_IN_USE',
      used_by: [`queue '${name}' (max_wait_action.queue)`],
    });
    expect((await op<ErrorBody>('DELETE', `/api/ivr/menus/${menu}`)).body.error.code).toBe('ERR_IVR_MENU_IN_USE');
    expect((await op('DELETE', `/api/queues/${name}`)).status).toBe(200);
    expect((await op('DELETE', `/api/queues/${target}`)).status).toBe(200);
  });

  test('a dangling action target → 400 ERR_IVR_TARGET_NOT_FOUND; busy as a leave action, a leave action without a digit, the name "stats" → 400', async () => {
    const dangling = await op<ErrorBody>('POST', '/api/queues/', {
      name: n('dangling'),
      max_wait_action: { type: 'voicemail', ai_route: 'no-such-ai' },
    });
    expect(dangling.status).toBe(400);
    expect(dangling.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target: "AI route 'no-such-ai'" });
    const busyLeave = await op<ErrorBody>('POST', '/api/queues/', {
      name: n('busyleave'),
      leave_digit: '0',
      leave_action: { type: 'busy' },
    });
    expect(busyLeave.status).toBe(400);
    expect(busyLeave.body.error.code).toBe('ERR_VALIDATION');
    const noDigit = await op<ErrorBody>('POST', '/api/queues/', {
      name: n('nodigit'),
      leave_action: { type: 'hangup' },
    });
    expect(noDigit.body.error.fields?.[0]?.field).toBe('leave_action');
    const reserved = await op<ErrorBody>('POST', '/api/queues/', { name: 'stats' });
    expect(reserved.status).toBe(400);
    expect(reserved.body.error.fields?.[0]?.field).toBe('name');
    expect((await op<ErrorBody>('POST', '/api/queues/', { name: n('dangling') })).status).toBe(201);
    expect((await op<ErrorBody>('POST', '/api/queues/', { name: n('dangling') })).body.error.code).toBe(
      'ERR_QUEUE_EXISTS',
    );
  });
});

describe('queue agents and VIP numbers', () => {
  test('a SIP user and an AI route join; duplicates → 409; a user who does not exist → 400; pause, reorder, remove', async () => {
    const queue = n('agents');
    await op('POST', '/api/queues/', { name: queue });
    const alice = await createUser();
    const route = n('agent-ai');
    await op('POST', '/api/ai-routes/', { name: route });
    const a = await op<{ id: number }>('POST', `/api/queues/${queue}/agents`, {
      kind: 'sip_user',
      username: alice.username,
      position: 2,
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      kind: 'sip_user',
      username: alice.username,
      ai_route: null,
      position: 2,
      paused: false,
    });
    const b = await op<{ id: number }>('POST', `/api/queues/${queue}/agents`, {
      kind: 'ai',
      ai_route: route,
      max_concurrent_calls: 4,
    });
    expect(b.body).toMatchObject({ kind: 'ai', ai_route: route, max_concurrent_calls: 4, position: 0 });
    const dup = await op<ErrorBody>('POST', `/api/queues/${queue}/agents`, {
      kind: 'sip_user',
      username: alice.username,
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('ERR_QUEUE_AGENT_EXISTS');
    const ghost = await op<ErrorBody>('POST', `/api/queues/${queue}/agents`, {
      kind: 'sip_user',
      username: 'ghost-user',
    });
    expect(ghost.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target: "SIP user 'ghost-user'" });
    const mixed = await op<ErrorBody>('POST', `/api/queues/${queue}/agents`, {
      kind: 'sip_user',
      username: alice.username,
      ai_route: route,
    });
    expect(mixed.body.error.fields?.map((f) => f.field)).toContain('ai_route');
    const list = await op<{ items: Array<{ id: number }> }>('GET', `/api/queues/${queue}/agents`);
    expect(list.body.items.map((x) => x.id)).toEqual([b.body.id, a.body.id]);
    const paused = await op('PUT', `/api/queues/${queue}/agents/${a.body.id}`, { paused: true, position: 0 });
    expect(paused.body).toMatchObject({ paused: true, position: 0 });
    const limitUser = await op<ErrorBody>('PUT', `/api/queues/${queue}/agents/${a.body.id}`, {
      max_concurrent_calls: 2,
    });
    expect(limitUser.status).toBe(400);
    // The AI route an agent uses cannot be deleted under it.
    const inUse = await op<ErrorBody>('DELETE', `/api/ai-routes/${route}`);
    expect(inUse.body.error).toMatchObject({ code: 'ERR_AI_ROUTE_IN_USE', used_by: [`queue '${queue}' (agent)`] });
    expect((await op('DELETE', `/api/queues/${queue}/agents/${b.body.id}`)).status).toBe(200);
    expect((await op<ErrorBody>('DELETE', `/api/queues/${queue}/agents/${b.body.id}`)).body.error.code).toBe(
      'ERR_QUEUE_AGENT_NOT_FOUND',
    );
    expect((await op('DELETE', `/api/ai-routes/${route}`)).status).toBe(200);
  });

  test('PUT a VIP → 201, again → 200 with the new priority; numbers are normalised; list and delete', async () => {
    const queue = n('vips');
    await op('POST', '/api/queues/', { name: queue });
    const first = await op('PUT', `/api/queues/${queue}/vips`, { number: '+44 20 7946 0123', priority: 40 });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ queue, number: '+442079460123', priority: 40 });
    const again = await op('PUT', `/api/queues/${queue}/vips`, { number: '+442079460123', priority: 60 });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ priority: 60 });
    await op('PUT', `/api/queues/${queue}/vips`, { number: '+442079460124', priority: 90 });
    const list = await op<{ items: Array<{ number: string }> }>('GET', `/api/queues/${queue}/vips`);
    expect(list.body.items.map((v) => v.number)).toEqual(['+442079460124', '+442079460123']);
    const bad = await op<ErrorBody>('PUT', `/api/queues/${queue}/vips`, { number: '12345', priority: 5 });
    expect(bad.status).toBe(400);
    expect((await op('DELETE', `/api/queues/${queue}/vips/442079460123`)).status).toBe(200);
    expect((await op<ErrorBody>('DELETE', `/api/queues/${queue}/vips/442079460123`)).body.error.code).toBe(
      'ERR_QUEUE_VIP_NOT_FOUND',
    );
  });
});

describe('numbers: max_concurrent_calls, queue, queue_priority', () => {
  test('accepted and returned; a queue that does not exist → 400 naming the field; the queue cannot be deleted under the number', async () => {
    const queue = n('numq');
    await op('POST', '/api/queues/', { name: queue });
    const number = `+44207946${String(Math.floor(Math.random() * 9000) + 1000)}`;
    await op('DELETE', `/api/numbers/${encodeURIComponent(number)}`);
    const created = await op('POST', '/api/numbers/', {
      number,
      route_type: 'ai',
      max_concurrent_calls: 2,
      queue,
      queue_priority: 7,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ number, max_concurrent_calls: 2, queue, queue_priority: 7 });
    const missing = await op<ErrorBody>('PUT', `/api/numbers/${encodeURIComponent(number)}`, {
      queue: 'no-such-queue',
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.fields).toEqual([{ field: 'queue', message: 'names no queue (no-such-queue)' }]);
    const inUse = await op<ErrorBody>('DELETE', `/api/queues/${queue}`);
    expect(inUse.body.error).toMatchObject({ code: 'ERR_QUEUE_IN_USE', used_by: [`number ${number}`] });
    const cleared = await op('PUT', `/api/numbers/${encodeURIComponent(number)}`, {
      queue: null,
      max_concurrent_calls: null,
    });
    expect(cleared.body).toMatchObject({ queue: null, max_concurrent_calls: null, queue_priority: 7 });
    expect((await op('DELETE', `/api/queues/${queue}`)).status).toBe(200);
    // A menu sending callers to this number's AI keeps it from being deleted.
    const menu = n('to-number');
    expect(
      (
        await op('POST', '/api/ivr/menus/', {
          name: menu,
          definition: { prompt: { text: 'x' }, options: { '7': { type: 'ai', number } } },
        })
      ).status,
    ).toBe(201);
    const named = await op<ErrorBody>('DELETE', `/api/numbers/${encodeURIComponent(number)}`);
    expect(named.status).toBe(409);
    expect(named.body.error).toMatchObject({
      code: 'ERR_NUMBER_IN_USE',
      used_by: [`menu '${menu}' (options[7].number)`],
    });
    await op('DELETE', `/api/ivr/menus/${menu}`);
    expect((await op('DELETE', `/api/numbers/${encodeURIComponent(number)}`)).status).toBe(200);
  });
});

describe('queue statistics from queue_entries', () => {
  const queue = n('stats-q');
  beforeAll(async () => {
    await op('POST', '/api/queues/', { name: queue, service_level_seconds: 20 });
    // Now: two waiting (30 s and 10 s), one offered.
    await entry(queue, { enqueued: -30 });
    await entry(queue, { enqueued: -10 });
    await entry(queue, { state: 'offered', enqueued: -15, offered: -2 });
    // Last hour: answered after 5 s (within), answered after 60 s (not), abandoned after 40 s, one overflow.
    await entry(queue, {
      state: 'done',
      outcome: 'answered',
      enqueued: -3600,
      offered: -3597,
      answered: -3595,
      ended: -3000,
    });
    await entry(queue, {
      state: 'done',
      outcome: 'answered',
      enqueued: -1800,
      offered: -1745,
      answered: -1740,
      ended: -1500,
    });
    await entry(queue, { state: 'done', outcome: 'abandoned', enqueued: -900, ended: -860 });
    await entry(queue, { state: 'done', outcome: 'overflow', enqueued: -700, ended: -400 });
    // Three days ago: answered within the service level, outside the default window.
    await entry(queue, {
      state: 'done',
      outcome: 'answered',
      enqueued: -259200,
      offered: -259199,
      answered: -259198,
      ended: -259000,
    });
  });

  test('GET /stats (default 24 h) → waiting 2, longest ≈ 30 s, answered 2 (1 within 20 s), abandoned 1, overflowed 1, service level 1/3, mean wait 35 s', async () => {
    const res = await op<StatsBody>('GET', `/api/queues/${queue}/stats`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      queue,
      waiting: 2,
      offered: 3,
      answered: 2,
      answered_within_service_level: 1,
      abandoned: 1,
      overflowed: 1,
      service_level: 0.3333,
      service_level_seconds: 20,
    });
    expect(res.body.longest_wait_seconds).toBeGreaterThanOrEqual(30);
    expect(res.body.longest_wait_seconds).toBeLessThan(40);
    // (5 + 60 + 40) / 3
    expect(res.body.avg_wait_seconds).toBeCloseTo(35, 1);
  });

  test('?since= four days ago → the old answered call counts: answered 3, service level 2/4', async () => {
    const since = new Date(Date.now() - 4 * 86400_000).toISOString();
    const res = await op<StatsBody>('GET', `/api/queues/${queue}/stats?since=${encodeURIComponent(since)}`);
    expect(res.body).toMatchObject({ answered: 3, answered_within_service_level: 2, abandoned: 1, service_level: 0.5 });
    const bad = await op<ErrorBody>('GET', `/api/queues/${queue}/stats?since=yesterday`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields?.[0]?.field).toBe('since');
  });

  test('GET /api/queues/stats → every queue, this one with the same figures', async () => {
    const res = await op<{ items: StatsBody[] }>('GET', '/api/queues/stats');
    expect(res.status).toBe(200);
    expect(res.body.items.find((s) => s.queue === queue)).toMatchObject({ waiting: 2, answered: 2, abandoned: 1 });
  });

  test('/metrics → per-queue gauges from PostgreSQL', async () => {
    const text = await (await fetch(`${testStack().apiUrl}/metrics`)).text();
    const value = (metric: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${metric}{queue="${queue}"}`));
      return line === undefined ? undefined : Number(line.split(' ').pop());
    };
    expect(value('queue_stats_waiting_callers')).toBe(2);
    expect(value('queue_stats_answered_24h')).toBe(2);
    expect(value('queue_stats_abandoned_24h')).toBe(1);
    expect(value('queue_stats_service_level_24h')).toBeCloseTo(1 / 3, 3);
    expect(value('queue_stats_longest_wait_seconds')).toBeGreaterThanOrEqual(30);
  });

  test('a queue with callers in it cannot be deleted', async () => {
    const res = await op<ErrorBody>('DELETE', `/api/queues/${queue}`);
    expect(res.status).toBe(409);
    expect(res.body.error.used_by).toEqual(['3 caller(s) in the queue']);
  });
});

describe('operator moves: rows change and queue_events carries the notices', () => {
  const queue = n('moves');
  const other = n('moves-to');
  let listener: Client;
  const notices: QueueNotice[] = [];

  beforeAll(async () => {
    await op('POST', '/api/queues/', { name: queue });
    await op('POST', '/api/queues/', { name: other });
    listener = new Client({ connectionString: testStack().env['DATABASE_URL'] });
    await listener.connect();
    listener.on('notification', (m: Notification) => {
      if (m.channel === QUEUE_CHANNEL && m.payload) notices.push(JSON.parse(m.payload) as QueueNotice);
    });
    await listener.query(`LISTEN ${QUEUE_CHANNEL}`);
  });
  afterAll(async () => {
    await listener.end();
    await clearEntries(queue);
    await clearEntries(other);
  });

  async function order(q: string): Promise<EntryBody[]> {
    return (await op<{ items: EntryBody[] }>('GET', `/api/queues/${q}/entries`)).body.items;
  }
  async function noticesFor(pred: (n: QueueNotice) => boolean, count: number): Promise<QueueNotice[]> {
    for (let i = 0; i < 50 && notices.filter(pred).length < count; i++) await new Promise((r) => setTimeout(r, 20));
    return notices.filter(pred);
  }

  test('entries → waiting callers by priority then time, with positions and waits; front → first with the top priority; a kick is sent', async () => {
    const w1 = await entry(queue, { enqueued: -30, gateway: 'gw-a' });
    const w2 = await entry(queue, { enqueued: -20, priority: 5, gateway: 'gw-b' });
    const w3 = await entry(queue, { enqueued: -10, gateway: 'gw-c' });
    const before = await order(queue);
    expect(before.map((e) => [e.id, e.position])).toEqual([
      [w2, 1],
      [w1, 2],
      [w3, 3],
    ]);
    expect(before[1]?.wait_seconds).toBeGreaterThanOrEqual(30);
    notices.length = 0;
    const front = await op<EntryBody>('POST', `/api/queues/${queue}/entries/${w3}/front`);
    expect(front.status).toBe(200);
    expect(front.body).toMatchObject({ id: w3, position: 1, priority: 5, priority_source: 'api', state: 'waiting' });
    expect((await order(queue)).map((e) => e.id)).toEqual([w3, w2, w1]);
    expect(await noticesFor((x) => x.kind === 'kick', 1)).toEqual([{ kind: 'kick', queue }]);
  });

  test('move → the caller is in the other queue with its enqueued_at; NOTIFY moved to its gateway and a kick of both queues', async () => {
    const [, , w1] = await order(queue);
    notices.length = 0;
    const moved = await op<EntryBody>('POST', `/api/queues/${queue}/entries/${w1?.id}/move`, {
      queue: other,
      priority: 3,
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      id: w1?.id,
      queue: other,
      priority: 3,
      priority_source: 'api',
      position: 1,
      enqueued_at: w1?.enqueued_at,
    });
    expect((await order(queue)).map((e) => e.id)).not.toContain(w1?.id);
    expect((await order(other)).map((e) => e.id)).toEqual([w1?.id]);
    const sent = await noticesFor(() => true, 3);
    expect(sent).toEqual([
      { kind: 'moved', entry: w1?.id, gateway: 'gw-a', queue: other },
      { kind: 'kick', queue },
      { kind: 'kick', queue: other },
    ]);
    const nowhere = await op<ErrorBody>('POST', `/api/queues/${other}/entries/${w1?.id}/move`, { queue: 'no-such-q' });
    expect(nowhere.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target: "queue 'no-such-q'" });
  });

  test('assign → offered to the agent (agent and offered_at set); NOTIFY offer to its gateway; a second move of it → 409; unknown ids → 404', async () => {
    const bob = await createUser();
    // Paused: the stack's gateways dispatch this queue too (the entries' gateways are made up), and
    // would offer the caller to an active agent before the operator does; an operator's assign
    // reaches a paused agent.
    const agent = await op<{ id: number }>('POST', `/api/queues/${queue}/agents`, {
      kind: 'sip_user',
      username: bob.username,
      paused: true,
    });
    const [first] = await order(queue);
    notices.length = 0;
    const res = await op<EntryBody>('POST', `/api/queues/${queue}/entries/${first?.id}/assign`, {
      agent_id: agent.body.id,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      state: 'offered',
      agent_id: agent.body.id,
      agent: `sip_user:${bob.username}`,
      position: null,
    });
    const { rows } = await db.query<{ offered_at: Date | null }>('SELECT offered_at FROM queue_entries WHERE id = $1', [
      first?.id,
    ]);
    expect(rows[0]?.offered_at).toBeInstanceOf(Date);
    expect(await noticesFor((x) => x.kind === 'offer', 1)).toEqual([
      { kind: 'offer', entry: first?.id, gateway: 'gw-c' },
    ]);
    const again = await op<ErrorBody>('POST', `/api/queues/${queue}/entries/${first?.id}/front`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'ERR_QUEUE_ENTRY_NOT_WAITING', state: 'offered' });
    const entries = await order(queue);
    expect(entries.map((e) => [e.state, e.position])).toEqual([
      ['waiting', 1],
      ['offered', null],
    ]);
    expect((await op<ErrorBody>('POST', `/api/queues/${queue}/entries/999999999/front`)).body.error.code).toBe(
      'ERR_QUEUE_ENTRY_NOT_FOUND',
    );
    const noAgent = await op<ErrorBody>('POST', `/api/queues/${queue}/entries/${entries[0]?.id}/assign`, {
      agent_id: 999999,
    });
    expect(noAgent.status).toBe(404);
    expect(noAgent.body.error.code).toBe('ERR_QUEUE_AGENT_NOT_FOUND');
  });
});
