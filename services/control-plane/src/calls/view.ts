/**
 * The JSON shapes of the call history API, from the gateway's rows (tables calls and
 * call_events, db/migrations/0010). Pure: time and the recording file's presence are
 * handed in.
 */
import type { CallState, RecordingProblem } from './schemas';
import type { CallEventRow, CallRow } from './store';

export interface CallView {
  readonly call_id: string;
  readonly sip_call_id: string;
  readonly direction: 'inbound' | 'outbound';
  readonly from_number: string;
  readonly to_number: string;
  readonly route: string;
  readonly ai: { readonly dialect: string | null; readonly url: string | null };
  readonly codec: string | null;
  readonly state: CallState;
  readonly gateway: string | null;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly duration_seconds: number | null;
  readonly end_reason: string | null;
  readonly ended_by: string | null;
  readonly recorded: boolean;
  readonly stats: Record<string, unknown> | null;
}

export interface TranscriptEntry {
  readonly at: string;
  readonly speaker: string;
  readonly text: string;
  readonly final: boolean;
}

export interface EventView {
  readonly at: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export interface RecordingView {
  readonly available: boolean;
  readonly bytes: number | null;
  readonly download_url: string;
  readonly reason: Exclude<RecordingProblem, 'not_recorded'> | null;
}

export interface CallDetail extends CallView {
  readonly transcript: TranscriptEntry[];
  readonly events: EventView[];
  readonly recording: RecordingView | null;
}

/** What the recordings directory holds for a call: the file's size, or nothing usable. */
export type RecordingFileState = { readonly bytes: number } | null;

/** Drops a `user:password@` part: the URL is shown to every operator. Anything unparsable is shown as stored. */
export function displayAiUrl(url: string | null): string | null {
  if (url === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.username === '' && parsed.password === '') return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

function seconds(ms: number): number {
  return Math.max(0, Math.round(ms)) / 1000;
}

/** One row of `calls`; `nowMs` gives an active call's duration so far. */
export function callView(row: CallRow, nowMs: number): CallView {
  const started = row.started_at.getTime();
  const duration =
    row.state === 'active' ? seconds(nowMs - started) : row.ended_at ? seconds(row.ended_at.getTime() - started) : null;
  return {
    call_id: row.call_id,
    sip_call_id: row.sip_call_id,
    direction: row.direction,
    from_number: row.from_number,
    to_number: row.to_number,
    route: row.route,
    ai: { dialect: row.ai_dialect, url: displayAiUrl(row.ai_url) },
    codec: row.codec,
    state: row.state,
    gateway: row.gateway,
    started_at: row.started_at.toISOString(),
    ended_at: row.ended_at ? row.ended_at.toISOString() : null,
    duration_seconds: duration,
    end_reason: row.end_reason,
    ended_by: row.ended_by,
    recorded: row.recording_path !== null,
    stats: row.stats,
  };
}

export function eventView(row: CallEventRow): EventView {
  return { at: row.at.toISOString(), type: row.type, data: row.data };
}

/**
 * The transcript events in order. The gateway writes `{speaker, text, final}`; an
 * event without text is skipped, a missing speaker reads `unknown`, and a text
 * without `final` is taken as final (the AI sent it whole).
 */
export function transcriptOf(events: readonly CallEventRow[]): TranscriptEntry[] {
  const out: TranscriptEntry[] = [];
  for (const e of events) {
    if (e.type !== 'transcript' || typeof e.data['text'] !== 'string') continue;
    const speaker = e.data['speaker'];
    out.push({
      at: e.at.toISOString(),
      speaker: typeof speaker === 'string' && speaker !== '' ? speaker : 'unknown',
      text: e.data['text'],
      final: e.data['final'] !== false,
    });
  }
  return out;
}

/** What the row alone says against downloading the recording (before looking for the file). */
export function rowRecordingProblem(
  row: Pick<CallRow, 'recording_path' | 'state'>,
): Exclude<RecordingProblem, 'file_missing'> | null {
  if (row.recording_path === null) return 'not_recorded';
  // The gateway writes the WAV header's sizes when the call ends: before that the file is not a valid WAV.
  if (row.state !== 'ended') return 'in_progress';
  return null;
}

/** Why a call's recording cannot be downloaded, or null when it can. */
export function recordingProblem(
  row: Pick<CallRow, 'recording_path' | 'state'>,
  file: RecordingFileState,
): RecordingProblem | null {
  return rowRecordingProblem(row) ?? (file === null ? 'file_missing' : null);
}

export function recordingUrl(callId: string): string {
  return `/api/calls/${encodeURIComponent(callId)}/recording`;
}

export function recordingView(row: CallRow, file: RecordingFileState): RecordingView | null {
  const problem = recordingProblem(row, file);
  if (problem === 'not_recorded') return null;
  return {
    available: problem === null,
    bytes: problem === null && file ? file.bytes : null,
    download_url: recordingUrl(row.call_id),
    reason: problem,
  };
}

export function callDetail(
  row: CallRow,
  events: readonly CallEventRow[],
  file: RecordingFileState,
  nowMs: number,
): CallDetail {
  return {
    ...callView(row, nowMs),
    transcript: transcriptOf(events),
    events: events.map(eventView),
    recording: recordingView(row, file),
  };
}

/** `call-<id>.wav`, with anything but letters, digits, ".", "_" and "-" replaced (it goes in a header). */
export function recordingFilename(callId: string): string {
  return `call-${callId.replace(/[^A-Za-z0-9._-]/g, '_')}.wav`;
}
