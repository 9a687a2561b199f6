import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import type { Database } from './schema';

// int8 (COUNT(*), SUM over integers) as number: counts here never approach 2^53.
types.setTypeParser(20, (v) => Number(v));

export interface DbHandle {
  readonly pool: Pool;
  readonly db: Kysely<Database>;
  close(): Promise<void>;
}

export function connectDatabase(url: string, max = 10): DbHandle {
  const pool = new Pool({ connectionString: url, max, connectionTimeoutMillis: 5000 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    pool,
    db,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
