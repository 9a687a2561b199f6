import type { Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';

/** What a call remembers in PostgreSQL (tables calls and call_events, db/migrations/0010). */
export interface CallRecordStart {
  readonly callId: string;
  readonly sipCallId: string;
  readonly from: string;
  readonly to: string;
  readonly route: string;
  readonly aiDialect: string;
  readonly aiUrl: string;
  readonly codec: string;
  readonly gateway: string;
  readonly recordingPath: string | null;
}

export interface CallRecordEnd {
  readonly reason: string;
  readonly by: string;
  readonly recordingBytes: number | null;
  readonly stats: Record<string, unknown>;
}

export interface AiNumberSettings {
  readonly dialect: 'olib' | 'twilio' | 'binary' | null;
  readonly agentUrl: string | null;
  readonly options: Record<string, unknown> | null;
  readonly recordingEnabled: boolean;
}

/** The slice of storage a call needs; PostgreSQL in production, a fake in unit tests. */
export interface CallStore {
  numberSettings(digits: string): Promise<AiNumberSettings | null>;
  started(r: CallRecordStart): Promise<void>;
  event(callId: string, type: string, data: Record<string, unknown>): Promise<void>;
  ended(callId: string, r: CallRecordEnd): Promise<void>;
}

export class PgCallStore implements CallStore {
  constructor(private readonly db: Kysely<Database>) {}

  async numberSettings(digits: string): Promise<AiNumberSettings | null> {
    const row = await this.db
      .selectFrom('numbers')
      .select(['ai_dialect', 'ai_agent_url', 'ai_options', 'recording_enabled'])
      .where('number', '=', `+${digits}`)
      .executeTakeFirst();
    if (!row) return null;
    return { dialect: row.ai_dialect, agentUrl: row.ai_agent_url, options: row.ai_options, recordingEnabled: row.recording_enabled };
  }

  async started(r: CallRecordStart): Promise<void> {
    await this.db
      .insertInto('calls')
      .values({
        call_id: r.callId,
        sip_call_id: r.sipCallId,
        from_number: r.from,
        to_number: r.to,
        route: r.route,
        ai_dialect: r.aiDialect,
        ai_url: r.aiUrl,
        codec: r.codec,
        gateway: r.gateway,
        recording_path: r.recordingPath,
      })
      .execute();
  }

  async event(callId: string, type: string, data: Record<string, unknown>): Promise<void> {
    await this.db.insertInto('call_events').values({ call_id: callId, type, data: JSON.stringify(data) }).execute();
  }

  async ended(callId: string, r: CallRecordEnd): Promise<void> {
    await this.db
      .updateTable('calls')
      .set({ state: 'ended', ended_at: new Date(), end_reason: r.reason, ended_by: r.by, recording_bytes: r.recordingBytes, stats: JSON.stringify(r.stats) })
      .where('call_id', '=', callId)
      .execute();
  }
}
