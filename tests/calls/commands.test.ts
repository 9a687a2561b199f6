import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import {
  awaitCommand,
  COMMANDS_CHANNEL,
  CommandListener,
  DONE_CHANNEL,
  listenerSessionName,
  PgCommandQueue,
  PgNotifications,
  submitCommand,
  type CommandHandler,
} from '../../services/common/src/calls/commands';
import { connectDatabase, type DbHandle } from '../../services/common/src/db/connect';
import type { CallCommandName } from '../../services/common/src/db/schema';
import { CodedError } from '../../services/common/src/errors';
import { PgLeaseStore } from '../../services/media-gateway/src/fleet/lease';
import { testStack } from '../support/stack';

/**
 * The call-command channel on the test stack's PostgreSQL, as control-plane replicas
 * and gateway replicas use it: each submitter and each gateway on its own pool, each
 * gateway with its own LISTEN connection named after it. The stack's own gateway runs
 * the same listener on the same table, so unowned commands may also go to it: the
 * assertions count every claimer.
 */
const quiet = { info: () => undefined, warn: () => undefined };
const url = (): string => testStack().config.databaseUrl;

interface FakeGateway {
  readonly name: string;
  readonly runs: { id: string; command: string }[];
  stop(): Promise<void>;
  /** Drops its LISTEN connection, as a killed process's connection drops. */
  kill(): Promise<void>;
}

describe('call commands through PostgreSQL: any control-plane replica → the owning gateway', () => {
  const handles: DbHandle[] = [];
  const gateways: FakeGateway[] = [];
  const signals: PgNotifications[] = [];
  const db = (i: number): DbHandle['db'] => handles[i]!.db;
  const tag = randomUUID().slice(0, 8);

  async function lease(name: string, ttlMs: number): Promise<void> {
    await new PgLeaseStore(db(0)).renew(name, randomUUID(), ttlMs);
  }

  async function gateway(name: string, handler: CommandHandler = async () => ({ by: name })): Promise<FakeGateway> {
    const own = connectDatabase(url(), { max: 2 });
    handles.push(own);
    await lease(name, 60_000);
    const runs: { id: string; command: string }[] = [];
    const listener = new CommandListener({
      gateway: name,
      queue: new PgCommandQueue(own.db),
      handler: (command: CallCommandName) => async (cmd) => {
        runs.push({ id: cmd.id, command });
        return handler(cmd);
      },
      maxConcurrent: 4,
      takeUnowned: () => true,
      pollMs: 1000,
      logger: quiet,
    });
    const notifications = new PgNotifications({
      connection: { connectionString: url() },
      channels: [COMMANDS_CHANNEL],
      applicationName: listenerSessionName(name),
      logger: quiet,
      onConnected: () => listener.wake(),
    });
    notifications.on(COMMANDS_CHANNEL, (owner) => {
      if (owner === name || owner === '*') listener.wake();
    });
    await notifications.start();
    listener.start();
    const g: FakeGateway = {
      name,
      runs,
      stop: async () => {
        await listener.stop(1000);
        await notifications.close();
      },
      kill: async () => {
        await notifications.close();
      },
    };
    gateways.push(g);
    return g;
  }

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      handles.push(connectDatabase(url(), { max: 4 }));
      const s = new PgNotifications({
        connection: { connectionString: url() },
        channels: [DONE_CHANNEL],
        logger: quiet,
      });
      await s.start();
      signals.push(s);
    }
  });

  afterAll(async () => {
    for (const g of gateways) await g.stop();
    for (const s of signals) await s.close();
    await db(0).deleteFrom('gateway_leases').where('gateway', 'like', `%-${tag}`).execute();
    await Promise.all(handles.map((h) => h.close()));
  });

  test('40 commands from 2 submitters to 2 gateways: each runs once, on its owner, and each submitter gets its result', async () => {
    const a = await gateway(`gw-a-${tag}`);
    const b = await gateway(`gw-b-${tag}`);
    const started = Date.now();
    const latencies: number[] = [];
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const owner = i % 2 === 0 ? a.name : b.name;
        const submitter = i % 4 < 2 ? 0 : 1;
        const t0 = performance.now();
        const id = await submitCommand(db(submitter), {
          callId: `call-${i}`,
          gateway: owner,
          command: 'hangup',
          args: { reason: `r${i}` },
          ttlMs: 10_000,
        });
        const result = await awaitCommand(db(submitter), id, { timeoutMs: 10_000, signal: signals[submitter]! });
        latencies.push(performance.now() - t0);
        return { id, owner, result };
      }),
    );
    for (const o of outcomes) expect(o.result).toEqual({ ok: true, by: o.owner });
    const ranOn = new Map<string, string[]>();
    for (const g of [a, b]) for (const r of g.runs) ranOn.set(r.id, [...(ranOn.get(r.id) ?? []), g.name]);
    for (const o of outcomes) expect(ranOn.get(o.id)).toEqual([o.owner]);
    const rows = await db(0)
      .selectFrom('call_commands')
      .select(['id', 'state', 'claimed_by', 'gateway'])
      .where(
        'id',
        'in',
        outcomes.map((o) => o.id),
      )
      .execute();
    expect(rows.every((r) => r.state === 'done' && r.claimed_by === r.gateway)).toBe(true);
    const stages = await sql<{ claim: number; run: number }>`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - created_at) * 1000) AS claim,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - claimed_at) * 1000) AS run
      FROM call_commands WHERE id IN (${sql.join(outcomes.map((o) => o.id))})`.execute(db(0));
    console.log(
      `[commands] p50 created→claimed ${Number(stages.rows[0]!.claim).toFixed(1)} ms, claimed→completed ${Number(stages.rows[0]!.run).toFixed(1)} ms`,
    );
    latencies.sort((x, y) => x - y);
    console.log(
      `[commands] 40 commands at once, 2 submitters → 2 gateways in ${Date.now() - started} ms; submit→result p50 ${latencies[20]!.toFixed(1)} ms, max ${latencies[39]!.toFixed(1)} ms`,
    );
    expect(latencies[39]!).toBeLessThan(10_000);

    // One at a time: NOTIFY carries each way (the gateway polls every 1000 ms, the waiter every 500 ms).
    const one: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const id = await submitCommand(db(i % 2), {
        callId: 'seq',
        gateway: a.name,
        command: 'hangup',
        args: {},
        ttlMs: 5000,
      });
      expect(await awaitCommand(db(i % 2), id, { timeoutMs: 5000, signal: signals[i % 2]! })).toEqual({
        ok: true,
        by: a.name,
      });
      one.push(performance.now() - t0);
    }
    one.sort((x, y) => x - y);
    console.log(`[commands] one at a time: submit→result p50 ${one[5]!.toFixed(1)} ms, max ${one[9]!.toFixed(1)} ms`);
    expect(one[5]!).toBeLessThan(400);
  });

  test('unowned commands (gateway NULL): each claimed and run exactly once, by one gateway', async () => {
    await gateway(`gw-c-${tag}`);
    await gateway(`gw-d-${tag}`);
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        submitCommand(db(i % 2), {
          callId: `unowned-${tag}-${i}`,
          gateway: null,
          command: 'fork',
          args: {},
          ttlMs: 10_000,
        }),
      ),
    );
    const results = await Promise.all(
      ids.map((id, i) => awaitCommand(db(i % 2), id, { timeoutMs: 10_000, signal: signals[i % 2]! })),
    );
    const rows = await db(0)
      .selectFrom('call_commands')
      .select(['id', 'state', 'claimed_by'])
      .where('id', 'in', ids)
      .execute();
    // Every gateway of this suite takes unowned commands (those of the test before too).
    const mine = new Set(gateways.map((g) => g.name));
    const runs = gateways.flatMap((g) => g.runs).filter((r) => ids.includes(r.id));
    for (const [i, id] of ids.entries()) {
      const row = rows.find((r) => String(r.id) === id)!;
      const ranHere = runs.filter((r) => r.id === id).length;
      // Ours ran it once (done, by that gateway), or the stack's gateway took it: its fork handler refuses a fork without a call to copy.
      if (mine.has(row.claimed_by ?? '')) {
        expect([ranHere, row.state, results[i]]).toEqual([1, 'done', { ok: true, by: row.claimed_by }]);
      } else {
        expect([ranHere, row.state, results[i]!.ok && 'ok']).toEqual([0, 'failed', false]);
        expect(results[i]).toMatchObject({ code: 'ERR_LISTEN_FORK_FAILED' });
      }
    }
    const ours = rows.filter((r) => mine.has(r.claimed_by ?? '')).length;
    console.log(
      `[commands] 20 unowned commands: ${ours} run by the test's gateways, ${20 - ours} by the stack's, none twice`,
    );
    expect(ours).toBeGreaterThan(0);
  });

  test('a handler throwing a CodedError → the waiter gets its code and details', async () => {
    const e = await gateway(`gw-e-${tag}`, async () => {
      throw new CodedError('ERR_CALL_NOT_ACTIVE', 'no such call here', { call_state: 'ended' });
    });
    const id = await submitCommand(db(1), { callId: 'gone', gateway: e.name, command: 'hold', args: {}, ttlMs: 5000 });
    expect(await awaitCommand(db(1), id, { timeoutMs: 5000, signal: signals[1]! })).toEqual({
      ok: false,
      code: 'ERR_CALL_NOT_ACTIVE',
      message: 'no such call here',
      call_state: 'ended',
    });
  });

  test('nobody takes it in time → ERR_CALL_COMMAND_TIMEOUT, the row expires, and a gateway that comes later never runs it', async () => {
    const name = `gw-late-${tag}`;
    await lease(name, 60_000);
    // Its LISTEN connection is up (so it is not taken for lost), but nothing claims.
    const idle = new PgNotifications({
      connection: { connectionString: url() },
      channels: [COMMANDS_CHANNEL],
      applicationName: listenerSessionName(name),
      logger: quiet,
    });
    await idle.start();
    try {
      const id = await submitCommand(db(0), { callId: 'slow', gateway: name, command: 'hangup', args: {}, ttlMs: 800 });
      const t0 = Date.now();
      const result = await awaitCommand(db(0), id, { timeoutMs: 800, signal: signals[0]! });
      expect(result).toMatchObject({ ok: false, code: 'ERR_CALL_COMMAND_TIMEOUT' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(750);
      const row = await db(0)
        .selectFrom('call_commands')
        .select('state')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.state).toBe('expired');
      await idle.close();
      const late = await gateway(name);
      await new Promise((r) => setTimeout(r, 300));
      expect(late.runs).toEqual([]);
    } finally {
      await idle.close();
    }
  });

  test('a pending command past its expiry is not claimed', async () => {
    const name = `gw-expiry-${tag}`;
    const id = await submitCommand(db(0), { callId: 'x', gateway: name, command: 'hangup', args: {}, ttlMs: 100 });
    await new Promise((r) => setTimeout(r, 300));
    const g = await gateway(name);
    await new Promise((r) => setTimeout(r, 300));
    expect(g.runs).toEqual([]);
    const row = await db(0).selectFrom('call_commands').select('state').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.state).toBe('pending');
  });

  test('the owner dies mid-command (its connection drops, its lease still valid) → ERR_CALL_GATEWAY_LOST in about 2 s, not after the 10 s timeout', async () => {
    const stuck = await gateway(`gw-dies-${tag}`, () => new Promise(() => undefined));
    const id = await submitCommand(db(0), {
      callId: 'c',
      gateway: stuck.name,
      command: 'hangup',
      args: {},
      ttlMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(stuck.runs.map((r) => r.id)).toEqual([id]);
    const t0 = Date.now();
    const waiting = awaitCommand(db(1), id, { timeoutMs: 10_000, signal: signals[1]! });
    await stuck.kill();
    const result = await waiting;
    const took = Date.now() - t0;
    expect(result).toMatchObject({ ok: false, code: 'ERR_CALL_GATEWAY_LOST', gateway: stuck.name });
    expect(took).toBeLessThan(4000);
    console.log(`[commands] owner lost mid-command: ERR_CALL_GATEWAY_LOST after ${took} ms (timeout 10000 ms)`);
    const row = await db(0).selectFrom('call_commands').select('state').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.state).toBe('failed');
  });

  test("the owner's lease has expired → ERR_CALL_GATEWAY_LOST at once", async () => {
    const name = `gw-expired-${tag}`;
    await db(0)
      .insertInto('gateway_leases')
      .values({ gateway: name, instance: randomUUID(), expires_at: new Date(Date.now() + 60_000) })
      .execute();
    await db(0)
      .updateTable('gateway_leases')
      .set({ expires_at: sql<Date>`now() - interval '1 second'` })
      .where('gateway', '=', name)
      .execute();
    const id = await submitCommand(db(0), { callId: 'c', gateway: name, command: 'hangup', args: {}, ttlMs: 10_000 });
    const t0 = Date.now();
    const result = await awaitCommand(db(0), id, { timeoutMs: 10_000 });
    expect(result).toMatchObject({ ok: false, code: 'ERR_CALL_GATEWAY_LOST' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test('the lost-gateway sweep: calls being placed or up on the lost gateway end, its open commands fail ERR_CALL_GATEWAY_LOST', async () => {
    const name = `gw-swept-${tag}`;
    const calls = (['initiated', 'ringing', 'active'] as const).map((state) => ({ id: randomUUID(), state }));
    for (const c of calls)
      await db(0)
        .insertInto('calls')
        .values({
          call_id: c.id,
          sip_call_id: `swept-${c.id}`,
          direction: 'outbound',
          from_number: '+15557770001',
          to_number: '+14155550100',
          route: 'outbound',
          ai_dialect: null,
          ai_url: null,
          codec: null,
          state: c.state,
          gateway: name,
          recording_path: null,
        })
        .execute();
    const pending = await submitCommand(db(0), {
      callId: calls[2]!.id,
      gateway: name,
      command: 'hold',
      args: {},
      ttlMs: 60_000,
    });
    const claimed = await submitCommand(db(0), {
      callId: calls[2]!.id,
      gateway: name,
      command: 'hangup',
      args: {},
      ttlMs: 60_000,
    });
    await db(0)
      .updateTable('call_commands')
      .set({ state: 'claimed', claimed_by: name })
      .where('id', '=', claimed)
      .execute();
    await db(0)
      .insertInto('gateway_leases')
      .values({ gateway: name, instance: randomUUID(), expires_at: new Date(Date.now() - 1000) })
      .execute();
    // Ours, or the stack's gateway sweeping first: the outcome is the same.
    await new PgLeaseStore(db(1)).sweep();
    const rows = await db(0).selectFrom('calls').select(['state', 'end_reason']).where('gateway', '=', name).execute();
    expect(rows).toEqual(calls.map(() => ({ state: 'ended', end_reason: 'gateway_lost' })));
    const commands = await db(0)
      .selectFrom('call_commands')
      .select(['state', 'result'])
      .where('id', 'in', [pending, claimed])
      .orderBy('id')
      .execute();
    expect(commands).toEqual([
      { state: 'failed', result: expect.objectContaining({ ok: false, code: 'ERR_CALL_GATEWAY_LOST' }) },
      { state: 'failed', result: expect.objectContaining({ ok: false, code: 'ERR_CALL_GATEWAY_LOST' }) },
    ]);
    expect(await awaitCommand(db(0), pending, { timeoutMs: 1000 })).toMatchObject({ code: 'ERR_CALL_GATEWAY_LOST' });
  });
});
