import { Client } from 'pg';
import { decodeAlaw, encodeAlaw } from '../../services/common/src/audio/g711';
import { generateHoldTune } from '../../services/media-gateway/src/moh/tune';
import { RtpPeer, type ReceivedPacket } from '../../harness/rtp-peer';
import { startSipp, uacMediaScenario, type RunningSipp } from '../../harness/sipp';
import { api, createUser, type CreatedUser } from '../support/api';
import { proxy } from '../support/sip';
import { testStack } from '../support/stack';

/** What queue suites share: rows written straight to PostgreSQL (the queue API is the control-plane's), callers, RTP checks. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export function database(): Client {
  return new Client({ connectionString: testStack().config.databaseUrl });
}

let serial = 0;
/** A fresh E.164 number of this run. */
export function freshNumber(prefix: string): string {
  serial++;
  return `+1555${prefix}${String((Date.now() + serial * 7) % 10000).padStart(4, '0')}`;
}

/** A number through the API (routing: Kamailio learns it at once), then its queue settings in SQL. */
export async function createNumber(
  db: Client,
  route: Record<string, unknown>,
  limits: { max_concurrent_calls?: number; queue?: string; queue_priority?: number } = {},
  prefix = '79',
): Promise<string> {
  const number = freshNumber(prefix);
  const res = await api('POST', '/api/numbers/', { role: 'operator', body: { number, ...route } });
  if (res.status !== 201) throw new Error(`number ${number}: ${res.status} ${JSON.stringify(res.body)}`);
  await db.query('UPDATE numbers SET max_concurrent_calls = $2, queue = $3, queue_priority = $4 WHERE number = $1', [
    number,
    limits.max_concurrent_calls ?? null,
    limits.queue ?? null,
    limits.queue_priority ?? 0,
  ]);
  return number;
}

export interface QueueRow {
  name: string;
  strategy?: 'ring_all' | 'round_robin' | 'least_recent';
  ring_timeout_seconds?: number;
  wrap_up_seconds?: number;
  max_wait_seconds?: number | null;
  max_wait_action?: unknown;
  max_length?: number | null;
  max_length_action?: unknown;
  leave_digit?: string | null;
  leave_action?: unknown;
}

export async function createQueue(db: Client, q: QueueRow): Promise<void> {
  await db.query(
    `INSERT INTO queues (name, strategy, ring_timeout_seconds, wrap_up_seconds, max_wait_seconds, max_wait_action,
       max_length, max_length_action, leave_digit, leave_action)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      q.name,
      q.strategy ?? 'ring_all',
      q.ring_timeout_seconds ?? 20,
      q.wrap_up_seconds ?? 0,
      q.max_wait_seconds ?? null,
      q.max_wait_action === undefined ? null : JSON.stringify(q.max_wait_action),
      q.max_length ?? null,
      q.max_length_action === undefined ? null : JSON.stringify(q.max_length_action),
      q.leave_digit ?? null,
      q.leave_action === undefined ? null : JSON.stringify(q.leave_action),
    ],
  );
}

export async function createAiRoute(
  db: Client,
  name: string,
  url: string,
  max: number | null,
  queue: string | null = null,
): Promise<void> {
  await db.query(
    `INSERT INTO ai_routes (name, agent_url, dialect, max_concurrent_calls, queue) VALUES ($1, $2, 'olib', $3, $4)`,
    [name, url, max, queue],
  );
}

export interface Caller {
  readonly user: CreatedUser;
  readonly sipp: RunningSipp;
  readonly rtp: RtpPeer;
}

/**
 * A SIP user calling `number` through Kamailio with A-law media on the test's own
 * socket: it waits up to holdMs for the far end's BYE (remoteHangup) or hangs up
 * itself after holdMs.
 */
export async function call(
  number: string,
  o: { holdMs: number; remoteHangup?: boolean; user?: CreatedUser },
): Promise<Caller> {
  const user = o.user ?? (await createUser());
  const rtp = await RtpPeer.open();
  const sipp = await startSipp({
    scenario: uacMediaScenario({ codec: 'PCMA', holdMs: o.holdMs, remoteHangup: o.remoteHangup ?? false }),
    remote: proxy(),
    keys: { user: user.username, callee: number.slice(1), domain: testStack().config.sip.domain, rtp_port: rtp.port },
    auth: { user: user.username, password: user.password },
    timeoutSeconds: Math.ceil(o.holdMs / 1000) + 20,
  });
  return { user, sipp, rtp };
}

/** RMS of a G.711 A-law payload. */
export function rmsOf(payload: Uint8Array): number {
  const pcm = decodeAlaw(payload);
  let e = 0;
  for (const v of pcm) e += v * v;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

/** What a caller received between two instants: packets, loud ones (RMS > 500), frames of the default hold tune. */
export function heard(received: readonly ReceivedPacket[], from: number, to: number) {
  const window = received.filter((r) => r.atMs > from && r.atMs < to && r.packet.payloadType === 8);
  const loud = window.filter((r) => rmsOf(r.packet.payload) > 500).length;
  const tune = tuneFrames();
  const music = window.filter((r) => tune.has(Buffer.from(r.packet.payload).toString('hex'))).length;
  return { packets: window.length, loud, music };
}

let tuneIndex: Set<string> | null = null;
function tuneFrames(): Set<string> {
  if (tuneIndex) return tuneIndex;
  const tune = encodeAlaw(generateHoldTune());
  tuneIndex = new Set();
  for (let i = 0; i + 160 <= tune.length; i += 160)
    tuneIndex.add(Buffer.from(tune.subarray(i, i + 160)).toString('hex'));
  return tuneIndex;
}

/** The gateway's counter `name{labels}` from its /metrics (0 when absent). */
export async function gatewayCounter(name: string, labels: Record<string, string>): Promise<number> {
  const g = testStack().config.gateway;
  const text = await (await fetch(`http://${g.httpHost}:${g.httpPort}/metrics`)).text();
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    const have = inside.split(',').sort();
    if (want.every((w) => have.includes(w))) return Number(line.split(' ').at(-1));
  }
  return 0;
}

export interface EntryView {
  id: string;
  call_id: string;
  caller: string;
  state: string;
  outcome: string | null;
  agent: string | null;
  priority: number;
  priority_source: string;
}

export async function entries(db: Client, queue: string): Promise<EntryView[]> {
  const { rows } = await db.query<EntryView>(
    `SELECT id::text, call_id, caller, state, outcome, agent, priority, priority_source
     FROM queue_entries WHERE queue = $1 ORDER BY id`,
    [queue],
  );
  return rows;
}

/**
 * Waits until the stack's gateway holds no call: a suite that leaves a caller waiting
 * (a SIPp killed without its BYE) would otherwise surface in a later suite's figures.
 */
export async function expectGatewayIdle(ms = 15_000): Promise<void> {
  const g = testStack().config.gateway;
  let active = -1;
  await until(
    'the gateway to hold no call',
    async () => {
      const health = (await (await fetch(`http://${g.httpHost}:${g.httpPort}/health`)).json()) as {
        active_calls: number;
      };
      active = health.active_calls;
      return active === 0 ? true : undefined;
    },
    ms,
  ).catch(() => {
    throw new Error(`the gateway still holds ${active} call(s) after the suite`);
  });
}
