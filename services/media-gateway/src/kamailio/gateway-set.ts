import type { Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';

/** Dispatcher set Kamailio sends AI, queue and IVR calls to (kamailio/kamailio.cfg DS_GATEWAYS). */
export const GATEWAY_SET = 2;

export interface RpcCaller {
  call<T = unknown>(method: string, ...params: Array<string | number>): Promise<T>;
}

/**
 * A gateway replica joins Kamailio's gateway set on start and leaves it on stop:
 * its own dispatcher row (description = its id), then `dispatcher.reload`. Kamailio
 * probes it with OPTIONS, so a replica that dies without leaving is skipped.
 */
export class GatewaySetMembership {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly rpc: RpcCaller,
    private readonly id: string,
    private readonly sipUri: string,
  ) {}

  async join(): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('dispatcher').where('setid', '=', GATEWAY_SET).where('description', '=', this.id).execute();
      await tx.insertInto('dispatcher').values({ setid: GATEWAY_SET, destination: this.sipUri, flags: 0, priority: 0, attrs: `gateway=${this.id}`, description: this.id }).execute();
    });
    await this.reload();
  }

  async leave(): Promise<void> {
    await this.db.deleteFrom('dispatcher').where('setid', '=', GATEWAY_SET).where('description', '=', this.id).execute();
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
