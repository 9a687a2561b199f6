import { sql, type Kysely } from 'kysely';
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
