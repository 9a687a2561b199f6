import { unlink } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';
import { PgRecordings } from '../../../common/src/recordings/postgres';

/** What becomes of a finished recording file (RECORDINGS_STORAGE). */
export type KeepRecording = (callId: string, path: string) => Promise<void>;

/**
 * `local`: nothing, the WAV stays in RECORDINGS_DIR. `postgres`: the WAV moves into
 * the database (then leaves the pod's disk), where every control-plane replica finds it.
 */
export function recordingKeeper(storage: 'local' | 'postgres', db: Kysely<Database>): KeepRecording | undefined {
  if (storage === 'local') return undefined;
  const recordings = new PgRecordings(db);
  return async (callId, path) => {
    await recordings.save(callId, path);
    await unlink(path);
  };
}
