import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { mintToken } from '../../services/common/src/auth/tokens';
import { readWav } from '../../services/common/src/audio/wav';
import { StereoWavRecorder } from '../../services/media-gateway/src/recording/wav';
import { api, token, type ApiResponse } from '../support/api';
import { testStack } from '../support/stack';
import { startInProcessApp } from './in-process';

/**
 * The call history API against the test stack's control-plane and PostgreSQL. The
 * suite owns its fixtures: rows in calls / call_events written as the media gateway
 * writes them, and a recording made with the gateway's own StereoWavRecorder in
 * RECORDINGS_DIR. Call ids and the caller number are unique per run, and every list
 * query filters on that caller, so calls of other suites never meet these.
 */

interface CallBody {
  call_id: string;
  sip_call_id: string;
  direction: string;
  from_number: string;
  to_number: string;
  route: string;
  ai: { dialect: string | null; url: string | null };
  codec: string | null;
  state: string;
  gateway: string;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number | null;
  end_reason: string | null;
  ended_by: string | null;
  recorded: boolean;
  stats: Record<string, unknown> | null;
}

interface CallDetailBody extends CallBody {
  transcript: Array<{ at: string; speaker: string; text: string; final: boolean }>;
  events: Array<{ at: string; type: string; data: Record<string, unknown> }>;
  recording: { available: boolean; bytes: number | null; download_url: string; reason: string | null } | null;
}

interface PageBody {
  items: CallBody[];
  total: number;
  page: number;
  per_page: number;
}

interface ErrorBody {
  error: { code: string; message: string; reason?: string; fields?: Array<{ field: string; message: string }> };
}

const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;
/** The caller of every fixture: a number nobody else uses (stored without "+", as SIP user parts often are). */
const CALLER = `1999${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
const AI_NUMBER = '15557770001';
const OTHER_NUMBER = '15557770002';
/** Fixture start times, minutes after this (an hour ago, so active durations are about an hour). */
const BASE = Date.now() - 3600_000;
const at = (minutes: number, seconds = 0): Date => new Date(BASE + minutes * 60_000 + seconds * 1000);

const id = (name: string): string => `calls-test-${RUN}-${name}`;
const IDS = {
  recorded: id('recorded'),
  activeRecording: id('active-rec'),
  active: id('active'),
  unrecorded: id('unrecorded'),
  missing: id('missing'),
  outside: id('outside'),
  traversal: id('traversal'),
  old: id('old'),
};

interface Fixture {
  call_id: string;
  state: 'active' | 'ended';
  started: Date;
  ended?: Date;
  to?: string;
  recording_path?: string | null;
  recording_bytes?: number | null;
}

const op = <T>(path: string): Promise<ApiResponse<T>> => api<T>('GET', path, { role: 'operator' });

async function withDb<T>(run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testStack().env['DATABASE_URL'] });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function insertCall(client: Client, f: Fixture): Promise<void> {
  await client.query(
    `INSERT INTO calls (call_id, sip_call_id, direction, from_number, to_number, route, ai_dialect, ai_url, codec, state, gateway,
                        started_at, ended_at, end_reason, ended_by, recording_path, recording_bytes, stats)
     VALUES ($1, $2, 'inbound', $3, $4, $5, 'twilio', 'wss://bot:hunter2@agent.example.com/media', 'PCMA', $6, '127.0.0.1:5070',
             $7, $8, $9, $10, $11, $12, $13)`,
    [
      f.call_id,
      `sip-${f.call_id}@127.0.0.1`,
      CALLER,
      f.to ?? AI_NUMBER,
      `ai|${f.to ?? AI_NUMBER}`,
      f.state,
      f.started,
      f.ended ?? null,
      f.state === 'ended' ? 'caller hung up' : null,
      f.state === 'ended' ? 'caller' : null,
      f.recording_path ?? null,
      f.recording_bytes ?? null,
      f.state === 'ended' ? JSON.stringify({ packetsIn: 3000, packetsOut: 2990, framesLost: 3 }) : null,
    ],
  );
}

async function insertEvent(
  client: Client,
  callId: string,
  when: Date,
  type: string,
  data: Record<string, unknown>,
): Promise<void> {
  await client.query('INSERT INTO call_events (call_id, at, type, data) VALUES ($1, $2, $3, $4)', [
    callId,
    when,
    type,
    JSON.stringify(data),
  ]);
}

/** 200 ms of a ramp on the caller's side and its negative on the AI's, through the gateway's recorder. */
async function recordWav(path: string): Promise<number> {
  const recorder = new StereoWavRecorder(path);
  for (let frame = 0; frame < 10; frame++) {
    const caller = new Int16Array(160).map((_, i) => (frame * 160 + i) * 8);
    recorder.write(
      caller,
      caller.map((s) => -s),
    );
  }
  return recorder.close();
}

describe('/api/calls', () => {
  let recordingsDir: string;
  let recordedFile: string;
  let recordedBytes: number;
  let outsideFile: string;

  beforeAll(async () => {
    recordingsDir = testStack().config.gateway.recordingsDir;
    mkdirSync(recordingsDir, { recursive: true });
    recordedFile = join(recordingsDir, `${IDS.recorded}.wav`);
    recordedBytes = await recordWav(recordedFile);
    // A half-written recording of a call in progress (the header's sizes are still 0).
    writeFileSync(join(recordingsDir, `${IDS.activeRecording}.wav`), Buffer.alloc(44 + 640));
    // A file next to the recordings directory that the API must never hand out.
    outsideFile = join(dirname(recordingsDir), `calls-test-${RUN}-outside.wav`);
    writeFileSync(outsideFile, 'NOT A RECORDING: calls-test outside secret');

    await withDb(async (client) => {
      await insertCall(client, {
        call_id: IDS.old,
        state: 'ended',
        started: at(-60 * 24),
        ended: at(-60 * 24, 30),
        to: OTHER_NUMBER,
      });
      await insertCall(client, {
        call_id: IDS.recorded,
        state: 'ended',
        started: at(0),
        ended: at(1, 2.5),
        recording_path: recordedFile,
        recording_bytes: recordedBytes,
      });
      await insertCall(client, { call_id: IDS.unrecorded, state: 'ended', started: at(1), ended: at(2) });
      await insertCall(client, {
        call_id: IDS.missing,
        state: 'ended',
        started: at(2),
        ended: at(3),
        recording_path: join(recordingsDir, `${IDS.missing}.wav`),
        recording_bytes: 1044,
      });
      await insertCall(client, {
        call_id: IDS.outside,
        state: 'ended',
        started: at(3),
        ended: at(4),
        recording_path: outsideFile,
        recording_bytes: 42,
      });
      await insertCall(client, {
        call_id: IDS.traversal,
        state: 'ended',
        started: at(4),
        ended: at(5),
        recording_path: join(recordingsDir, '..', `calls-test-${RUN}-outside.wav`),
        recording_bytes: 42,
      });
      await insertCall(client, {
        call_id: IDS.activeRecording,
        state: 'active',
        started: at(5),
        recording_path: join(recordingsDir, `${IDS.activeRecording}.wav`),
      });
      await insertCall(client, { call_id: IDS.active, state: 'active', started: at(6), to: OTHER_NUMBER });

      const c = IDS.recorded;
      await insertEvent(client, c, at(0, 1), 'transcript', {
        speaker: 'ai',
        text: 'Hello, this is the demo agent.',
        final: true,
      });
      await insertEvent(client, c, at(0, 5), 'dtmf', { digit: '5', duration_ms: 120, source: 'rfc4733' });
      await insertEvent(client, c, at(0, 6), 'transcript', { speaker: 'ai', text: 'You pressed', final: false });
      await insertEvent(client, c, at(0, 7), 'transcript', { speaker: 'ai', text: 'You pressed five.', final: true });
      await insertEvent(client, c, at(0, 20), 'hold', {});
      await insertEvent(client, c, at(0, 30), 'resume', {});
      await insertEvent(client, c, at(0, 40), 'ai_reconnecting', { attempt: 1 });
      await insertEvent(client, c, at(0, 41), 'ai_reconnected', {});
    });
  });

  afterAll(async () => {
    await withDb((client) => client.query('DELETE FROM calls WHERE call_id LIKE $1', [`calls-test-${RUN}-%`]));
    rmSync(recordedFile, { force: true });
    rmSync(join(recordingsDir, `${IDS.activeRecording}.wav`), { force: true });
    rmSync(outsideFile, { force: true });
  });

  describe('authentication', () => {
    test.each([
      ['/api/calls/active'],
      ['/api/calls/'],
      [`/api/calls/${IDS.recorded}`],
      [`/api/calls/${IDS.recorded}/recording`],
    ])('%s without a token → 401 ERR_UNAUTHENTICATED', async (path) => {
      const res = await api<ErrorBody>('GET', path);
      expect([res.status, res.body.error.code]).toEqual([401, 'ERR_UNAUTHENTICATED']);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });

    test('a token signed with the wrong secret → 401, nothing about the call', async () => {
      const forged = await mintToken({
        role: 'operator',
        secret: 'not-the-secret-0123456789abcdef',
        ttlSeconds: 600,
        subject: 'tests',
      });
      const res = await api<ErrorBody>('GET', `/api/calls/${IDS.recorded}`, { token: forged });
      expect(res.status).toBe(401);
      expect(JSON.stringify(res.body)).not.toContain(CALLER);
    });

    test.each([['operator' as const], ['admin' as const]])('%s token → 200 on every endpoint', async (role) => {
      for (const path of [
        `/api/calls/active?from_number=${CALLER}`,
        `/api/calls/?from_number=${CALLER}`,
        `/api/calls/${IDS.recorded}`,
      ]) {
        const res = await api('GET', path, { role });
        expect([path, res.status]).toEqual([path, 200]);
      }
      const wav = await fetch(`${testStack().apiUrl}/api/calls/${IDS.recorded}/recording`, {
        headers: { authorization: `Bearer ${await token(role)}` },
      });
      expect(wav.status).toBe(200);
      await wav.arrayBuffer();
    });
  });

  describe('GET /api/calls/active', () => {
    test('only active calls, newest first, duration so far', async () => {
      const res = await op<PageBody>(`/api/calls/active?from_number=${CALLER}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ total: 2, page: 1, per_page: 50, kamailio: 'ok' });
      expect(res.body.items.map((c) => c.call_id)).toEqual([IDS.active, IDS.activeRecording]);
      for (const call of res.body.items) {
        expect(call).toMatchObject({ state: 'active', kind: 'ai', on_hold: false });
        // Started 54-55 minutes ago (BASE + 5 or 6 min); allow for a slow run.
        expect(call.duration_seconds).toBeGreaterThan(50 * 60);
        expect(call.duration_seconds).toBeLessThan(70 * 60);
      }
    });

    test('pagination: per_page=1 → one call a page, the same total', async () => {
      const first = await op<PageBody>(`/api/calls/active?from_number=${CALLER}&per_page=1`);
      const second = await op<PageBody>(`/api/calls/active?from_number=${CALLER}&per_page=1&page=2`);
      const third = await op<PageBody>(`/api/calls/active?from_number=${CALLER}&per_page=1&page=3`);
      expect([first.body.total, second.body.total, third.body.total]).toEqual([2, 2, 2]);
      expect(first.body.items.map((c) => c.call_id)).toEqual([IDS.active]);
      expect(second.body.items.map((c) => c.call_id)).toEqual([IDS.activeRecording]);
      expect(third.body.items).toEqual([]);
    });

    test('to_number filter → the active call to that number', async () => {
      const res = await op<PageBody>(`/api/calls/active?from_number=${CALLER}&to_number=${OTHER_NUMBER}`);
      expect(res.body.items.map((c) => c.call_id)).toEqual([IDS.active]);
    });

    test('Kamailio not answering → the AI calls still listed, kamailio: unavailable (not a 500)', async () => {
      const app = await startInProcessApp({ KAMAILIO_RPC_PORT: '9' });
      try {
        const res = await api<PageBody & { kamailio: string }>('GET', `/api/calls/active?from_number=${CALLER}`, {
          role: 'operator',
          stack: app.stack,
        });
        expect([res.status, res.body.kamailio, res.body.total]).toEqual([200, 'unavailable', 2]);
        expect(app.logs()).toContain('active calls listed without Kamailio');
        const metrics = await fetch(`${app.url}/metrics`).then((r) => r.text());
        expect(metrics).toMatch(/call_control_events_total\{event="kamailio_unavailable"\} [1-9]/);
      } finally {
        await app.close();
      }
    });

    test('state is not a filter here → 400 naming it', async () => {
      const res = await op<ErrorBody>('/api/calls/active?state=ended');
      expect([res.status, res.body.error.code, res.body.error.fields]).toEqual([
        400,
        'ERR_VALIDATION',
        [{ field: 'state', message: 'is not allowed' }],
      ]);
    });
  });

  describe('GET /api/calls/', () => {
    const all = [
      IDS.active,
      IDS.activeRecording,
      IDS.traversal,
      IDS.outside,
      IDS.missing,
      IDS.unrecorded,
      IDS.recorded,
      IDS.old,
    ];

    test('every call of the caller, newest first', async () => {
      const res = await op<PageBody>(`/api/calls/?from_number=${CALLER}`);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(all.length);
      expect(res.body.items.map((c) => c.call_id)).toEqual(all);
    });

    test('the caller written with "+" (encoded or not) or without → the same calls', async () => {
      for (const spelling of [`%2B${CALLER}`, `+${CALLER}`, CALLER]) {
        const res = await op<PageBody>(`/api/calls/?from_number=${spelling}`);
        expect([spelling, res.body.total]).toEqual([spelling, all.length]);
      }
    });

    test('state=ended → the ended calls; state=active → the active ones', async () => {
      const ended = await op<PageBody>(`/api/calls/?from_number=${CALLER}&state=ended`);
      expect(ended.body.items.map((c) => c.call_id)).toEqual(all.slice(2));
      const active = await op<PageBody>(`/api/calls/?from_number=${CALLER}&state=active`);
      expect(active.body.items.map((c) => c.call_id)).toEqual(all.slice(0, 2));
    });

    test('to_number → calls to that number only', async () => {
      const res = await op<PageBody>(`/api/calls/?from_number=${CALLER}&to_number=%2B${OTHER_NUMBER}`);
      expect(res.body.items.map((c) => c.call_id)).toEqual([IDS.active, IDS.old]);
    });

    test('started_after is inclusive, started_before exclusive', async () => {
      const after = encodeURIComponent(at(1).toISOString());
      const before = encodeURIComponent(at(4).toISOString());
      const res = await op<PageBody>(
        `/api/calls/?from_number=${CALLER}&started_after=${after}&started_before=${before}`,
      );
      expect(res.body.items.map((c) => c.call_id)).toEqual([IDS.outside, IDS.missing, IDS.unrecorded]);
      const old = await op<PageBody>(
        `/api/calls/?from_number=${CALLER}&started_before=${encodeURIComponent(at(-60).toISOString())}`,
      );
      expect(old.body.items.map((c) => c.call_id)).toEqual([IDS.old]);
    });

    test('pagination → consecutive slices of the same order', async () => {
      const pages: string[] = [];
      for (let page = 1; page <= 3; page++) {
        const res = await op<PageBody>(`/api/calls/?from_number=${CALLER}&per_page=3&page=${page}`);
        expect(res.body).toMatchObject({ total: all.length, page, per_page: 3 });
        pages.push(...res.body.items.map((c) => c.call_id));
      }
      expect(pages).toEqual(all);
    });

    test('a caller nobody used → empty page', async () => {
      const res = await op<PageBody>(`/api/calls/?from_number=nobody-${RUN}`);
      expect(res.body).toEqual({ items: [], total: 0, page: 1, per_page: 50 });
    });

    test.each([
      ['state=dialing', 'state'],
      ['per_page=0', 'per_page'],
      ['per_page=201', 'per_page'],
      ['page=0', 'page'],
      ['started_after=yesterday', 'started_after'],
      ['started_before=2026-03-01T10%3A00%3A00', 'started_before'],
      ['sort=asc', 'sort'],
    ])('?%s → 400 ERR_VALIDATION naming %s', async (qs, field) => {
      const res = await op<ErrorBody>(`/api/calls/?${qs}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('ERR_VALIDATION');
      expect(res.body.error.fields?.map((f) => f.field)).toEqual([field]);
    });
  });

  describe('GET /api/calls/{call_id}', () => {
    test('an ended, recorded call → every column, its transcript, all events and a downloadable recording', async () => {
      const res = await op<CallDetailBody>(`/api/calls/${IDS.recorded}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        call_id: IDS.recorded,
        sip_call_id: `sip-${IDS.recorded}@127.0.0.1`,
        direction: 'inbound',
        from_number: CALLER,
        to_number: AI_NUMBER,
        route: `ai|${AI_NUMBER}`,
        ai: { dialect: 'twilio', url: 'wss://agent.example.com/media' },
        codec: 'PCMA',
        state: 'ended',
        gateway: '127.0.0.1:5070',
        started_at: at(0).toISOString(),
        ended_at: at(1, 2.5).toISOString(),
        duration_seconds: 62.5,
        end_reason: 'caller hung up',
        ended_by: 'caller',
        recorded: true,
        stats: { packetsIn: 3000, packetsOut: 2990, framesLost: 3 },
        transcript: [
          { at: at(0, 1).toISOString(), speaker: 'ai', text: 'Hello, this is the demo agent.', final: true },
          { at: at(0, 6).toISOString(), speaker: 'ai', text: 'You pressed', final: false },
          { at: at(0, 7).toISOString(), speaker: 'ai', text: 'You pressed five.', final: true },
        ],
        events: [
          {
            at: at(0, 1).toISOString(),
            type: 'transcript',
            data: { speaker: 'ai', text: 'Hello, this is the demo agent.', final: true },
          },
          { at: at(0, 5).toISOString(), type: 'dtmf', data: { digit: '5', duration_ms: 120, source: 'rfc4733' } },
          {
            at: at(0, 6).toISOString(),
            type: 'transcript',
            data: { speaker: 'ai', text: 'You pressed', final: false },
          },
          {
            at: at(0, 7).toISOString(),
            type: 'transcript',
            data: { speaker: 'ai', text: 'You pressed five.', final: true },
          },
          { at: at(0, 20).toISOString(), type: 'hold', data: {} },
          { at: at(0, 30).toISOString(), type: 'resume', data: {} },
          { at: at(0, 40).toISOString(), type: 'ai_reconnecting', data: { attempt: 1 } },
          { at: at(0, 41).toISOString(), type: 'ai_reconnected', data: {} },
        ],
        recording: {
          available: true,
          bytes: recordedBytes,
          download_url: `/api/calls/${IDS.recorded}/recording`,
          reason: null,
        },
      });
      // Neither the AI URL's credentials nor the server's file path are shown.
      expect(JSON.stringify(res.body)).not.toMatch(/hunter2|recordings\//);
    });

    test.each([
      ['not recorded', IDS.unrecorded, null],
      ['recording in progress', IDS.activeRecording, { available: false, bytes: null, reason: 'in_progress' }],
      ['recording file missing', IDS.missing, { available: false, bytes: null, reason: 'file_missing' }],
      ['recording path outside RECORDINGS_DIR', IDS.outside, { available: false, bytes: null, reason: 'file_missing' }],
      ['recording path climbing out with ..', IDS.traversal, { available: false, bytes: null, reason: 'file_missing' }],
    ])('%s → the recording entry says so', async (_name, callId, recording) => {
      const res = await op<CallDetailBody>(`/api/calls/${callId}`);
      expect(res.status).toBe(200);
      expect(res.body.recording).toEqual(
        recording === null ? null : { ...recording, download_url: `/api/calls/${callId}/recording` },
      );
      expect([res.body.transcript, res.body.events]).toEqual([[], []]);
    });

    test('an unknown call → 404 ERR_CALL_NOT_FOUND', async () => {
      const res = await op<ErrorBody>(`/api/calls/${id('nope')}`);
      expect([res.status, res.body.error.code]).toEqual([404, 'ERR_CALL_NOT_FOUND']);
    });

    test('a call id over 64 characters → 400 naming call_id', async () => {
      const res = await op<ErrorBody>(`/api/calls/${'x'.repeat(65)}`);
      expect([res.status, res.body.error.fields?.[0]?.field]).toEqual([400, 'call_id']);
    });
  });

  describe('GET /api/calls/{call_id}/recording', () => {
    test('an ended, recorded call → the WAV as an attachment, byte for byte', async () => {
      const res = await fetch(`${testStack().apiUrl}/api/calls/${IDS.recorded}/recording`, {
        headers: { authorization: `Bearer ${await token('operator')}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      expect(res.headers.get('content-length')).toBe(String(recordedBytes));
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="call-${IDS.recorded}.wav"`);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(readFileSync(recordedFile))).toBe(true);
      const wav = readWav(body);
      expect([wav.sampleRate, wav.channels, wav.pcm.length]).toEqual([8000, 2, 2 * 1600]);
      // Caller left, AI right.
      expect([wav.pcm[2 * 100], wav.pcm[2 * 100 + 1]]).toEqual([800, -800]);
    });

    test.each([
      ['not recorded', IDS.unrecorded, 'not_recorded', /was not recorded/],
      ['still in progress', IDS.activeRecording, 'in_progress', /still in progress/],
      ['file missing', IDS.missing, 'file_missing', /missing/],
    ])('%s → 404 ERR_RECORDING_NOT_AVAILABLE', async (_name, callId, reason, message) => {
      const res = await op<ErrorBody>(`/api/calls/${callId}/recording`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body.error).toMatchObject({ code: 'ERR_RECORDING_NOT_AVAILABLE', reason });
      expect(res.body.error.message).toMatch(message);
    });

    test.each([
      ['an absolute path outside RECORDINGS_DIR', IDS.outside],
      ['a path climbing out of RECORDINGS_DIR with ..', IDS.traversal],
    ])('a row whose recording_path is %s → 404 file_missing, never the file', async (_name, callId) => {
      expect(readFileSync(outsideFile, 'utf8')).toContain('outside secret');
      const res = await fetch(`${testStack().apiUrl}/api/calls/${callId}/recording`, {
        headers: { authorization: `Bearer ${await token('admin')}` },
      });
      const text = await res.text();
      expect(res.status).toBe(404);
      expect(text).not.toContain('outside secret');
      expect(JSON.parse(text)).toMatchObject({
        error: { code: 'ERR_RECORDING_NOT_AVAILABLE', reason: 'file_missing' },
      });
    });

    test('an unknown call → 404 ERR_CALL_NOT_FOUND', async () => {
      const res = await op<ErrorBody>(`/api/calls/${id('nope')}/recording`);
      expect([res.status, res.body.error.code]).toEqual([404, 'ERR_CALL_NOT_FOUND']);
    });
  });

  describe('OpenAPI', () => {
    test("the call endpoints are documented, the seed's call-control endpoints among them", async () => {
      const res = await op<{
        paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
      }>('/api/openapi.json');
      const callPaths = Object.keys(res.body.paths)
        .filter((p) => p.startsWith('/api/calls'))
        .sort();
      expect(callPaths).toEqual(
        expect.arrayContaining([
          '/api/calls/',
          '/api/calls/active',
          '/api/calls/initiate',
          '/api/calls/{call_id}',
          '/api/calls/{call_id}/hangup',
          '/api/calls/{call_id}/hold',
          '/api/calls/{call_id}/recording',
          '/api/calls/{call_id}/resume',
          '/api/calls/{call_id}/transfer',
        ]),
      );
      expect(
        Object.keys(res.body.paths['/api/calls/{call_id}/recording']?.['get']?.responses['200']?.content ?? {}),
      ).toEqual(['audio/wav']);
      const initiate = await api<ErrorBody>('POST', '/api/calls/initiate', { role: 'operator', body: {} });
      expect([initiate.status, initiate.body.error.code]).toEqual([400, 'ERR_VALIDATION']);
    });
  });
});
