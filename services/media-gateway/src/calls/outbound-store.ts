import { sql, type Kysely } from 'kysely';
import { COMMANDS_CHANNEL } from '../../../common/src/calls/commands';
import type { CallDisposition, Database } from '../../../common/src/db/schema';
import { enqueueCallWebhook } from '../../../common/src/webhooks/outbox';
import { outboundData as data } from './outbound-events';
import type { CallRecordEnd, CallRecordStart, CallStore } from './store';
import { PgCallStore } from './store';

/** How a placed call ended without being answered. */
export interface OutboundFailure {
  /** The final SIP status; null when no INVITE went out. */
  readonly status: number | null;
  readonly reason: string;
  readonly disposition: Exclude<CallDisposition, 'answered'>;
  /** Who ended it: `callee` (a final response), `system` (ring timeout, shutdown, an unusable answer), `api` (hangup). */
  readonly endedBy: 'callee' | 'system' | 'api';
}

/** The writes of a placed call before it is answered (PostgreSQL in production, a fake in unit tests). */
export interface OutboundRecords {
  /** Takes the `initiated` call for this gateway; false when it is not waiting any more (cancelled, claimed elsewhere). */
  claim(callId: string, gateway: string, sipCallId: string): Promise<boolean>;
  /** Gives a claimed originate command back to the other gateways (this one is draining). */
  release(commandId: string): Promise<void>;
  ringing(callId: string): Promise<void>;
  failed(callId: string, failure: OutboundFailure): Promise<void>;
}

/** Who hung up, as webhooks and calls.ended_by say it for a call we placed (the SIP peer is the callee). */
function endedBy(by: string): string {
  return by === 'caller' ? 'callee' : by === 'gateway' ? 'system' : by;
}

/**
 * A placed call's row (written `initiated` by the API, db/migrations/0047) and its
 * webhook events: every state change and its event commit together
 * (enqueueCallWebhook), so the receiver's story is exactly the row's.
 *
 *   initiated ──claim──► (gateway set) ──18x──► ringing ──2xx──► active ──BYE──► ended (completed)
 *        └──────────────────────────────┴──non-2xx / timeout / cancel──► ended (failed)
 *
 * As a {@link CallStore} it serves the Call once answered: `started` is the answer,
 * `ended` the completion (duration from the database's clock, answered_at → ended_at).
 */
export class PgOutboundStore implements OutboundRecords, CallStore {
  private readonly plain: PgCallStore;

  constructor(private readonly db: Kysely<Database>) {
    this.plain = new PgCallStore(db);
  }

  async claim(callId: string, gateway: string, sipCallId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('calls')
      .set({ gateway, sip_call_id: sipCallId })
      .where('call_id', '=', callId)
      .where('state', '=', 'initiated')
      .where((eb) => eb.or([eb('gateway', 'is', null), eb('gateway', '=', gateway)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async release(commandId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('call_commands')
        .set({ state: 'pending', claimed_by: null, claimed_at: null })
        .where('id', '=', commandId)
        .where('state', '=', 'claimed')
        .execute();
      // Sent at commit: another gateway wakes for it.
      await sql`SELECT pg_notify(${COMMANDS_CHANNEL}, '*')`.execute(trx);
    });
  }

  async ringing(callId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('calls')
        .set({ state: 'ringing' })
        .where('call_id', '=', callId)
        .where('state', '=', 'initiated')
        .returning(['from_number', 'to_number', 'webhook_url'])
        .executeTakeFirst();
      if (!row) return;
      await enqueueCallWebhook(trx, { callId, url: row.webhook_url, event: 'ringing', data: data(row) });
    });
  }

  async failed(callId: string, f: OutboundFailure): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('calls')
        .set({
          state: 'ended',
          ended_at: new Date(),
          sip_status: f.status,
          disposition: f.disposition,
          end_reason: f.reason,
          ended_by: f.endedBy,
        })
        .where('call_id', '=', callId)
        .where('state', 'in', ['initiated', 'ringing'])
        .returning(['from_number', 'to_number', 'webhook_url'])
        .executeTakeFirst();
      if (!row) return;
      await enqueueCallWebhook(trx, {
        callId,
        url: row.webhook_url,
        event: 'failed',
        data: {
          ...data(row),
          ...(f.status !== null ? { sip_status: f.status } : {}),
          reason: f.reason,
          disposition: f.disposition,
          ended_by: f.endedBy,
        },
      });
    });
  }

  numberSettings(digits: string): ReturnType<CallStore['numberSettings']> {
    return this.plain.numberSettings(digits);
  }

  /** The far end answered: the row becomes `active` with what the call runs on. */
  async started(r: CallRecordStart): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('calls')
        .set({
          state: 'active',
          answered_at: sql<Date>`now()`,
          sip_call_id: r.sipCallId,
          ai_dialect: r.aiDialect,
          ai_url: r.aiUrl,
          codec: r.codec,
          gateway: r.gateway,
          recording_path: r.recordingPath,
          sip_status: 200,
          disposition: 'answered',
        })
        .where('call_id', '=', r.callId)
        .where('state', 'in', ['initiated', 'ringing'])
        .returning(['from_number', 'to_number', 'webhook_url'])
        .executeTakeFirst();
      if (!row) return;
      await enqueueCallWebhook(trx, { callId: r.callId, url: row.webhook_url, event: 'answered', data: data(row) });
    });
  }

  event(callId: string, type: string, d: Record<string, unknown>): Promise<void> {
    return this.plain.event(callId, type, d);
  }

  /** The answered call is over: duration answered_at → ended_at on the database's clock, billed by the started second. */
  async ended(callId: string, r: CallRecordEnd): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('calls')
        .set({
          state: 'ended',
          ended_at: sql<Date>`now()`,
          end_reason: r.reason,
          ended_by: endedBy(r.by),
          recording_bytes: r.recordingBytes,
          stats: JSON.stringify(r.stats),
        })
        .where('call_id', '=', callId)
        .where('state', '=', 'active')
        .returning([
          'from_number',
          'to_number',
          'webhook_url',
          sql<number>`EXTRACT(EPOCH FROM (now() - answered_at))`.as('seconds'),
        ])
        .executeTakeFirst();
      if (!row) return;
      const seconds = Math.max(0, Number(row.seconds));
      await enqueueCallWebhook(trx, {
        callId,
        url: row.webhook_url,
        event: 'completed',
        data: {
          ...data(row),
          sip_status: 200,
          reason: r.reason,
          ended_by: endedBy(r.by),
          duration_seconds: Math.round(seconds * 1000) / 1000,
          billable_seconds: Math.ceil(seconds),
        },
      });
    });
  }
}
