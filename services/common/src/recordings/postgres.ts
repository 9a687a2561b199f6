import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema';

/**
 * Rows of 256 KiB: a minute of stereo 8 kHz PCM16 is about 7 rows, each well inside
 * what PostgreSQL TOASTs without fuss, and a download holds one row in memory.
 */
export const RECORDING_CHUNK_BYTES = 256 * 1024;

/** A stored recording opened for download. */
export interface RecordingStream {
  readonly bytes: number;
  readonly stream: Readable;
}

/**
 * Call recordings in PostgreSQL (tables recordings and recording_chunks,
 * RECORDINGS_STORAGE=postgres): the gateway that recorded a call saves its finished
 * WAV here, and every control-plane replica reads it back, one chunk row at a time.
 * The same contract on both sides, hence in common/.
 */
export class PgRecordings {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly chunkBytes = RECORDING_CHUNK_BYTES,
  ) {}

  /**
   * Stores the file at `path` as the recording of `callId`, in one transaction: a
   * download sees all of it or nothing. Saving again replaces it. Resolves with the size.
   */
  async save(callId: string, path: string): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('recordings').where('call_id', '=', callId).execute();
      await tx.insertInto('recordings').values({ call_id: callId, bytes: 0, chunk_bytes: this.chunkBytes }).execute();
      let seq = 0;
      let bytes = 0;
      for await (const chunk of createReadStream(path, { highWaterMark: this.chunkBytes })) {
        const data = chunk as Buffer;
        await tx.insertInto('recording_chunks').values({ call_id: callId, seq, data }).execute();
        seq++;
        bytes += data.length;
      }
      await tx.updateTable('recordings').set({ bytes }).where('call_id', '=', callId).execute();
      return bytes;
    });
  }

  /** The recording's size, or null when the database holds none for the call. */
  async size(callId: string): Promise<number | null> {
    const row = await this.db.selectFrom('recordings').select('bytes').where('call_id', '=', callId).executeTakeFirst();
    return row ? row.bytes : null;
  }

  /** Opens the recording for streaming (chunk by chunk, as the reader asks), or null. */
  async open(callId: string): Promise<RecordingStream | null> {
    const bytes = await this.size(callId);
    if (bytes === null) return null;
    const db = this.db;
    let seq = 0;
    const next = async (stream: Readable): Promise<void> => {
      try {
        const row = await db
          .selectFrom('recording_chunks')
          .select('data')
          .where('call_id', '=', callId)
          .where('seq', '=', seq)
          .executeTakeFirst();
        seq++;
        stream.push(row ? row.data : null);
      } catch (err) {
        stream.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const stream = new Readable({
      read() {
        void next(this);
      },
    });
    return { bytes, stream };
  }
}
