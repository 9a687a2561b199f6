import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { sql } from 'kysely';
import winston from 'winston';
import { connectDatabase, type DbHandle } from '../../services/common/src/db/connect';
import { isPublicAddress } from '../../services/common/src/webhooks/destination';
import {
  enqueueCallWebhook,
  type CallWebhookEvent,
  type CallWebhookData,
} from '../../services/common/src/webhooks/outbox';
import { WebhookDeliverer, WEBHOOK_USER_AGENT } from '../../services/control-plane/src/webhooks/deliverer';
import { applyMigrations, recreateDatabase } from '../../scripts/stack/postgres';
import { eventually } from '../support/sms';
import { testStack } from '../support/stack';
import { WebhookReceiver, type ReceivedWebhook } from '../support/webhooks';

/**
 * Call webhooks against the test stack: events are written to the outbox the way the
 * gateway and the API write them (enqueueCallWebhook inside a transaction), and the
 * stack's control-plane process delivers them to receivers on 127.0.0.1. The SSRF test
 * runs its own deliverer on a database of its own, so the stack's deliverer (which
 * allows private addresses, as test stacks do) cannot take its events.
 */
const stack = testStack();
const SECRET = stack.config.webhooks.signingSecret;
const SLOT = Number(process.env['TEST_STACK_SLOT'] || '0');
const PORT = 40_000 + SLOT * 500 + 100;
const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const DATA: CallWebhookData = { from_number: '+15557770100', to_number: '+14155550123', direction: 'outbound' };

let database: DbHandle;
let receivers: WebhookReceiver[] = [];

const receiver = async (
  answer?: Parameters<typeof WebhookReceiver.start>[3],
  host = '127.0.0.1',
): Promise<WebhookReceiver> => {
  const r = await WebhookReceiver.start(host, PORT + receivers.length, SECRET, answer);
  receivers.push(r);
  return r;
};

/** One event in its own transaction, as a call's state change writes it. */
const enqueue = (callId: string, url: string, event: CallWebhookEvent, data: CallWebhookData = DATA) =>
  database.db.transaction().execute((trx) => enqueueCallWebhook(trx, { callId, url, event, data }));

const rows = (callId: string) =>
  database.db
    .selectFrom('webhook_outbox')
    .select(['seq', 'state', 'attempts', 'last_status', 'last_error'])
    .where('call_id', '=', callId)
    .orderBy('seq')
    .execute();

const seqs = (hooks: readonly ReceivedWebhook[]): number[] => hooks.map((h) => h.body.sequence);

/** A counter's value in the stack control-plane's /metrics (0 when absent). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** The stack control-plane's pid, from the supervisor's registry. */
function controlPlanePid(): number | undefined {
  const registry = JSON.parse(readFileSync(join(stack.config.stateDir, 'children.json'), 'utf8')) as {
    byName?: Record<string, number>;
  };
  return registry.byName?.['control-plane'];
}

async function controlPlaneHealthy(): Promise<true | undefined> {
  const res = await fetch(`${stack.apiUrl}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
  return res?.status === 200 ? true : undefined;
}

/** A logger whose lines a test can read. */
function capturingLogger(): { logger: winston.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger, lines };
}

beforeAll(() => {
  expect(SECRET.length).toBeGreaterThanOrEqual(32);
  database = connectDatabase(stack.config.databaseUrl, { max: 30 });
});

afterEach(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  receivers = [];
});

afterAll(async () => {
  await database?.close();
});

describe('call webhooks from the stack control-plane', () => {
  test('the events of a call arrive in order, signed, with the documented headers and body', async () => {
    const hooks = await receiver();
    const a = `wh-order-a-${RUN}`;
    const b = `wh-order-b-${RUN}`;
    const stored: Array<{ id: string; at: number }> = [];
    const events: CallWebhookEvent[] = ['initiated', 'ringing', 'answered', 'completed'];
    for (const event of events) {
      const at = Date.now();
      const r = await enqueue(a, hooks.url, event, {
        ...DATA,
        ...(event === 'completed'
          ? { sip_status: 200, duration_seconds: 12, billable_seconds: 12, ended_by: 'callee' }
          : {}),
      });
      stored.push({ id: r?.id as string, at });
      await enqueue(b, hooks.url, event === 'completed' ? 'failed' : event);
    }
    const got = await hooks.waitFor(a, 4);
    await hooks.waitFor(b, 4);

    expect(seqs(got)).toEqual([1, 2, 3, 4]);
    expect(got.map((h) => h.body.event)).toEqual(events);
    expect(seqs(hooks.forCall(b))).toEqual([1, 2, 3, 4]);
    for (const h of got) {
      expect(h.verdict.ok).toBe(true);
      expect(h.headers['content-type']).toBe('application/json');
      expect(h.headers['user-agent']).toBe(WEBHOOK_USER_AGENT);
      expect(h.headers['x-bridge-event-id']).toBe(h.body.id);
      expect(h.headers['x-bridge-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(Object.keys(h.body)).toEqual(['id', 'event', 'call_id', 'sequence', 'occurred_at', 'data']);
      expect(h.body.id).toBe(`${a}:${h.body.sequence}`);
      expect(new Date(h.body.occurred_at).toISOString()).toBe(h.body.occurred_at);
    }
    expect(got[3]?.body.data).toEqual({
      ...DATA,
      sip_status: 200,
      duration_seconds: 12,
      billable_seconds: 12,
      ended_by: 'callee',
    });
    expect(got.map((h) => h.body.id)).toEqual(stored.map((s) => s.id));
    // Each exactly once, and every row says delivered.
    expect(new Set(got.map((h) => h.body.id)).size).toBe(4);
    expect((await rows(a)).map((r) => [r.state, r.attempts, r.last_status])).toEqual(
      Array.from({ length: 4 }, () => ['delivered', 1, 200]),
    );
    const first = got[0] as ReceivedWebhook;
    console.log(
      `[webhooks] first event stored → received in ${first.at - (stored[0]?.at ?? 0)} ms; 8 events of 2 calls in ${
        (hooks.received.at(-1)?.at ?? 0) - (stored[0]?.at ?? 0)
      } ms`,
    );
  });

  test('concurrent writers of one call get sequence 1..20 and the receiver gets them in that order', async () => {
    const hooks = await receiver();
    const call = `wh-concurrent-${RUN}`;
    // Twenty transactions at once, each holding its transaction open a little after enqueueing.
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        database.db.transaction().execute(async (trx) => {
          const r = await enqueueCallWebhook(trx, { callId: call, url: hooks.url, event: 'ringing', data: DATA });
          await sql`SELECT pg_sleep(0.01)`.execute(trx);
          return r?.sequence;
        }),
      ),
    );
    expect([...results].sort((x, y) => (x as number) - (y as number))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const got = await hooks.waitFor(call, 20);
    expect(seqs(got)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(got.every((h) => h.verdict.ok)).toBe(true);
  });

  test('a receiver failing the first 3 attempts: the event is retried with backoff and nothing later overtakes it', async () => {
    const call = `wh-retry-${RUN}`;
    const hooks = await receiver((hook, earlier) => {
      if (hook.body.call_id !== call || hook.body.sequence !== 1) return 200;
      const before = earlier.filter((e) => e.body.call_id === call && e.body.sequence === 1).length;
      return before < 3 ? 503 : 200;
    });
    const retriesBefore = await metric('webhook_retries_total', '{reason="http_status"}');
    await enqueue(call, hooks.url, 'initiated');
    await enqueue(call, hooks.url, 'ringing');
    await enqueue(call, hooks.url, 'answered');
    const got = await hooks.waitFor(call, 6);
    expect(seqs(got)).toEqual([1, 1, 1, 1, 2, 3]);
    // The same event each time: id and bytes, a fresh valid signature per attempt.
    expect(new Set(got.slice(0, 4).map((h) => h.headers['x-bridge-event-id']))).toEqual(new Set([`${call}:1`]));
    expect(new Set(got.slice(0, 4).map((h) => h.raw)).size).toBe(1);
    expect(got.every((h) => h.verdict.ok)).toBe(true);
    // WEBHOOK_RETRY_BASE_MS is 200 in the test stack: waits of 100..200, 200..400, 400..800 ms.
    const gaps = [1, 2, 3].map((i) => (got[i]?.at ?? 0) - (got[i - 1]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(190);
    expect(gaps[2]).toBeGreaterThanOrEqual(390);
    console.log(`[webhooks] retry gaps after 503, 503, 503: ${gaps.join(', ')} ms`);
    expect((await rows(call)).map((r) => [r.seq, r.state, r.attempts])).toEqual([
      [1, 'delivered', 4],
      [2, 'delivered', 1],
      [3, 'delivered', 1],
    ]);
    expect(await metric('webhook_retries_total', '{reason="http_status"}')).toBeGreaterThanOrEqual(retriesBefore + 3);
  });

  test('a permanent 4xx fails that event at once (logged, counted) and the later events of the call proceed', async () => {
    const call = `wh-4xx-${RUN}`;
    const hooks = await receiver((hook) => (hook.body.call_id === call && hook.body.sequence === 2 ? 410 : 200));
    const failedBefore = await metric('webhook_failed_total', '{reason="http_4xx"}');
    for (const event of ['initiated', 'ringing', 'answered', 'completed'] as const)
      await enqueue(call, hooks.url, event);
    const got = await hooks.waitFor(call, 4);
    expect(seqs(got)).toEqual([1, 2, 3, 4]);
    const stored = await rows(call);
    expect(stored.map((r) => [r.seq, r.state, r.attempts, r.last_status])).toEqual([
      [1, 'delivered', 1, 200],
      [2, 'failed', 1, 410],
      [3, 'delivered', 1, 200],
      [4, 'delivered', 1, 200],
    ]);
    expect(stored[1]?.last_error).toBe('http 410');
    await eventually('the failure to be counted', async () =>
      (await metric('webhook_failed_total', '{reason="http_4xx"}')) >= failedBefore + 1 ? true : undefined,
    );
    // The control-plane's output reaches its log file through the supervisor's pipe: a moment later.
    const line = await eventually('the failure to be logged', () =>
      Promise.resolve(
        readFileSync(join(stack.config.stateDir, 'logs', 'control-plane.log'), 'utf8')
          .split('\n')
          .find((l) => l.includes(`"${call}:2"`) && l.includes('webhook failed for good')),
      ),
    );
    expect(line).not.toContain('kept-out-of-logs');
  });

  test('control-plane killed (SIGKILL) mid-delivery and restarted between two events: none is lost, the interrupted one comes again with the same id', async () => {
    const call = `wh-restart-${RUN}`;
    const hooks = await receiver((hook, earlier) =>
      hook.body.call_id === call && hook.body.sequence === 1 && !earlier.some((e) => e.body.call_id === call)
        ? 'hang'
        : 200,
    );
    await enqueue(call, hooks.url, 'initiated');
    await hooks.waitFor(call, 1);
    const pid = controlPlanePid();
    expect(pid).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid as number, 'SIGKILL');
    await eventually('the control-plane to be gone', async () => ((await controlPlaneHealthy()) ? undefined : true));
    // Stored while no control-plane runs.
    await enqueue(call, hooks.url, 'ringing');
    await eventually('the supervisor to restart the control-plane', controlPlaneHealthy, 60_000);
    const restartedAt = Date.now();
    const got = await hooks.waitFor(call, 3, 30_000);
    expect(controlPlanePid()).not.toBe(pid);

    expect(seqs(got)).toEqual([1, 1, 2]);
    // At least once: the interrupted attempt is sent again, the same event (id and bytes).
    expect(got[1]?.headers['x-bridge-event-id']).toBe(got[0]?.headers['x-bridge-event-id']);
    expect(got[1]?.raw).toBe(got[0]?.raw);
    expect(got.every((h) => h.verdict.ok)).toBe(true);
    expect((await rows(call)).map((r) => [r.seq, r.state, r.attempts])).toEqual([
      [1, 'delivered', 2],
      [2, 'delivered', 1],
    ]);
    console.log(
      `[webhooks] killed mid-delivery: control-plane back in ${restartedAt - killedAt} ms, ` +
        `interrupted event re-sent ${(got[1]?.at ?? 0) - killedAt} ms after the kill, next event ${(got[2]?.at ?? 0) - killedAt} ms`,
    );
  }, 120_000);

  test('two deliverers at once (the stack control-plane and a second replica): every event once, in order per call', async () => {
    await eventually('the control-plane to be up', controlPlaneHealthy, 60_000);
    const calls = Array.from({ length: 12 }, (_, i) => `wh-two-${RUN}-${i}`);
    // Slow, uneven answers keep both deliverers busy; one in nine attempts fails and is retried.
    let n = 0;
    const accepted = new Map<string, number>();
    const hooks = await receiver((hook) => {
      if (++n % 9 === 0) return 503;
      accepted.set(hook.body.id, (accepted.get(hook.body.id) ?? 0) + 1);
      return 200;
    });
    const registry = new Registry();
    const { logger } = capturingLogger();
    const second = new WebhookDeliverer(
      { databaseUrl: stack.config.databaseUrl, ...stack.config.webhooks },
      { db: database.db, registry, logger },
    );
    await second.start();
    try {
      await Promise.all(
        calls.map(async (call) => {
          for (const event of ['initiated', 'ringing', 'answered', 'completed'] as const)
            await enqueue(call, hooks.url, event);
        }),
      );
      for (const call of calls) await hooks.waitFor(call, 4, 30_000);
      await eventually('every row delivered', async () => {
        const pending = await database.db
          .selectFrom('webhook_outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('call_id', 'in', calls)
          .where('state', '!=', 'delivered')
          .executeTakeFirstOrThrow();
        return Number(pending.n) === 0 ? true : undefined;
      });
      for (const call of calls) {
        const delivered = hooks.forCall(call).filter((h, i, all) => all.findIndex((x) => x.raw === h.raw) === i);
        // Retries repeat an event; in arrival order the sequence never goes back.
        const arrived = seqs(hooks.forCall(call));
        expect(arrived).toEqual([...arrived].sort((x, y) => x - y));
        expect(seqs(delivered)).toEqual([1, 2, 3, 4]);
      }
      // No event was accepted twice: the two deliverers never sent the same event at once.
      expect(accepted.size).toBe(calls.length * 4);
      expect([...accepted.values()].every((count) => count === 1)).toBe(true);
      const mine = (await registry.getSingleMetric('webhook_delivered_total')?.get())?.values[0]?.value ?? 0;
      console.log(
        `[webhooks] two deliverers, ${calls.length} calls × 4 events: the second replica delivered ${mine}, ${hooks.received.length} requests in all`,
      );
      expect(mine).toBeGreaterThan(0);
      expect(mine).toBeLessThan(calls.length * 4);
    } finally {
      await second.close();
    }
  }, 90_000);
});

describe('a deliverer on a database of its own (the stack deliverer cannot take its events)', () => {
  let own: DbHandle | undefined;
  let ownUrl: string;

  beforeAll(async () => {
    // A database of its own: the stack's deliverer allows private addresses and would deliver these.
    const url = new URL(stack.config.databaseUrl);
    const name = `${url.pathname.slice(1)}_webhooks`;
    recreateDatabase(decodeURIComponent(url.username), name);
    url.pathname = `/${name}`;
    ownUrl = url.toString();
    await applyMigrations(ownUrl);
    own = connectDatabase(ownUrl, { max: 4 });
  }, 60_000);

  afterAll(async () => {
    await own?.close();
  });

  test('a stored event wakes the deliverer through NOTIFY: delivered long before its next poll', async () => {
    const db = own as DbHandle;
    const hooks = await receiver();
    const { logger } = capturingLogger();
    const deliverer = new WebhookDeliverer(
      { databaseUrl: ownUrl, ...stack.config.webhooks, pollMs: 60_000 },
      { db: db.db, registry: new Registry(), logger },
    );
    await deliverer.start();
    try {
      // Past the start-up claim: the deliverer now sleeps until a notification or the 60 s poll.
      await new Promise((r) => setTimeout(r, 500));
      const call = `wh-notify-${RUN}`;
      const latencies: number[] = [];
      for (const event of ['initiated', 'ringing', 'answered'] as const) {
        const at = Date.now();
        await db.db
          .transaction()
          .execute((trx) => enqueueCallWebhook(trx, { callId: call, url: hooks.url, event, data: DATA }));
        const got = await hooks.waitFor(call, latencies.length + 1, 20_000);
        latencies.push((got.at(-1)?.at ?? 0) - at);
      }
      console.log(`[webhooks] stored → received with the poll at 60 s: ${latencies.join(', ')} ms`);
      for (const ms of latencies) expect(ms).toBeLessThan(10_000);
    } finally {
      await deliverer.close();
    }
  });

  test('events for loopback, localhost, link-local and names resolving to loopback are refused unsent, failed, logged and counted', async () => {
    const db = own as DbHandle;
    const hooks = await receiver();
    const port = new URL(hooks.url).port;
    const call = `wh-ssrf-${RUN}`;
    const targets = [
      hooks.url,
      `http://localhost:${port}/hooks`,
      `http://[::1]:${port}/hooks`,
      'http://169.254.169.254/latest/meta-data/',
    ];
    // A plain host name is only refused after resolution (the literal and localhost checks do not see it):
    // where this machine's name resolves to loopback (/etc/hosts), it is one more target.
    const mine = await lookup(hostname(), { all: true }).catch(() => []);
    if (mine.length > 0 && mine.some((a) => !isPublicAddress(a.address)))
      targets.push(`http://${hostname()}:${port}/hooks`);
    console.log(`[webhooks] SSRF targets: ${targets.map((t) => new URL(t).host).join(', ')}`);
    for (const url of targets)
      await db.db
        .transaction()
        .execute((trx) => enqueueCallWebhook(trx, { callId: call, url, event: 'ringing', data: DATA }));
    const registry = new Registry();
    const { logger, lines } = capturingLogger();
    const deliverer = new WebhookDeliverer(
      { databaseUrl: ownUrl, ...stack.config.webhooks, allowPrivateAddresses: false },
      { db: db.db, registry, logger },
    );
    await deliverer.start();
    try {
      const stored = await eventually('every event to be failed', async () => {
        const r = await db.db
          .selectFrom('webhook_outbox')
          .select(['seq', 'state', 'attempts', 'last_error'])
          .where('call_id', '=', call)
          .orderBy('seq')
          .execute();
        return r.length === targets.length && r.every((x) => x.state === 'failed') ? r : undefined;
      });
      expect(stored.map((r) => r.attempts)).toEqual(targets.map(() => 1));
      for (const r of stored) expect(r.last_error).toMatch(/non-public|localhost/);
      expect(hooks.received).toHaveLength(0);
      const refused = (await registry.getSingleMetric('webhook_refused_total')?.get())?.values.find(
        (v) => v.labels['reason'] === 'private_address',
      );
      expect(refused?.value).toBe(targets.length);
      const logged = lines.filter((l) => l['message'] === 'webhook refused: destination not allowed');
      expect(logged).toHaveLength(targets.length);
      expect(JSON.stringify(logged)).not.toContain('kept-out-of-logs');
    } finally {
      await deliverer.close();
    }
  });
});
