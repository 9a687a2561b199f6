import { randomUUID } from 'node:crypto';
import { connectDatabase, type DbHandle } from '../../services/common/src/db/connect';
import { PgLeaseStore, type SweepResult } from '../../services/media-gateway/src/fleet/lease';
import { testStack } from '../support/stack';

/** Kamailio's dispatcher set of the media gateways (services/common/src/kamailio/names.ts). */
const GATEWAY_SET = 2;
const SWEEPERS = 6;

/**
 * The lost-gateway sweep on the test stack's PostgreSQL, as many gateway replicas run
 * it at once: each on its own connection pool, all at the same moment.
 */
describe('lost-gateway sweep: many replicas at once, on the real database', () => {
  const handles: DbHandle[] = [];
  beforeAll(() => {
    for (let i = 0; i < SWEEPERS; i++)
      handles.push(connectDatabase(testStack().config.databaseUrl, { max: 1, connectTimeoutMs: 5000 }));
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.close()));
  });

  /** A gateway that died with three calls up (one already ended on its own), its lease just expired, its row in the set. */
  async function lostGateway(): Promise<string> {
    const gateway = `192.0.2.${Math.floor(Math.random() * 250) + 1}:${5000 + Math.floor(Math.random() * 1000)}-${randomUUID().slice(0, 8)}`;
    await handles[0]!.db.transaction().execute(async (tx) => {
      for (const [i, state] of (['active', 'active', 'active', 'ended'] as const).entries())
        await tx
          .insertInto('calls')
          .values({
            call_id: randomUUID(),
            sip_call_id: `lost-${i}@test`,
            from_number: '+15550001111',
            to_number: '+15557770001',
            route: 'ai|15557770001',
            ai_dialect: 'olib',
            ai_url: null,
            codec: 'PCMA',
            gateway,
            state,
            ended_at: state === 'ended' ? new Date() : null,
            end_reason: state === 'ended' ? 'caller hung up' : null,
            ended_by: state === 'ended' ? 'caller' : null,
            recording_path: null,
          })
          .execute();
      await tx
        .insertInto('dispatcher')
        .values({
          setid: GATEWAY_SET,
          destination: 'sip:192.0.2.1:5070',
          flags: 0,
          priority: 0,
          attrs: '',
          description: gateway,
        })
        .execute();
      await tx
        .insertInto('gateway_leases')
        .values({ gateway, instance: randomUUID(), expires_at: new Date(Date.now() - 1000) })
        .execute();
    });
    return gateway;
  }

  test(`${SWEEPERS} sweeps at once: exactly one closes the lost gateway's 3 active calls (gateway_lost) and removes it from the set; the call that had ended keeps its reason; sweeping again changes nothing`, async () => {
    // The stack's own gateway sweeps too (every third of its lease): should it take the
    // lost gateway first, none of ours sees it; that is a try again, not a failure.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const gateway = await lostGateway();
      const results: SweepResult[] = await Promise.all(handles.map((h) => new PgLeaseStore(h.db).sweep()));
      const mine = results.filter((r) => r.gateways.includes(gateway));
      const rows = await handles[0]!.db
        .selectFrom('calls')
        .select(['state', 'end_reason'])
        .where('gateway', '=', gateway)
        .orderBy('id')
        .execute();
      expect(rows).toEqual([
        { state: 'ended', end_reason: 'gateway_lost' },
        { state: 'ended', end_reason: 'gateway_lost' },
        { state: 'ended', end_reason: 'gateway_lost' },
        { state: 'ended', end_reason: 'caller hung up' },
      ]);
      const left = await handles[0]!.db
        .selectFrom('dispatcher')
        .select('id')
        .where('description', '=', gateway)
        .execute();
      expect(left).toEqual([]);
      if (mine.length === 0) {
        console.log(`[sweep] attempt ${attempt}: the stack's gateway swept first; again`);
        continue;
      }
      expect(mine).toHaveLength(1);
      expect(mine[0]!.calls).toBe(3);
      const again = await new PgLeaseStore(handles[1]!.db).sweep();
      expect(again.gateways).not.toContain(gateway);
      console.log(`[sweep] ${SWEEPERS} concurrent sweeps: 1 closed the 3 calls, ${SWEEPERS - 1} found nothing to do`);
      return;
    }
    throw new Error("the stack's own gateway swept first three times in a row");
  });
});
