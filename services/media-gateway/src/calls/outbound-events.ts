import { sql, type Kysely } from 'kysely';
import { DONE_CHANNEL } from '../../../common/src/calls/commands';
import type { CallDisposition, Database } from '../../../common/src/db/schema';
import { enqueueCallWebhook, type CallWebhookData } from '../../../common/src/webhooks/outbox';

/** The `data` every webhook event of a placed call carries. */
export function outboundData(row: { from_number: string; to_number: string }): CallWebhookData {
  return { from_number: row.from_number, to_number: row.to_number, direction: 'outbound' };
}

/**
 * Ends the placed calls of gateways that are gone (the lost-gateway sweep, a gateway
 * restarting under the same id), inside the caller's transaction, with the webhook
 * event each still owes: `completed` if it was answered, else `failed`. Returns how
 * many it ended; the caller ends the rest of those gateways' calls.
 */
export async function endPlacedCalls(
  trx: Kysely<Database>,
  gateways: readonly string[],
  reason: string,
): Promise<number> {
  if (gateways.length === 0) return 0;
  const ended = await trx
    .updateTable('calls')
    .set({
      state: 'ended',
      ended_at: sql<Date>`now()`,
      end_reason: reason,
      ended_by: 'system',
      disposition: sql<CallDisposition>`COALESCE(disposition, 'failed')`,
    })
    .where('direction', '=', 'outbound')
    .where('state', 'in', ['initiated', 'ringing', 'active'])
    .where('gateway', 'in', gateways)
    .returning([
      'call_id',
      'from_number',
      'to_number',
      'webhook_url',
      'answered_at',
      sql<number>`EXTRACT(EPOCH FROM (now() - answered_at))`.as('seconds'),
    ])
    .execute();
  for (const row of ended) {
    if (!row.webhook_url) continue;
    const answered = row.answered_at !== null;
    const seconds = Math.max(0, Number(row.seconds ?? 0));
    await enqueueCallWebhook(trx, {
      callId: row.call_id,
      url: row.webhook_url,
      event: answered ? 'completed' : 'failed',
      data: {
        ...outboundData(row),
        reason,
        ended_by: 'system',
        ...(answered
          ? {
              sip_status: 200,
              duration_seconds: Math.round(seconds * 1000) / 1000,
              billable_seconds: Math.ceil(seconds),
            }
          : { disposition: 'failed' }),
      },
    });
  }
  return ended.length;
}

/** Why a call no gateway took in time ended (calls.end_reason, the `failed` event's reason). */
export const NOT_PLACED = 'no gateway took the call in time';

/**
 * Ends the calls whose `originate` command expired unclaimed (every gateway was full,
 * draining or down for CALL_COMMAND_TIMEOUT_MS), inside the caller's transaction: the
 * command is marked expired, the call `failed` (disposition failed, no SIP status)
 * with its webhook event. Run by every gateway's lease sweep; SKIP LOCKED, so sweepers
 * split the work. Returns how many calls it ended.
 */
export async function endUnplacedCalls(trx: Kysely<Database>): Promise<number> {
  const expired = await sql<{ id: string; call_id: string }>`
    UPDATE call_commands SET state = 'expired', completed_at = now(),
      result = ${JSON.stringify({ ok: false, code: 'ERR_CALL_COMMAND_TIMEOUT', message: NOT_PLACED })}::jsonb
    WHERE id IN (
      SELECT id FROM call_commands
      WHERE command = 'originate' AND state = 'pending' AND expires_at < now()
      FOR UPDATE SKIP LOCKED)
    RETURNING id, call_id`.execute(trx);
  if (expired.rows.length === 0) return 0;
  const ended = await trx
    .updateTable('calls')
    .set({
      state: 'ended',
      ended_at: sql<Date>`now()`,
      end_reason: NOT_PLACED,
      ended_by: 'system',
      disposition: 'failed',
    })
    .where(
      'call_id',
      'in',
      expired.rows.map((r) => r.call_id),
    )
    .where('state', '=', 'initiated')
    .where('gateway', 'is', null)
    .returning(['call_id', 'from_number', 'to_number', 'webhook_url'])
    .execute();
  for (const row of ended) {
    if (!row.webhook_url) continue;
    await enqueueCallWebhook(trx, {
      callId: row.call_id,
      url: row.webhook_url,
      event: 'failed',
      data: { ...outboundData(row), reason: NOT_PLACED, ended_by: 'system', disposition: 'failed' },
    });
  }
  for (const { id } of expired.rows) await sql`SELECT pg_notify(${DONE_CHANNEL}, ${String(id)})`.execute(trx);
  return ended.length;
}
