import { sql, type Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';
import type { LeaderJob } from '../../../common/src/db/leadership';
import { HTABLE_BLOCKED, HTABLE_DID, HTABLE_TRUNK_AUTH } from '../../../common/src/kamailio/names';
import type { Logger } from '../../../common/src/logger';
import type { Reload } from './kamailio-rows';
import type { ReloadOutcome } from './kamailio-sync';

/** What Kamailio loads from the database, fingerprinted: one digest per reloadable table, one per registration. */
export interface KamailioState {
  readonly tables: Readonly<Record<'dispatcher' | 'address' | 'did' | 'blocked' | 'trunk_auth', string>>;
  readonly registrations: ReadonlyMap<string, string>;
}

/** Reads {@link KamailioState} (PostgreSQL in production). */
export interface KamailioStateSource {
  read(): Promise<KamailioState>;
}

const TABLE_RELOADS: Record<keyof KamailioState['tables'], Reload> = {
  dispatcher: { kind: 'dispatcher' },
  address: { kind: 'address' },
  did: { kind: 'htable', table: HTABLE_DID },
  blocked: { kind: 'htable', table: HTABLE_BLOCKED },
  trunk_auth: { kind: 'htable', table: HTABLE_TRUNK_AUTH },
};

/**
 * The reloads that bring Kamailio from `synced` (what it was last given; undefined:
 * not known) to `now`. With nothing known every table is reloaded, but registrations
 * are taken as they are: refreshing them all would re-REGISTER every trunk at each
 * election.
 */
export function reloadsFor(synced: KamailioState | undefined, now: KamailioState): Reload[] {
  const reloads: Reload[] = [];
  for (const [table, reload] of Object.entries(TABLE_RELOADS) as Array<[keyof KamailioState['tables'], Reload]>) {
    if (!synced || synced.tables[table] !== now.tables[table]) reloads.push(reload);
  }
  if (!synced) return reloads;
  const ids = new Set([...synced.registrations.keys(), ...now.registrations.keys()]);
  for (const id of [...ids].sort()) {
    if (synced.registrations.get(id) !== now.registrations.get(id)) reloads.push({ kind: 'registration', l_uuid: id });
  }
  return reloads;
}

/** The state digests, in one round trip. */
export class PgKamailioState implements KamailioStateSource {
  constructor(private readonly db: Kysely<Database>) {}

  async read(): Promise<KamailioState> {
    const digest = (table: string): ReturnType<typeof sql> =>
      sql`(SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${sql.table(table)} x)`;
    const res = await sql<{
      dispatcher: string;
      address: string;
      did: string;
      blocked: string;
      trunk_auth: string;
      registrations: Array<{ id: string; digest: string }> | null;
    }>`
      SELECT ${digest('dispatcher')} AS dispatcher, ${digest('address')} AS address, ${digest('did_htable')} AS did,
             ${digest('blocked_htable')} AS blocked, ${digest('trunk_auth_htable')} AS trunk_auth,
             (SELECT json_agg(json_build_object('id', u.l_uuid, 'digest', md5(u::text))) FROM uacreg u) AS registrations`.execute(
      this.db,
    );
    const row = res.rows[0];
    if (!row) throw new Error('the Kamailio state query returned no row');
    return {
      tables: {
        dispatcher: row.dispatcher,
        address: row.address,
        did: row.did,
        blocked: row.blocked,
        trunk_auth: row.trunk_auth,
      },
      registrations: new Map((row.registrations ?? []).map((r) => [r.id, r.digest])),
    };
  }
}

export interface KamailioReconcilerDeps {
  readonly state: KamailioStateSource;
  /** KamailioSync.apply: coalesced with the reloads API requests ask for. */
  readonly apply: (reloads: readonly Reload[]) => Promise<ReloadOutcome>;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Each pass that reloaded something (tests, metrics). */
  readonly onSynced?: (reloads: readonly Reload[]) => void;
}

/**
 * Trunk sync, the leader's job: every `intervalMs` it compares what Kamailio should
 * have loaded (the database) with what it was last given, and reloads the difference.
 * API writes reload at once on the replica that took them; this catches what those
 * missed — a reload Kamailio refused or a replica that died between its commit and
 * its reload, a row changed in SQL, a Kamailio restarted on old tables — once for the
 * whole deployment instead of once per replica. A newly elected leader knows nothing
 * of what was synced, so its first pass reloads every table.
 */
export class KamailioReconciler implements LeaderJob {
  private synced: KamailioState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> = Promise.resolve();
  private running = false;

  constructor(private readonly deps: KamailioReconcilerDeps) {}

  start(): void {
    this.running = true;
    this.synced = undefined;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.pass;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.pass = this.reconcile().finally(() => this.schedule(this.deps.intervalMs));
    }, ms);
  }

  /** One pass; failures are logged and the next pass tries again. */
  async reconcile(): Promise<void> {
    try {
      const now = await this.deps.state.read();
      const reloads = reloadsFor(this.synced, now);
      if (reloads.length === 0) return;
      const outcome = await this.deps.apply(reloads);
      if (outcome.failures.length > 0) {
        // Not synced: the next pass tries everything again.
        this.synced = undefined;
        return;
      }
      this.synced = now;
      this.deps.logger.info('Kamailio reloaded from the database', { reloads: reloads.length });
      this.deps.onSynced?.(reloads);
    } catch (err) {
      this.deps.logger.warn('trunk sync pass failed', { err: (err as Error).message });
    }
  }
}
