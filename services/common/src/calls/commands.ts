import { sql, type Kysely, type Transaction } from 'kysely';
import { Client, type ClientConfig } from 'pg';
import type { Dialect } from '../ai-protocol/dialect';
import type { CallCommandName, Database } from '../db/schema';
import { isCodedError } from '../errors';
import { enqueueCallWebhook } from '../webhooks/outbox';

/**
 * Commands to live calls (db/migrations/0047_call_control.sql): any control-plane
 * replica writes one, the gateway that owns the call runs it, the replica reads the
 * result. PostgreSQL is the only channel, so no replica needs to know another's
 * address:
 *
 *   submitCommand ── INSERT + NOTIFY call_commands ──► CommandListener (the owner, or any gateway when unowned)
 *        pending ──claim (FOR UPDATE SKIP LOCKED)──► claimed ──handler──► done | failed
 *        pending ──past expires_at──► expired                (+ NOTIFY call_command_done)
 *   awaitCommand ◄── NOTIFY call_command_done (or the poll) ──┘
 *
 * A command whose owner is gone (lease expired, or its listener's session gone from
 * PostgreSQL for longer than a grace period) is failed with ERR_CALL_GATEWAY_LOST by
 * whoever notices first: the waiter, or the lost-gateway sweep (fleet/lease.ts).
 */

/** NOTIFY channel: a command was written (payload: its owner, or `*` when any gateway may claim it). */
export const COMMANDS_CHANNEL = 'call_commands';
/** NOTIFY channel: a command finished (payload: its id). */
export const DONE_CHANNEL = 'call_command_done';

export interface OriginateArgs {
  readonly from: string;
  readonly to: string;
  readonly webhook_url: string | null;
  readonly ai: {
    readonly url: string;
    readonly dialect: Dialect;
    readonly custom_parameters: Readonly<Record<string, string>>;
  };
  readonly record: boolean;
  readonly ring_timeout_seconds: number;
}
export interface HangupArgs {
  readonly reason?: string;
}
export interface TransferArgs {
  readonly mode: 'blind' | 'bridged' | 'warm';
  readonly target: string;
  readonly announce?: string;
}
export type EmptyArgs = Readonly<Record<string, never>>;

/** Every command and its arguments (fork/unfork: wip/forks defines theirs). */
export type CallCommand =
  | { readonly command: 'originate'; readonly args: OriginateArgs }
  | { readonly command: 'hangup'; readonly args: HangupArgs }
  | { readonly command: 'transfer'; readonly args: TransferArgs }
  | { readonly command: 'hold'; readonly args: EmptyArgs }
  | { readonly command: 'resume'; readonly args: EmptyArgs }
  | { readonly command: 'fork'; readonly args: Readonly<Record<string, unknown>> }
  | { readonly command: 'unfork'; readonly args: Readonly<Record<string, unknown>> };

/**
 * Why a command failed, as the gateway (or the waiter) reports it; the API maps each to
 * its own catalogue (ERRORS) with the same code.
 */
export const COMMAND_ERRORS = {
  ERR_CALL_NOT_ACTIVE: 'the call is not active on its gateway',
  ERR_CALL_GATEWAY_LOST: 'the gateway that owns the call is gone',
  ERR_CALL_COMMAND_TIMEOUT: 'the gateway did not complete the command in time',
  ERR_CALL_COMMAND_UNSUPPORTED: 'the gateway does not support this command',
  ERR_CALL_COMMAND_FAILED: 'the gateway could not complete the command',
} as const;
export type CommandErrorCode = keyof typeof COMMAND_ERRORS;

/** What a command came to: `{ok: true, …}` from its handler, or a failure with a stable code. */
export type CommandResult =
  | ({ readonly ok: true } & Readonly<Record<string, unknown>>)
  | ({ readonly ok: false; readonly code: string; readonly message: string } & Readonly<Record<string, unknown>>);

export function commandFailure(
  code: string,
  message?: string,
  details?: Readonly<Record<string, unknown>>,
): CommandResult {
  return {
    ...details,
    ok: false,
    code,
    message: message ?? (COMMAND_ERRORS as Record<string, string>)[code] ?? code,
  };
}

type Db = Kysely<Database> | Transaction<Database>;

export interface SubmitOptions {
  readonly callId: string;
  /** The owning gateway; null: any gateway may claim it (originate, fork). */
  readonly gateway: string | null;
  readonly command: CallCommandName;
  readonly args: Readonly<Record<string, unknown>>;
  /** After this long unclaimed it expires. */
  readonly ttlMs: number;
}

/**
 * Writes a command and wakes the gateways. Inside a transaction the NOTIFY goes out on
 * commit (PostgreSQL delivers notifications of a transaction only when it commits), so
 * a gateway never wakes for a row it cannot see yet.
 */
export async function submitCommand(db: Db, o: SubmitOptions): Promise<string> {
  const row = await db
    .insertInto('call_commands')
    .values({
      call_id: o.callId,
      gateway: o.gateway,
      command: o.command,
      args: JSON.stringify(o.args),
      expires_at: sql<Date>`now() + make_interval(secs => ${o.ttlMs / 1000})`,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`SELECT pg_notify(${COMMANDS_CHANNEL}, ${o.gateway ?? '*'})`.execute(db);
  return String(row.id);
}

/** The PostgreSQL application_name of a gateway's command listener: how a waiter sees it is still connected. */
export function listenerSessionName(gateway: string): string {
  // application_name is cut at NAMEDATALEN - 1 = 63 bytes; ids are ASCII.
  return `call-commands:${gateway}`.slice(0, 63);
}

/**
 * Marks a command finished unless it already is, and tells the waiters. Returns
 * whether this call finished it (false: someone else did first).
 */
export async function finishCommand(
  db: Db,
  id: string,
  state: 'done' | 'failed' | 'expired',
  result: CommandResult,
  from: readonly ('pending' | 'claimed')[] = ['pending', 'claimed'],
): Promise<boolean> {
  const updated = await db
    .updateTable('call_commands')
    .set({ state, result: JSON.stringify(result), completed_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('state', 'in', from)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return false;
  await sql`SELECT pg_notify(${DONE_CHANNEL}, ${id})`.execute(db);
  return true;
}

/** Something that wakes a waiter when a command is done: a LISTEN connection in production. */
export interface DoneSignal {
  /** Calls `listener` with each finished command's id; returns the unsubscribe. */
  onDone(listener: (id: string) => void): () => void;
}

export interface AwaitOptions {
  readonly timeoutMs: number;
  /** Wakes the wait early; without it the wait only polls. */
  readonly signal?: DoneSignal;
  /** How often the row (and its owner's liveness) is read. */
  readonly pollMs?: number;
  /** How long the owner's listener may be missing from PostgreSQL before it counts as lost (a reconnect takes less). */
  readonly lostGraceMs?: number;
}

interface PollRow {
  state: string;
  result: Record<string, unknown> | null;
  owner: string | null;
}

interface Liveness {
  lease_alive: boolean | null;
  listening: boolean;
}

/** How often a waiter looks at the owner's lease and connection (pg_stat_activity is not free). */
const LIVENESS_EVERY_MS = 1000;

/**
 * Waits for a command's result. Never throws for the command's own outcome: a timeout
 * gives ERR_CALL_COMMAND_TIMEOUT (a command still pending then expires, so it cannot
 * run later), an owner whose lease expired or whose listener left PostgreSQL gives
 * ERR_CALL_GATEWAY_LOST as soon as it is seen.
 */
export async function awaitCommand(db: Kysely<Database>, id: string, o: AwaitOptions): Promise<CommandResult> {
  const pollMs = o.pollMs ?? 500;
  const lostGraceMs = o.lostGraceMs ?? 2000;
  const deadline = Date.now() + o.timeoutMs;
  let wake: (() => void) | null = null;
  // A notification that arrives while the row is being read must not be lost.
  let notified = false;
  const unsubscribe = o.signal?.onDone((done) => {
    if (done !== id) return;
    notified = true;
    wake?.();
  });
  let missingSince: number | null = null;
  let checkedAt = -Infinity;
  try {
    for (;;) {
      notified = false;
      const row = await pollCommand(db, id);
      if (!row) return commandFailure('ERR_CALL_COMMAND_FAILED', `no command ${id}`);
      if (row.state === 'done' || row.state === 'failed' || row.state === 'expired')
        return resultOf(row.state, row.result);
      if (row.owner !== null && Date.now() - checkedAt >= LIVENESS_EVERY_MS) {
        checkedAt = Date.now();
        const live = await liveness(db, row.owner);
        if (live.lease_alive !== true) return await ownerLost(db, id, row.owner);
        if (!live.listening) {
          missingSince ??= Date.now();
          if (Date.now() - missingSince >= lostGraceMs) return await ownerLost(db, id, row.owner);
        } else missingSince = null;
      }
      const left = deadline - Date.now();
      if (left <= 0) return await timedOut(db, id);
      if (notified) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(pollMs, left));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe?.();
  }
}

async function pollCommand(db: Kysely<Database>, id: string): Promise<PollRow | undefined> {
  const { rows } = await sql<PollRow>`
    SELECT state, result, COALESCE(claimed_by, gateway) AS owner FROM call_commands WHERE id = ${id}`.execute(db);
  return rows[0];
}

/** Whether `owner` still holds its lease and its command listener is connected. */
async function liveness(db: Kysely<Database>, owner: string): Promise<Liveness> {
  const { rows } = await sql<Liveness>`
    SELECT (SELECT expires_at > now() FROM gateway_leases WHERE gateway = ${owner}) AS lease_alive,
      EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = ${listenerSessionName(owner)}) AS listening`.execute(
    db,
  );
  return rows[0] ?? { lease_alive: null, listening: false };
}

function resultOf(state: string, result: Record<string, unknown> | null): CommandResult {
  if (state === 'expired') return commandFailure('ERR_CALL_COMMAND_TIMEOUT');
  if (result && typeof result['ok'] === 'boolean') return result as CommandResult;
  return state === 'done' ? { ok: true } : commandFailure('ERR_CALL_COMMAND_FAILED');
}

async function ownerLost(db: Kysely<Database>, id: string, owner: string): Promise<CommandResult> {
  const lost = commandFailure('ERR_CALL_GATEWAY_LOST', `gateway ${owner} is gone`, { gateway: owner });
  if (await finishCommand(db, id, 'failed', lost)) return lost;
  // It finished in the meantime: its own result wins.
  const row = await pollCommand(db, id);
  return row ? resultOf(row.state, row.result) : lost;
}

async function timedOut(db: Kysely<Database>, id: string): Promise<CommandResult> {
  const timeout = commandFailure('ERR_CALL_COMMAND_TIMEOUT');
  // Unclaimed: it must not run after the caller was told it timed out. Claimed: the
  // gateway may still finish it; its result stays in the row.
  if (await finishCommand(db, id, 'expired', timeout, ['pending'])) return timeout;
  const row = await pollCommand(db, id);
  if (row && (row.state === 'done' || row.state === 'failed')) return resultOf(row.state, row.result);
  return timeout;
}

// ----- a LISTEN connection -----

export interface NotificationLogger {
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

export interface PgNotificationsOptions {
  readonly connection: ClientConfig;
  readonly channels: readonly string[];
  /** Shown in pg_stat_activity (a gateway's listener: {@link listenerSessionName}). */
  readonly applicationName?: string;
  readonly logger: NotificationLogger;
  /** Backoff between reconnects after the connection is lost. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** Called after every (re)connect: notifications sent while disconnected are lost, so look again. */
  readonly onConnected?: () => void;
}

/**
 * One dedicated PostgreSQL connection that LISTENs on a few channels and hands each
 * notification to its subscribers; reconnects with backoff when the connection is
 * lost (the callers poll too, so a gap only delays them).
 */
export class PgNotifications implements DoneSignal {
  private client: Client | null = null;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private delay: number;
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();

  constructor(private readonly o: PgNotificationsOptions) {
    this.delay = o.reconnectMinMs ?? 200;
  }

  /** Connects; when the database is unreachable it keeps trying in the background (callers poll meanwhile). */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      this.o.logger.warn('notification connection failed; retrying', { error: (err as Error).message });
      this.scheduleReconnect();
    }
  }

  on(channel: string, listener: (payload: string) => void): () => void {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  onDone(listener: (id: string) => void): () => void {
    return this.on(DONE_CHANNEL, listener);
  }

  get connected(): boolean {
    return this.client !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({
      ...this.o.connection,
      ...(this.o.applicationName ? { application_name: this.o.applicationName } : {}),
    });
    const lost = (err?: Error): void => {
      if (this.client !== client) return;
      this.client = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.o.logger.warn('notification connection lost; reconnecting', { error: err?.message ?? 'ended' });
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      for (const l of this.listeners.get(n.channel) ?? []) l(n.payload ?? '');
    });
    await client.connect();
    try {
      for (const ch of this.o.channels) await client.query(`LISTEN ${quoteIdent(ch)}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delay = this.o.reconnectMinMs ?? 200;
    this.o.onConnected?.();
  }

  private scheduleReconnect(): void {
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.o.reconnectMaxMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closed) return;
      this.connect().then(
        () => this.o.logger.info('notification connection back'),
        (err: Error) => {
          this.o.logger.warn('notification connection failed; retrying', { error: err.message });
          if (!this.closed) this.scheduleReconnect();
        },
      );
    }, wait);
  }
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`not a channel name: ${name}`);
  return name;
}

// ----- the gateway side -----

/** A command as its handler sees it. */
export interface ClaimedCommand {
  readonly id: string;
  readonly callId: string;
  readonly command: CallCommandName;
  readonly args: Readonly<Record<string, unknown>>;
}

/** Runs one command; throwing a CodedError fails it with `{code, message, ...details}`. */
export type CommandHandler = (cmd: {
  readonly id: string;
  readonly callId: string;
  readonly args: Readonly<Record<string, unknown>>;
}) => Promise<Record<string, unknown>>;

/** Where the listener claims and completes commands: PostgreSQL in production, a fake in unit tests. */
export interface CommandQueue {
  /** Claims up to `limit` of the oldest pending, unexpired commands for `gateway` (and unowned ones when `unowned`). */
  claim(gateway: string, unowned: boolean, limit: number): Promise<ClaimedCommand[]>;
  finish(id: string, state: 'done' | 'failed', result: CommandResult): Promise<void>;
}

export class PgCommandQueue implements CommandQueue {
  constructor(private readonly db: Kysely<Database>) {}

  async claim(gateway: string, unowned: boolean, limit: number): Promise<ClaimedCommand[]> {
    const { rows } = await sql<{
      id: string;
      call_id: string;
      command: CallCommandName;
      args: Record<string, unknown>;
    }>`
      UPDATE call_commands SET state = 'claimed', claimed_by = ${gateway}, claimed_at = now()
      WHERE id IN (
        SELECT id FROM call_commands
        WHERE state = 'pending' AND expires_at > now()
          AND (gateway = ${gateway} OR (${unowned}::boolean AND gateway IS NULL))
        ORDER BY id
        FOR UPDATE SKIP LOCKED
        LIMIT ${limit})
      RETURNING id, call_id, command, args`.execute(this.db);
    return rows
      .map((r) => ({ id: String(r.id), callId: r.call_id, command: r.command, args: r.args }))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  async finish(id: string, state: 'done' | 'failed', result: CommandResult): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      if (!(await finishCommand(tx, id, state, result, ['claimed']))) return;
      if (state === 'failed' && !result.ok) await failUnplacedCall(tx, id, result.code);
    });
  }
}

/**
 * An outbound call whose originate command failed before any gateway placed it
 * (calls.gateway still NULL, e.g. a gateway without an originate handler) ends as
 * failed, with its `failed` webhook event: it must not stay `initiated` for ever.
 * (Originate commands that expire unclaimed are ended by the lease sweep.)
 */
export async function failUnplacedCall(tx: Transaction<Database>, commandId: string, code: string): Promise<boolean> {
  const ended = await tx
    .updateTable('calls')
    .set({
      state: 'ended',
      ended_at: sql<Date>`now()`,
      end_reason: `not placed: ${code}`.slice(0, 128),
      ended_by: 'system',
      disposition: 'failed',
    })
    .where('state', '=', 'initiated')
    .where('gateway', 'is', null)
    .where('call_id', '=', (eb) =>
      eb.selectFrom('call_commands').select('call_id').where('id', '=', commandId).where('command', '=', 'originate'),
    )
    .returning(['call_id', 'from_number', 'to_number', 'webhook_url'])
    .executeTakeFirst();
  if (!ended) return false;
  await enqueueCallWebhook(tx, {
    callId: ended.call_id,
    url: ended.webhook_url,
    event: 'failed',
    data: {
      from_number: ended.from_number,
      to_number: ended.to_number,
      direction: 'outbound',
      reason: code,
      ended_by: 'system',
      disposition: 'failed',
    },
  });
  return true;
}

export interface CommandListenerMetrics {
  /** One command finished on this gateway: its name and outcome code (`ok` or the error code). */
  command(name: string, outcome: string, seconds: number): void;
}

export interface CommandListenerOptions {
  /** This gateway's id (its lease name and calls.gateway). */
  readonly gateway: string;
  readonly queue: CommandQueue;
  /** The handler of a command, if this gateway has one. */
  readonly handler: (name: CallCommandName) => CommandHandler | undefined;
  /** Commands run at once; more wait in the table. */
  readonly maxConcurrent: number;
  /** Whether to take unowned commands (originate, fork) now: false while draining or full. */
  readonly takeUnowned: () => boolean;
  /** How often the table is read when no notification arrives. */
  readonly pollMs: number;
  readonly logger: NotificationLogger;
  readonly metrics?: CommandListenerMetrics;
}

/**
 * A gateway's end of the channel: claims its own commands (and unowned ones while it
 * has room), runs each with its registered handler, at most `maxConcurrent` at once,
 * and writes the outcome. Woken by `wake()` (a NOTIFY on call_commands) and by a poll.
 */
export class CommandListener {
  private running = 0;
  private pumping: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: CommandListenerOptions) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.o.pollMs);
    this.wake();
  }

  /** Looks for work now (a notification arrived). */
  wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /** Commands running now. */
  get active(): number {
    return this.running;
  }

  /** Stops claiming; waits up to `graceMs` for the commands already running. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pumping;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.inFlight), new Promise((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
  }

  private async pump(): Promise<void> {
    while (!this.stopped && this.running < this.o.maxConcurrent) {
      let claimed: ClaimedCommand[];
      try {
        claimed = await this.o.queue.claim(this.o.gateway, this.o.takeUnowned(), this.o.maxConcurrent - this.running);
      } catch (err) {
        this.o.logger.warn('could not claim call commands', { error: (err as Error).message });
        return;
      }
      if (claimed.length === 0) return;
      for (const cmd of claimed) {
        this.running++;
        const run = this.run(cmd).finally(() => {
          this.running--;
          this.inFlight.delete(run);
          this.wake();
        });
        this.inFlight.add(run);
      }
    }
  }

  private async run(cmd: ClaimedCommand): Promise<void> {
    const started = performance.now();
    const handler = this.o.handler(cmd.command);
    let state: 'done' | 'failed';
    let result: CommandResult;
    if (!handler) {
      state = 'failed';
      result = commandFailure('ERR_CALL_COMMAND_UNSUPPORTED', `this gateway has no handler for ${cmd.command}`);
    } else {
      try {
        const out = await handler({ id: cmd.id, callId: cmd.callId, args: cmd.args });
        state = 'done';
        result = { ...out, ok: true };
      } catch (err) {
        state = 'failed';
        if (isCodedError(err)) result = commandFailure(err.code, err.message, err.details);
        else {
          // A bug or a foreign error: its text stays in the log, the API gets the generic code.
          this.o.logger.warn('call command handler failed', {
            command_id: cmd.id,
            command: cmd.command,
            call_id: cmd.callId,
            error: (err as Error).message,
          });
          result = commandFailure('ERR_CALL_COMMAND_FAILED');
        }
      }
    }
    const outcome = result.ok ? 'ok' : result.code;
    this.o.logger.info('call command', { command_id: cmd.id, command: cmd.command, call_id: cmd.callId, outcome });
    this.o.metrics?.command(cmd.command, outcome, (performance.now() - started) / 1000);
    try {
      await this.o.queue.finish(cmd.id, state, result);
    } catch (err) {
      this.o.logger.warn('could not record a call command result', {
        command_id: cmd.id,
        error: (err as Error).message,
      });
    }
  }
}
