import type { Kysely } from 'kysely';
import type { Database } from '../db/schema';
import type { KamailioRpc } from './rpc';

/**
 * A replica joins a Kamailio dispatcher set on start and leaves it on stop (a media
 * gateway set 2, an SMS endpoint set 3): its own dispatcher row (description = its
 * id), then `dispatcher.reload`. Kamailio probes it with OPTIONS, so a replica that
 * dies without leaving is skipped.
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

  async leave(): Promise<void> {
    await this.db.deleteFrom('dispatcher').where('setid', '=', this.setId).where('description', '=', this.id).execute();
    await this.reload();
  }

  /** Kamailio refuses reloads closer than its reload_delta: retry for a few seconds. */
  private async reload(): Promise<void> {
    let last: unknown;
    for (let i = 0; i < 10; i++) {
      try {
        await this.rpc.call('dispatcher.reload');
        return;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    throw last as Error;
  }
}
