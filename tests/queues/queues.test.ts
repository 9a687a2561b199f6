import { performance } from 'node:perf_hooks';
import { int16ToBase64 } from '../../services/common/src/ai-protocol/wire/pcm';
import {
  freeUdpPort,
  calleeScenario,
  runSipp,
  startSipp,
  uacInviteScenario,
  type RunningSipp,
} from '../../harness/sipp';
import { RtpPeer } from '../../harness/rtp-peer';
import { AiPeer, type AiConnection } from '../support/ai-peer';
import { api, createUser, type CreatedUser } from '../support/api';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { testStack } from '../support/stack';
import {
  call,
  createAiRoute,
  createNumber,
  createQueue,
  database,
  entries,
  expectGatewayIdle,
  gatewayCounter,
  heard,
  sleep,
  until,
  type Caller,
} from './support';

/**
 * Queues end to end (issue 15): SIPp callers through Kamailio and rtpengine to the
 * media gateway, AI agents played by the test's AI peer, SIP-user agents played by
 * registered SIPp UASes. Queue rows are written to PostgreSQL directly, as the API
 * would.
 */

const tag = (): string => `t${process.pid % 1000}${Date.now().toString(36).slice(-5)}`;

/** The caller of an AI connection, from its olib auth frame. */
async function fromOf(c: AiConnection): Promise<string> {
  await c.waitFor('auth', (x) => x.of('auth').length === 1);
  const auth = c.of('auth')[0] as { call?: { from_number?: string } } | undefined;
  return auth?.call?.from_number ?? '';
}

/**
 * Hangs up from the AI once its stream is up (the gateway sends caller audio): a
 * hangup sent before the gateway read auth_ok would be dropped with the handshake.
 */
async function aiHangup(ai: AiConnection, reason: string): Promise<void> {
  await ai.waitFor('caller audio', (x) => x.of('audio_data').length > 0);
  ai.send({ type: 'hangup', data: { reason } });
}

/** The AI speaks a 1 kHz tone for `seconds` (olib audio frames, 16 kHz). */
function speak(ai: AiConnection, seconds: number): void {
  for (let start = 0; start < 16000 * seconds; start += 3200) {
    const chunk = new Int16Array(3200).map((_, i) =>
      Math.round(8000 * Math.sin((2 * Math.PI * 1000 * (start + i)) / 16000)),
    );
    ai.send({ type: 'audio', data: { audio: int16ToBase64(chunk) } });
  }
}

describe('queues: AI routes with a concurrency limit, SIP-user agents, limits per number', () => {
  let peer: AiPeer;
  const db = database();
  const live: Caller[] = [];
  const servers: Array<{ kill(): void }> = [];
  beforeAll(async () => {
    peer = await AiPeer.start();
    await db.connect();
  });
  afterEach(() => {
    for (const c of live.splice(0)) {
      c.sipp.kill();
      c.rtp.close();
    }
    for (const s of servers.splice(0)) s.kill();
  });
  afterAll(async () => {
    await peer.close();
    await db.end();
    await expectGatewayIdle();
  });

  async function dial(number: string, holdMs = 60_000, remoteHangup = true, user?: CreatedUser): Promise<Caller> {
    const c = await call(number, { holdMs, remoteHangup, user });
    live.push(c);
    return c;
  }

  async function entryOf(queue: string, c: Caller) {
    return (await entries(db, queue)).find((e) => e.caller === c.user.username);
  }

  test('an AI route limited to 2: callers 3 and 4 wait hearing music; a priority caller arriving after them is connected first when a slot frees; the rest follow in order', async () => {
    const t = tag();
    const queue = `ai-${t}`;
    const route = `bot-${t}`;
    await createAiRoute(db, route, `${peer.url}/olib`, 2);
    await createQueue(db, { name: queue });
    await db.query(`INSERT INTO queue_agents (queue, kind, ai_route) VALUES ($1, 'ai', $2)`, [queue, route]);
    const plain = await createNumber(db, { route_type: 'queue', target: queue });
    const priority = await createNumber(db, { route_type: 'queue', target: queue }, { queue_priority: 50 });

    const base = peer.connections.length;
    const c1 = await dial(plain);
    const ai1 = await peer.connection(base);
    const c2 = await dial(plain);
    const ai2 = await peer.connection(base + 1);
    expect([await fromOf(ai1), await fromOf(ai2)]).toEqual([c1.user.username, c2.user.username]);

    const c3 = await dial(plain);
    await until('caller 3 waiting', async () => ((await entryOf(queue, c3))?.state === 'waiting' ? true : undefined));
    const c4 = await dial(plain);
    await until('caller 4 waiting', async () => ((await entryOf(queue, c4))?.state === 'waiting' ? true : undefined));
    await sleep(2500);
    const now = performance.now();
    for (const [name, c] of [
      ['caller 3', c3],
      ['caller 4', c4],
    ] as const) {
      const h = heard(c.rtp.received, now - 2000, now);
      console.log(`${name} waiting: ${h.packets} packets in 2 s, ${h.music} frames of the hold tune, ${h.loud} loud`);
      expect(h.packets).toBeGreaterThanOrEqual(80);
      expect(h.music / h.packets).toBeGreaterThan(0.9);
      expect(h.loud / h.packets).toBeGreaterThan(0.3);
    }
    expect(peer.connections.length).toBe(base + 2);

    const c5 = await dial(priority);
    const e5 = await until('the priority caller waiting', async () => {
      const e = await entryOf(queue, c5);
      return e?.state === 'waiting' ? e : undefined;
    });
    expect(e5).toMatchObject({ priority: 50, priority_source: 'number' });

    // A slot frees: the priority caller is next, though callers 3 and 4 came first.
    const freed = performance.now();
    await aiHangup(ai1, 'slot frees');
    const ai3 = await peer.connection(base + 2);
    expect(await fromOf(ai3)).toBe(c5.user.username);
    speak(ai3, 1);
    const firstLoud = await until('the priority caller hears the AI', () => {
      const p = c5.rtp.received.find(
        (r) =>
          r.atMs > freed &&
          heard([r], r.atMs - 1, r.atMs + 1).loud === 1 &&
          heard([r], r.atMs - 1, r.atMs + 1).music === 0,
      );
      return p?.atMs;
    });
    console.log(`slot freed → priority caller hears the AI: ${(firstLoud - freed).toFixed(0)} ms`);

    await aiHangup(ai2, 'slot frees');
    const ai4 = await peer.connection(base + 3);
    expect(await fromOf(ai4)).toBe(c3.user.username);
    await aiHangup(ai3, 'slot frees');
    const ai5 = await peer.connection(base + 4);
    expect(await fromOf(ai5)).toBe(c4.user.username);
    for (const ai of [ai4, ai5]) await aiHangup(ai, 'test over');
    for (const c of [c1, c2, c3, c4, c5]) expectSippSuccess(await c.sipp.done, 'queued caller');

    const rows = await until('every entry done', async () => {
      const r = await entries(db, queue);
      return r.every((e) => e.state === 'done') ? r : undefined;
    });
    expect(rows.map((e) => [e.caller, e.outcome, e.agent])).toEqual(
      [c1, c2, c3, c4, c5].map((c) => [c.user.username, 'answered', `ai:${route}`]),
    );
    const { rows: seats } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM call_seats WHERE scope = $1`,
      [`ai_route:${route}`],
    );
    expect(seats[0]!.n).toBe(0);
  });

  test('a caller past the maximum wait takes the overflow action (another AI route); its entry says overflow', async () => {
    const t = tag();
    const queue = `ov-${t}`;
    const route = `busy-${t}`;
    const spare = `spare-${t}`;
    await createAiRoute(db, route, `${peer.url}/olib`, 1);
    await createAiRoute(db, spare, `${peer.url}/overflow`, null);
    await createQueue(db, { name: queue, max_wait_seconds: 3, max_wait_action: { type: 'ai', ai_route: spare } });
    await db.query(`INSERT INTO queue_agents (queue, kind, ai_route) VALUES ($1, 'ai', $2)`, [queue, route]);
    const number = await createNumber(db, { route_type: 'queue', target: queue });

    const base = peer.connections.length;
    const c1 = await dial(number);
    const ai1 = await peer.connection(base);
    const c2 = await dial(number);
    const waitingSince = await until('caller 2 waiting', async () =>
      (await entryOf(queue, c2))?.state === 'waiting' ? performance.now() : undefined,
    );
    const ai2 = await peer.connection(base + 1, 8000);
    const waited = performance.now() - waitingSince;
    console.log(`overflow after ${waited.toFixed(0)} ms of waiting (max wait 3 s), to ${ai2.path}`);
    expect(ai2.path).toBe('/overflow');
    expect(await fromOf(ai2)).toBe(c2.user.username);
    expect(waited).toBeGreaterThan(2000);
    expect(await entryOf(queue, c2)).toMatchObject({ state: 'done', outcome: 'overflow' });
    for (const ai of [ai1, ai2]) await aiHangup(ai, 'test over');
    for (const c of [c1, c2]) expectSippSuccess(await c.sipp.done, 'caller');
    const { rows } = await db.query<{ type: string }>(
      `SELECT type FROM call_events WHERE call_id = (SELECT call_id::text FROM queue_entries WHERE queue = $1 AND caller = $2) ORDER BY id`,
      [queue, c2.user.username],
    );
    expect(rows.map((r) => r.type)).toEqual(expect.arrayContaining(['queue_enter', 'queue_overflow']));
  });

  /** A SIP user registered at a SIPp UAS that answers (or only rings) every call it gets. */
  async function agent(o: { answers: boolean }): Promise<{ user: CreatedUser; sipp: RunningSipp; rtp: RtpPeer }> {
    const user = await createUser();
    const port = await freeUdpPort();
    expectSippSuccess(
      await register(user.username, user.password, { first: 401, final: 200, contactPort: port }),
      'agent registers',
    );
    const rtp = await RtpPeer.open();
    const sipp = await startSipp({
      scenario: o.answers
        ? calleeScenario({ answer: 200, ringMs: 300, hangupAfterMs: 1500 })
        : calleeScenario({ answer: 200, ringMs: 120_000 }),
      remote: proxy(),
      serverMode: true,
      localPort: port,
      keys: { rtp_port: rtp.port },
      calls: 100,
      limit: 10,
      timeoutSeconds: 90,
    });
    servers.push({ kill: () => (sipp.kill(), rtp.close()) });
    return { user, sipp, rtp };
  }

  test('two SIP-user agents, round robin: offers alternate; an agent who does not answer within the ring timeout is skipped', async () => {
    const t = tag();
    const queue = `rr-${t}`;
    const a = await agent({ answers: true });
    const b = await agent({ answers: true });
    const silent = await agent({ answers: false });
    await createQueue(db, { name: queue, strategy: 'round_robin', ring_timeout_seconds: 3 });
    for (const [i, x] of [a, b, silent].entries())
      await db.query(`INSERT INTO queue_agents (queue, kind, username, position) VALUES ($1, 'sip_user', $2, $3)`, [
        queue,
        x.user.username,
        i,
      ]);
    const number = await createNumber(db, { route_type: 'queue', target: queue });

    const agents: string[] = [];
    const callers: Caller[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await dial(number, 30_000, true);
      callers.push(c);
      const e = await until(
        `caller ${i + 1} answered by an agent`,
        async () => {
          const row = await entryOf(queue, c);
          return row && (row.state === 'connected' || row.outcome === 'answered') ? row : undefined;
        },
        20_000,
      );
      agents.push(e.agent ?? '');
      // The agent hangs up after 1.5 s; the caller gets the BYE.
      expectSippSuccess(await c.sipp.done, `caller ${i + 1}`);
    }
    const name = (x: { user: CreatedUser }): string => `sip_user:${x.user.username}`;
    console.log(`round robin: ${agents.join(' → ')}`);
    expect(agents).toEqual([name(a), name(b), name(a)]);
    const { rows } = await db.query<{ data: { agent: string; reason: string } }>(
      `SELECT data FROM call_events WHERE type = 'queue_no_answer'
         AND call_id = (SELECT call_id::text FROM queue_entries WHERE queue = $1 AND caller = $2)`,
      [queue, callers[2]!.user.username],
    );
    expect(rows.map((r) => r.data.agent)).toEqual([name(silent)]);
  });

  test('operators through the API: the second caller moved to the front, then assigned to a paused agent, who is rung and answers; the first caller still waits', async () => {
    const t = tag();
    const queue = `op-${t}`;
    const desk = await agent({ answers: true });
    await createQueue(db, { name: queue, strategy: 'round_robin', ring_timeout_seconds: 10 });
    // Paused: the queue itself offers it no caller; an operator's assign still reaches it.
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO queue_agents (queue, kind, username, paused) VALUES ($1, 'sip_user', $2, true) RETURNING id`,
      [queue, desk.user.username],
    );
    const number = await createNumber(db, { route_type: 'queue', target: queue });
    // Caller 1 hangs up by itself after 15 s of waiting (nobody takes it: the only agent is paused).
    const first = await dial(number, 15_000, false);
    await until('caller 1 waiting', async () =>
      (await entryOf(queue, first))?.state === 'waiting' ? true : undefined,
    );
    const second = await dial(number, 30_000, true);
    const e2 = await until('caller 2 waiting', async () => {
      const e = await entryOf(queue, second);
      return e?.state === 'waiting' ? e : undefined;
    });
    type Listed = { id: string; position: number };
    const list = async (): Promise<Listed[]> =>
      (await api<{ items: Listed[] }>('GET', `/api/queues/${queue}/entries`, { role: 'operator' })).body.items;
    expect((await list()).map((e) => e.id)).toEqual([(await entryOf(queue, first))!.id, e2.id]);

    const front = await api<Listed>('POST', `/api/queues/${queue}/entries/${e2.id}/front`, { role: 'operator' });
    expect(front.status).toBe(200);
    expect(front.body.position).toBe(1);
    expect((await list())[0]?.id).toBe(e2.id);

    const assignedAt = performance.now();
    const assign = await api('POST', `/api/queues/${queue}/entries/${e2.id}/assign`, {
      role: 'operator',
      body: { agent_id: rows[0]!.id },
    });
    expect(assign.status).toBe(200);
    const answered = await until(
      'caller 2 answered by the desk',
      async () => {
        const e = await entryOf(queue, second);
        return e && (e.state === 'connected' || e.outcome === 'answered') ? e : undefined;
      },
      15_000,
    );
    console.log(`operator assign → agent answered in ${(performance.now() - assignedAt).toFixed(0)} ms`);
    expect(answered.agent).toBe(`sip_user:${desk.user.username}`);
    // The desk hangs up after 1.5 s: caller 2 gets the BYE; caller 1 never left the queue.
    expectSippSuccess(await second.sipp.done, 'caller 2');
    expect(await entryOf(queue, first)).toMatchObject({ state: 'waiting' });
    expectSippSuccess(await first.sipp.done, 'caller 1 gives up');
    const gaveUp = await until('caller 1 out of the queue', async () => {
      const e = await entryOf(queue, first);
      return e?.state === 'done' ? e : undefined;
    });
    expect(gaveUp.outcome).toBe('abandoned');
  });

  test('a VIP caller (by the caller number, through the API) is served before an earlier caller; the agent rests its wrap-up time before the next offer', async () => {
    const t = tag();
    const queue = `vip-${t}`;
    const desk = await agent({ answers: true });
    await createQueue(db, { name: queue, strategy: 'round_robin', ring_timeout_seconds: 10, wrap_up_seconds: 3 });
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO queue_agents (queue, kind, username, paused) VALUES ($1, 'sip_user', $2, true) RETURNING id`,
      [queue, desk.user.username],
    );
    const deskId = rows[0]!.id;
    // A caller whose SIP user name is a phone number: the caller number the VIP list matches.
    const vipNumber = `1555${String(Date.now() % 10_000_000).padStart(7, '0')}`;
    const vipUser = await createUser({ username: vipNumber });
    const put = await api('PUT', `/api/queues/${queue}/vips`, {
      role: 'operator',
      body: { number: `+${vipNumber}`, priority: 10 },
    });
    expect(put.status).toBe(201);
    const number = await createNumber(db, { route_type: 'queue', target: queue });

    const early = await dial(number, 30_000, true);
    await until('the early caller waiting', async () =>
      (await entryOf(queue, early))?.state === 'waiting' ? true : undefined,
    );
    const vip = await dial(number, 30_000, true, vipUser);
    const vipEntry = await until('the VIP waiting', async () => {
      const e = await entryOf(queue, vip);
      return e?.state === 'waiting' ? e : undefined;
    });
    expect(vipEntry).toMatchObject({ priority: 10, priority_source: 'vip' });

    const resumed = await api('PUT', `/api/queues/${queue}/agents/${deskId}`, {
      role: 'operator',
      body: { paused: false },
    });
    expect(resumed.status).toBe(200);
    const first = await until(
      'the VIP answered',
      async () => {
        const e = await entryOf(queue, vip);
        return e && (e.state === 'connected' || e.outcome === 'answered') ? e : undefined;
      },
      15_000,
    );
    expect(first.agent).toBe(`sip_user:${desk.user.username}`);
    expect((await entryOf(queue, early))?.state).toBe('waiting');
    // The desk hangs up after 1.5 s; then it rests 3 s before the early caller is offered.
    expectSippSuccess(await vip.sipp.done, 'VIP caller');
    await until(
      'the early caller answered',
      async () => {
        const e = await entryOf(queue, early);
        return e && (e.state === 'connected' || e.outcome === 'answered') ? e : undefined;
      },
      20_000,
    );
    const times = await db.query<{ rest_ms: number }>(
      `SELECT (EXTRACT(EPOCH FROM e.offered_at - v.ended_at) * 1000)::int AS rest_ms
         FROM queue_entries e, queue_entries v
        WHERE e.queue = $1 AND e.caller = $2 AND v.queue = $1 AND v.caller = $3`,
      [queue, early.user.username, vipNumber],
    );
    const rest = times.rows[0]?.rest_ms ?? -1;
    console.log(`VIP first; the desk's rest between its calls: ${rest} ms (wrap-up 3 s)`);
    expect(rest).toBeGreaterThanOrEqual(2900);
    expect(rest).toBeLessThan(8000);
    expectSippSuccess(await early.sipp.done, 'early caller');
  });

  test('an abandoned caller (hangs up while waiting) is counted: entry outcome abandoned, the gateway counter, the stats', async () => {
    const t = tag();
    const queue = `ab-${t}`;
    await createQueue(db, { name: queue, strategy: 'round_robin' });
    const nobody = await createUser();
    await db.query(`INSERT INTO queue_agents (queue, kind, username, paused) VALUES ($1, 'sip_user', $2, true)`, [
      queue,
      nobody.username,
    ]);
    const number = await createNumber(db, { route_type: 'queue', target: queue });
    const before = await gatewayCounter('gateway_queue_calls_total', { queue, outcome: 'abandoned' });
    const c = await dial(number, 2500, false);
    expectSippSuccess(await c.sipp.done, 'caller who gives up');
    const e = await until('the entry abandoned', async () => {
      const row = await entryOf(queue, c);
      return row?.state === 'done' ? row : undefined;
    });
    expect(e.outcome).toBe('abandoned');
    expect(await gatewayCounter('gateway_queue_calls_total', { queue, outcome: 'abandoned' })).toBe(before + 1);
    const stats = await api<{ abandoned?: number }>('GET', `/api/queues/${queue}/stats`, { role: 'operator' });
    expect(stats.status).toBe(200);
    expect(stats.body.abandoned).toBe(1);
  });

  test('a number with max_concurrent_calls and no queue: the call over the limit gets 486 Busy Here', async () => {
    const number = await createNumber(
      db,
      { route_type: 'ai', ai_dialect: 'olib', ai_agent_url: `${peer.url}/olib` },
      { max_concurrent_calls: 1 },
    );
    const base = peer.connections.length;
    const c1 = await dial(number);
    const ai1 = await peer.connection(base);
    const before = await gatewayCounter('gateway_seat_refusals_total', { scope: 'number', outcome: 'busy' });
    const user = await createUser();
    const second = await runSipp({
      scenario: uacInviteScenario({ expect: 486, authenticate: true }),
      remote: proxy(),
      keys: { user: user.username, callee: number.slice(1), domain: testStack().config.sip.domain },
      auth: { user: user.username, password: user.password },
      timeoutSeconds: 15,
    });
    expectSippSuccess(second, 'the caller over the limit gets 486');
    expect(await gatewayCounter('gateway_seat_refusals_total', { scope: 'number', outcome: 'busy' })).toBe(before + 1);
    expect(peer.connections.length).toBe(base + 1);
    await aiHangup(ai1, 'test over');
    expectSippSuccess(await c1.sipp.done, 'first caller');
    // The seat is back: the next call is taken.
    await until('the seat released', async () => {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM call_seats WHERE scope = $1`, [
        `number:${number}`,
      ]);
      return rows[0]!.n === 0 ? true : undefined;
    });
  });
});
