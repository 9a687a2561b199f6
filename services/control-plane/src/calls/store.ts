import type { Kysely, Selectable } from 'kysely';
import type { CallEventsTable, CallsTable, Database } from '../../../common/src/db/schema';
import type { CallState } from './schemas';

/** A row of `calls` as the media gateway wrote it (db/migrations/0010), the columns this API shows. */
export type CallRow = Pick<Selectable<CallsTable>, (typeof COLUMNS)[number]>;
export type CallEventRow = Pick<Selectable<CallEventsTable>, 'at' | 'type' | 'data'>;

export interface CallFilter {
  readonly state?: CallState;
  /** Any of these spellings of the caller. */
  readonly from_number?: readonly string[];
  /** Any of these spellings of the number dialled. */
  readonly to_number?: readonly string[];
  /** started_at ≥ this. */
  readonly started_after?: Date;
  /** started_at < this. */
  readonly started_before?: Date;
}

const COLUMNS = [
  'call_id',
  'sip_call_id',
  'direction',
  'from_number',
  'to_number',
  'route',
  'ai_dialect',
  'ai_url',
  'codec',
  'state',
  'gateway',
  'started_at',
  'ended_at',
  'end_reason',
  'ended_by',
  'recording_path',
  'recording_bytes',
  'stats',
] as const;

/** Reads the calls and events the media gateways write; the control-plane never changes them. */
export class CallStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Newest first (ties: the later row first). */
  async list(filter: CallFilter, page: number, perPage: number): Promise<{ rows: CallRow[]; total: number }> {
    let query = this.db.selectFrom('calls');
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.from_number !== undefined) query = query.where('from_number', 'in', filter.from_number);
    if (filter.to_number !== undefined) query = query.where('to_number', 'in', filter.to_number);
    if (filter.started_after !== undefined) query = query.where('started_at', '>=', filter.started_after);
    if (filter.started_before !== undefined) query = query.where('started_at', '<', filter.started_before);
    const [rows, count] = await Promise.all([
      query
        .select(COLUMNS)
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .limit(perPage)
        .offset((page - 1) * perPage)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.total) };
  }

  async find(callId: string): Promise<CallRow | undefined> {
    return this.db.selectFrom('calls').select(COLUMNS).where('call_id', '=', callId).executeTakeFirst();
  }

  /** The call's events in the order the gateway wrote them. */
  async events(callId: string): Promise<CallEventRow[]> {
    return this.db
      .selectFrom('call_events')
      .select(['at', 'type', 'data'])
      .where('call_id', '=', callId)
      .orderBy('id')
      .execute();
  }
}
