import type { Readable } from 'node:stream';
import { AppError } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { callFilter } from './filter';
import type { RecordingSource } from './recording';
import type { ListCallsQuery, RecordingProblem } from './schemas';
import type { CallStore } from './store';
import { callDetail, callView, recordingFilename, rowRecordingProblem, type CallDetail, type CallView } from './view';

export interface CallPage {
  readonly items: CallView[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
}

export interface RecordingDownload {
  readonly stream: Readable;
  readonly bytes: number;
  readonly filename: string;
}

const PROBLEM_MESSAGES: Record<RecordingProblem, (callId: string) => string> = {
  not_recorded: (id) => `call ${id} was not recorded`,
  in_progress: (id) => `call ${id} is still in progress; its recording can be downloaded once it ends`,
  file_missing: (id) => `the recording of call ${id} is missing from the recordings directory`,
};

function notFound(callId: string): AppError {
  return new AppError('ERR_CALL_NOT_FOUND', `no call ${callId}`);
}

function notAvailable(callId: string, reason: RecordingProblem): AppError {
  return new AppError('ERR_RECORDING_NOT_AVAILABLE', PROBLEM_MESSAGES[reason](callId), { reason });
}

/**
 * The AI calls the media gateways answered (tables calls and call_events), read-only:
 * lists, one call with its transcript and events, and its recording.
 */
export class CallService {
  constructor(
    private readonly store: CallStore,
    private readonly recordings: RecordingSource,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async list(query: ListCallsQuery): Promise<CallPage> {
    const { page, per_page: perPage, ...filters } = query;
    const { rows, total } = await this.store.list(callFilter(filters), page, perPage);
    const now = this.now();
    return { items: rows.map((r) => callView(r, now)), total, page, per_page: perPage };
  }

  async get(callId: string): Promise<CallDetail> {
    const row = await this.store.find(callId);
    if (!row) throw notFound(callId);
    // The file is looked at only once the call has ended: before that it is not a finished WAV.
    const path = rowRecordingProblem(row) === null ? row.recording_path : null;
    const [events, file] = await Promise.all([
      this.store.events(callId),
      path === null ? null : this.recordings.locate(callId, path),
    ]);
    return callDetail(row, events, file, this.now());
  }

  /** The call's WAV, opened; 404 with the reason when there is none to give. */
  async recording(callId: string): Promise<RecordingDownload> {
    const row = await this.store.find(callId);
    if (!row) throw notFound(callId);
    const problem = rowRecordingProblem(row);
    if (problem !== null || row.recording_path === null) throw notAvailable(callId, problem ?? 'not_recorded');
    const opened = await this.recordings.open(callId, row.recording_path);
    if (!opened) {
      this.logger.warn('recording file missing', { call_id: callId, sip_call_id: row.sip_call_id });
      throw notAvailable(callId, 'file_missing');
    }
    return { stream: opened.stream, bytes: opened.bytes, filename: recordingFilename(callId) };
  }
}
