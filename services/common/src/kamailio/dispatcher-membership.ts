import type { Kysely } from 'kysely';
import type { Database } from '../db/schema';
import type { KamailioRpc } from './rpc';

/**
 * Kamailio's dispatcher flag for a destination an administrator disabled: never
 * selected and never probed, yet still in its set, so in-dialog requests towards it
 * keep matching `ds_is_from_list` (and getting their proxy proof).
 */
export const DS_DISABLED = 4;

/**
 * A replica joins a Kamailio dispatcher set on start and leaves it on stop (a media
 * gateway set 2, an SMS endpoint set 3): its own dispatcher row (description = its
 * id), then `dispatcher.reload`. Kamailio probes it with OPTIONS, so a replica that
 * dies without leaving is skipped. A replica that drains first `disable`s its row
 * (no new requests, in-dialog ones still proven) and `leave`s once its dialogs ended.
 */
export class DispatcherMembership {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly rpc: KamailioRpc,
    private readonly setId: number,
    private readonly id: string,
    private readonly sipUri: string,
    private readonly attrs = '',
  ) {}

  async join(): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('dispatcher').where('setid', '=', this.setId).where('description', '=', this.id).execute();
      await tx
        .insertInto('dispatcher')
        .values({
          setid: this.setId,
          destination: this.sipUri,
          flags: 0,
          priority: 0,
          attrs: this.attrs,
          description: this.id,
        })
        .execute();
    });
    await this.reload();
  }

  /** Stops new requests coming here while the ones of running dialogs still do (see {@link DS_DISABLED}). */
  async disable(): Promise<void> {
    await this.db
      .updateTable('dispatcher')
      .set({ flags: DS_DISABLED })
      .where('setid', '=', this.setId)
      .where('description', '=', this.id)
      .execute();
    await this.reload();
  }

  async leave(): Promise<void> {
    await this.db.deleteFrom('dispatcher').where('setid', '=', this.setId).where('description', '=', this.id).execute();
    await this.reload();
  }

  /**
   * Removes other members (replicas known to be gone, whose `leave` never ran) from
   * the set; reloads only if a row was removed. Returns how many were.
   */
  static async evict(db: Kysely<Database>, rpc: KamailioRpc, setId: number, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await db
      .deleteFrom('dispatcher')
      .where('setid', '=', setId)
      .where('description', 'in', [...ids])
      .executeTakeFirst();
    const removed = Number(res.numDeletedRows);
    if (removed > 0) await reloadWithRetry(rpc);
    return removed;
  }

  private reload(): Promise<void> {
    return reloadWithRetry(this.rpc);
  }
}

/** Kamailio refuses reloads closer than its reload_delta: retry for a few seconds. */
async function reloadWithRetry(rpc: KamailioRpc): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 10; i++) {
    try {
      await rpc.call('dispatcher.reload');
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw last as Error;
}
