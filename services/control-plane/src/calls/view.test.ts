import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { CALL_DETAIL_SCHEMA, CALL_SCHEMA } from './schemas';
import type { CallEventRow, CallRow } from './store';
import {
  callDetail,
  callView,
  displayAiUrl,
  eventView,
  recordingFilename,
  recordingProblem,
  recordingView,
  rowRecordingProblem,
  transcriptOf,
} from './view';

const STARTED = new Date('2026-03-01T10:00:00.000Z');
const ENDED = new Date('2026-03-01T10:01:02.345Z');

function row(fields: Partial<CallRow> = {}): CallRow {
  return {
    call_id: '5f1c2d3e-0000-4000-8000-000000000001',
    sip_call_id: 'abc@10.0.0.1',
    direction: 'inbound',
    from_number: '14155550100',
    to_number: '15557770001',
    route: 'ai|15557770001',
    ai_dialect: 'olib',
    ai_url: 'ws://127.0.0.1:8090',
    codec: 'PCMU',
    state: 'ended',
    gateway: '127.0.0.1:5070',
    started_at: STARTED,
    ended_at: ENDED,
    end_reason: 'caller hung up',
    ended_by: 'caller',
    recording_path: '/var/lib/sipai/recordings/5f1c.wav',
    recording_bytes: 1044,
    stats: { packetsIn: 3100, framesLost: 2 },
    ...fields,
  };
}

function event(at: string, type: string, data: Record<string, unknown>): CallEventRow {
  return { at: new Date(at), type, data };
}

const EVENTS: CallEventRow[] = [
  event('2026-03-01T10:00:01.000Z', 'transcript', { speaker: 'ai', text: 'Hello, how can I help?', final: true }),
  event('2026-03-01T10:00:05.000Z', 'dtmf', { digit: '5', duration_ms: 120, source: 'rfc4733' }),
  event('2026-03-01T10:00:06.000Z', 'transcript', { speaker: 'ai', text: 'You pressed', final: false }),
  event('2026-03-01T10:00:07.000Z', 'hold', {}),
  event('2026-03-01T10:00:09.000Z', 'transcript', { text: 'You pressed five.' }),
  event('2026-03-01T10:00:10.000Z', 'transcript', { speaker: 'ai', final: true }),
];

describe('callView', () => {
  test('an ended call → every column in the API shape, duration from answer to end, no recording path', () => {
    const view = callView(row(), Date.parse('2030-01-01T00:00:00Z'));
    expect(view).toEqual({
      call_id: '5f1c2d3e-0000-4000-8000-000000000001',
      sip_call_id: 'abc@10.0.0.1',
      direction: 'inbound',
      from_number: '14155550100',
      to_number: '15557770001',
      route: 'ai|15557770001',
      ai: { dialect: 'olib', url: 'ws://127.0.0.1:8090' },
      codec: 'PCMU',
      state: 'ended',
      gateway: '127.0.0.1:5070',
      started_at: '2026-03-01T10:00:00.000Z',
      ended_at: '2026-03-01T10:01:02.345Z',
      duration_seconds: 62.345,
      end_reason: 'caller hung up',
      ended_by: 'caller',
      recorded: true,
      stats: { packetsIn: 3100, framesLost: 2 },
    });
    expect(JSON.stringify(view)).not.toContain('/var/lib');
  });

  test('an active call → duration so far, null end fields', () => {
    const view = callView(
      row({ state: 'active', ended_at: null, end_reason: null, ended_by: null, stats: null }),
      STARTED.getTime() + 4500,
    );
    expect(view).toMatchObject({
      state: 'active',
      ended_at: null,
      duration_seconds: 4.5,
      end_reason: null,
      ended_by: null,
      stats: null,
    });
  });

  test('a clock behind the start → duration 0, never negative', () => {
    expect(callView(row({ state: 'active', ended_at: null }), STARTED.getTime() - 1000).duration_seconds).toBe(0);
  });

  test('ended without ended_at → duration null', () => {
    expect(callView(row({ ended_at: null }), Date.now()).duration_seconds).toBeNull();
  });

  test('no recording path → recorded false', () => {
    expect(callView(row({ recording_path: null }), Date.now()).recorded).toBe(false);
  });

  test('matches the published CALL_SCHEMA', () => {
    const validate = addFormats(new Ajv({ strict: true, allowUnionTypes: true })).compile(CALL_SCHEMA);
    expect(validate(JSON.parse(JSON.stringify(callView(row(), Date.now()))))).toBe(true);
    expect(
      validate(
        JSON.parse(
          JSON.stringify(
            callView(
              row({ state: 'active', ended_at: null, stats: null, ai_dialect: null, ai_url: null, codec: null }),
              Date.now(),
            ),
          ),
        ),
      ),
    ).toBe(true);
  });
});

describe('displayAiUrl', () => {
  test('credentials in the URL → dropped, the rest kept', () => {
    expect(displayAiUrl('wss://bot:s3cret@agent.example.com/media?x=1')).toBe('wss://agent.example.com/media?x=1');
  });

  test('a plain URL → unchanged; null → null; unparsable → as stored', () => {
    expect(displayAiUrl('ws://127.0.0.1:8090')).toBe('ws://127.0.0.1:8090');
    expect(displayAiUrl(null)).toBeNull();
    expect(displayAiUrl('not a url')).toBe('not a url');
  });
});

describe('transcriptOf', () => {
  test('transcript events in order → {at, speaker, text, final}; other events and text-less ones left out', () => {
    expect(transcriptOf(EVENTS)).toEqual([
      { at: '2026-03-01T10:00:01.000Z', speaker: 'ai', text: 'Hello, how can I help?', final: true },
      { at: '2026-03-01T10:00:06.000Z', speaker: 'ai', text: 'You pressed', final: false },
      { at: '2026-03-01T10:00:09.000Z', speaker: 'unknown', text: 'You pressed five.', final: true },
    ]);
  });

  test('no events → empty transcript', () => {
    expect(transcriptOf([])).toEqual([]);
  });
});

describe('eventView', () => {
  test('a row → {at, type, data} with an ISO time', () => {
    expect(eventView(EVENTS[1] as CallEventRow)).toEqual({
      at: '2026-03-01T10:00:05.000Z',
      type: 'dtmf',
      data: { digit: '5', duration_ms: 120, source: 'rfc4733' },
    });
  });
});

describe('recording availability', () => {
  test.each([
    ['not recorded', { recording_path: null }, { bytes: 10 }, 'not_recorded'],
    ['not recorded, still active', { recording_path: null, state: 'active' as const }, null, 'not_recorded'],
    ['recorded, still active', { state: 'active' as const }, { bytes: 10 }, 'in_progress'],
    ['ended, file gone', {}, null, 'file_missing'],
    ['ended, file there', {}, { bytes: 1044 }, null],
  ])('%s → %s', (_name, fields, file, problem) => {
    expect(recordingProblem(row(fields), file)).toBe(problem);
  });

  test('the row alone never says file_missing (the file is looked at after)', () => {
    expect(rowRecordingProblem(row())).toBeNull();
    expect(rowRecordingProblem(row({ state: 'active' }))).toBe('in_progress');
    expect(rowRecordingProblem(row({ recording_path: null }))).toBe('not_recorded');
  });

  test('recordingView: not recorded → null; available → bytes of the file and the download URL', () => {
    expect(recordingView(row({ recording_path: null }), null)).toBeNull();
    expect(recordingView(row(), { bytes: 2048 })).toEqual({
      available: true,
      bytes: 2048,
      download_url: '/api/calls/5f1c2d3e-0000-4000-8000-000000000001/recording',
      reason: null,
    });
  });

  test('recordingView: in progress or missing → unavailable, no size, the reason', () => {
    expect(recordingView(row({ state: 'active' }), null)).toMatchObject({
      available: false,
      bytes: null,
      reason: 'in_progress',
    });
    expect(recordingView(row(), null)).toMatchObject({ available: false, bytes: null, reason: 'file_missing' });
  });

  test('a call id with URL characters → escaped in the download URL', () => {
    expect(recordingView(row({ call_id: 'a/b c' }), { bytes: 1 })?.download_url).toBe('/api/calls/a%2Fb%20c/recording');
  });

  test('recordingFilename: header-safe', () => {
    expect(recordingFilename('5f1c2d3e-0000')).toBe('call-5f1c2d3e-0000.wav');
    expect(recordingFilename('a"b\r\nc;d')).toBe('call-a_b__c_d.wav');
  });
});

describe('callDetail', () => {
  test('the call, its transcript, all events and the recording → matches the published CALL_DETAIL_SCHEMA', () => {
    const detail = callDetail(row(), EVENTS, { bytes: 1044 }, Date.now());
    expect(detail.transcript).toHaveLength(3);
    expect(detail.events.map((e) => e.type)).toEqual([
      'transcript',
      'dtmf',
      'transcript',
      'hold',
      'transcript',
      'transcript',
    ]);
    expect(detail.recording).toMatchObject({ available: true, bytes: 1044 });
    const validate = addFormats(new Ajv({ strict: true, allowUnionTypes: true })).compile(CALL_DETAIL_SCHEMA);
    expect([validate(JSON.parse(JSON.stringify(detail))), validate.errors]).toEqual([true, null]);
    const bare = callDetail(row({ recording_path: null }), [], null, Date.now());
    expect([validate(JSON.parse(JSON.stringify(bare))), validate.errors]).toEqual([true, null]);
  });
});
