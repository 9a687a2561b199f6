import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { Counter, type Registry } from 'prom-client';
import { COMMANDS_CHANNEL } from '../../../common/src/calls/commands';
import type { Database, ListenForksTable } from '../../../common/src/db/schema';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { KamailioEventSource } from '../kamailio/evapi';
import type { DialogEvent, KamailioEvent } from '../kamailio/events';

export interface ForkLogger {
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

/** The `fork` command's arguments (contract §3), read by the gateway's fork handler. */
export interface ForkArgs {
  readonly sip_call_id: string;
  readonly from_tag: string;
  readonly to_tag: string;
  readonly from_user: string;
  readonly to_user: string;
  readonly trunk: string | null;
  readonly rule_id: string;
  readonly ai: { readonly url: string; readonly dialect: Dialect; readonly custom_parameters: Record<string, string> };
}

/** How long a fork waits for a gateway with room before it expires: a late copy is worth little. */
export const FORK_TTL_MS = 10_000;
const UNFORK_TTL_MS = 30_000;

/**
 * The call_commands id of a SIP call's fork: the Call-ID is up to 1024 characters
 * from a stranger, the column 64; a hash is both short and stable across replicas.
 */
export function forkCallId(sipCallId: string): string {
  return `fork-${createHash('sha256').update(sipCallId).digest('hex').slice(0, 40)}`;
}

type Rule = Pick<ListenForksTable, 'scope' | 'value' | 'ai_url'> & {
  id: string;
  ai_dialect: Dialect;
  custom_parameters: Record<string, string>;
};

/**
 * The rule for a call between people, or undefined. Both parties are looked up as a
 * user and as a number; a trunk rule matches calls through that trunk. A user or
 * number rule wins over a trunk rule (the narrower one), the caller's over the callee's.
 */
export function pickRule(rules: readonly Rule[], e: DialogEvent<string>): Rule | undefined {
  const order: Array<[Rule['scope'], string | undefined]> = [
    ['user', e.from_user],
    ...asNumbers(e.from_user).map((n): [Rule['scope'], string] => ['number', n]),
    ['user', e.to_user],
    ...asNumbers(e.to_user).map((n): [Rule['scope'], string] => ['number', n]),
    ['trunk', e.trunk],
  ];
  for (const [scope, value] of order) {
    if (!value) continue;
    const rule = rules.find((r) => r.scope === scope && r.value === value);
    if (rule) return rule;
  }
  return undefined;
}

/** Kamailio reports numbers as bare digits (calls.cfg E164_DIGITS); rules hold them in E.164. */
function asNumbers(user: string): string[] {
  return /^[0-9]{7,15}$/.test(user) ? [user, `+${user}`] : [user];
}

export interface ListenForkTriggerOptions {
  readonly events: KamailioEventSource;
  readonly db: Kysely<Database>;
  readonly defaultAiUrl: string;
  readonly logger: ForkLogger;
  readonly metrics: Registry;
}

/**
 * Turns Kamailio's dialog events into fork/unfork commands: dialog_start of a call
 * between people that matches an enabled rule → `fork` (any gateway claims it);
 * dialog_end → `unfork` to the gateway that claimed the fork. Every control-plane
 * replica sees every event; the unique index on (call_id, command) lets exactly one
 * insert win. Returns the function that stops watching.
 */
export function watchListenForks(o: ListenForkTriggerOptions): () => void {
  const submitted = new Counter({
    name: 'listen_fork_commands_total',
    help: 'Fork and unfork commands from dialog events, by command and outcome (submitted, duplicate, failed).',
    labelNames: ['command', 'outcome'],
    registers: [o.metrics],
  });
  const onEvent = (e: KamailioEvent): void => {
    if (e.event === 'dialog_start' && !e.media_gateway) void run('fork', e, () => fork(e));
    else if (e.event === 'dialog_end' || e.event === 'dialog_failed') void run('unfork', e, () => unfork(e));
  };
  const run = async (
    command: 'fork' | 'unfork',
    e: DialogEvent<string>,
    job: () => Promise<boolean | undefined>,
  ): Promise<void> => {
    try {
      const inserted = await job();
      if (inserted === undefined) return;
      submitted.inc({ command, outcome: inserted ? 'submitted' : 'duplicate' });
      if (inserted) o.logger.info(`listen-only ${command} submitted`, { sip_call_id: e.callid });
    } catch (err) {
      submitted.inc({ command, outcome: 'failed' });
      o.logger.warn(`listen-only ${command} not submitted`, { sip_call_id: e.callid, error: (err as Error).message });
    }
  };

  async function fork(e: DialogEvent<'dialog_start'>): Promise<boolean | undefined> {
    if (!e.from_tag || !e.to_tag) return undefined;
    const rows = await o.db
      .selectFrom('listen_forks')
      .select(['id', 'scope', 'value', 'ai_url', 'ai_dialect', 'custom_parameters'])
      .where('enabled', '=', true)
      .where((w) =>
        w.or([
          w.and([
            w('scope', 'in', ['user', 'number']),
            w('value', 'in', [...asNumbers(e.from_user), ...asNumbers(e.to_user)]),
          ]),
          w.and([w('scope', '=', 'trunk'), w('value', '=', e.trunk ?? '')]),
        ]),
      )
      .execute();
    const rule = pickRule(rows, e);
    if (!rule) return undefined;
    const args: ForkArgs = {
      sip_call_id: e.callid,
      from_tag: e.from_tag,
      to_tag: e.to_tag,
      from_user: e.from_user,
      to_user: e.to_user,
      trunk: e.trunk ?? null,
      rule_id: String(rule.id),
      ai: { url: rule.ai_url ?? o.defaultAiUrl, dialect: rule.ai_dialect, custom_parameters: rule.custom_parameters },
    };
    return insertOnce(forkCallId(e.callid), null, 'fork', args, FORK_TTL_MS);
  }

  async function unfork(e: DialogEvent<string>): Promise<boolean | undefined> {
    const callId = forkCallId(e.callid);
    const forked = await o.db
      .selectFrom('call_commands')
      .select(['id', 'state', 'claimed_by'])
      .where('call_id', '=', callId)
      .where('command', '=', 'fork')
      .executeTakeFirst();
    if (!forked) return undefined;
    // Not claimed yet: it never starts.
    const dropped = await o.db
      .updateTable('call_commands')
      .set({ state: 'expired', completed_at: new Date() })
      .where('id', '=', forked.id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (dropped.numUpdatedRows > 0n || !forked.claimed_by) return undefined;
    return insertOnce(callId, forked.claimed_by, 'unfork', { sip_call_id: e.callid }, UNFORK_TTL_MS);
  }

  async function insertOnce(
    callId: string,
    gateway: string | null,
    command: 'fork' | 'unfork',
    args: object,
    ttlMs: number,
  ): Promise<boolean> {
    const row = await o.db
      .insertInto('call_commands')
      .values({
        call_id: callId,
        gateway,
        command,
        args: JSON.stringify(args),
        expires_at: sql<Date>`now() + make_interval(secs => ${ttlMs / 1000})`,
      })
      .onConflict((c) => c.columns(['call_id', 'command']).where('command', 'in', ['fork', 'unfork']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!row) return false;
    await sql`SELECT pg_notify(${COMMANDS_CHANNEL}, ${gateway ?? '*'})`.execute(o.db);
    return true;
  }

  o.events.on('event', onEvent);
  return () => o.events.off('event', onEvent);
}
