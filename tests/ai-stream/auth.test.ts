import { AiStream } from '../../services/media-gateway/src/ai-stream/ai-stream';
import { AiStreamError } from '../../services/media-gateway/src/ai-stream/errors';
import {
  expectHandlesBackTo,
  liveHandles,
  Recorder,
  SECRETS,
  startAgent,
  streamOptions,
  waitFor,
  type Agent,
} from './support/harness';
import { DIALECTS } from '../../services/common/src/ai-protocol/dialect';

let agent: Agent;
let baseline: Record<string, number>;

beforeEach(async () => {
  baseline = liveHandles();
  agent = await startAgent('echo');
});

afterEach(async () => {
  await agent.close();
  await expectHandlesBackTo(baseline);
});

const WRONG = 'not-the-secret-the-agent-knows-0123456789';

describe("the demo agent checks the gateway's credentials", () => {
  test.each([
    ['a JWT signed with another JWT_SECRET_KEY', { ...SECRETS, jwtSecretKey: WRONG }, Date.now, 'ERR_AUTH_TOKEN'],
    ['an HMAC with another SIP_SHARED_SECRET', { ...SECRETS, sipSharedSecret: WRONG }, Date.now, 'ERR_AUTH_SIGNATURE'],
    ['a clock 400 s behind', SECRETS, () => Date.now() - 400_000, 'ERR_AUTH_TIMESTAMP'],
  ])(
    'olib and binary, %s → error frame and close 4401; start() rejects ERR_AI_AUTH_REJECTED',
    async (_what, secrets, clock, code) => {
      for (const dialect of ['olib', 'binary'] as const) {
        const stream = new AiStream(streamOptions(agent.url, dialect, { secrets, clock }));
        const error = await stream.start().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(AiStreamError);
        expect(error).toMatchObject({ code: 'ERR_AI_AUTH_REJECTED', details: { remoteCode: code } });
        expect(stream.state).toBe('closed');
      }
      expect(agent.rejected).toEqual([code, code]);
      expect(agent.authenticated).toEqual([]);
    },
  );

  test('twilio, bad credentials in the upgrade headers → error event and close 4401 right after the stream opens → "down" auth_rejected', async () => {
    const stream = new AiStream(streamOptions(agent.url, 'twilio', { secrets: { ...SECRETS, jwtSecretKey: WRONG } }));
    const heard = new Recorder(stream);
    // Twilio has no acceptance message: the stream counts as started once the socket is up.
    await stream.start();
    await waitFor('down', () => heard.of('down').length === 1);
    expect(heard.of('down')).toEqual([{ kind: 'down', reason: 'auth_rejected' }]);
    expect(heard.of('error').map((e) => e.error.details)).toEqual([{ remoteCode: 'ERR_AUTH_TOKEN' }]);
    expect(heard.of('reconnecting')).toEqual([]);
    expect(agent.rejected).toEqual(['ERR_AUTH_TOKEN']);
    expect(stream.state).toBe('closed');
  });

  test('good credentials in every dialect → accepted as the call they name', async () => {
    for (const dialect of DIALECTS) {
      const options = streamOptions(agent.url, dialect);
      const stream = new AiStream(options);
      await stream.start();
      await waitFor('the agent to accept', () => agent.authenticated.some((a) => a.callId === options.call.callId));
      await stream.end('caller_hangup');
    }
    expect(agent.authenticated.map((a) => [a.reconnected, a.mode])).toEqual([
      [false, 'echo'],
      [false, 'echo'],
      [false, 'echo'],
    ]);
    expect(agent.rejected).toEqual([]);
  });

  test('a path that is not a dialect → 404 → start() rejects ERR_AI_CONNECT_FAILED', async () => {
    const stream = new AiStream({ ...streamOptions(agent.url, 'olib'), url: `${agent.url}/nowhere` });
    await expect(stream.start()).rejects.toMatchObject({
      code: 'ERR_AI_CONNECT_FAILED',
      message: 'Unexpected server response: 404',
    });
  });

  test('a first frame that is not auth → refused with ERR_AUTH_REQUIRED', async () => {
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${agent.url}/olib`);
    const closed = new Promise<{ code: number; frames: string[] }>((resolve) => {
      const frames: string[] = [];
      ws.on('message', (data: Buffer) => frames.push(data.toString('utf8')));
      ws.on('close', (code) => resolve({ code, frames }));
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'dtmf', data: { call_id: 'x', digit: '1', duration_ms: 100 } }));
    const { code, frames } = await closed;
    expect(code).toBe(4401);
    expect(frames.map((f) => JSON.parse(f) as unknown)).toEqual([
      { type: 'error', data: { code: 'ERR_AUTH_REQUIRED', message: 'the first frame must be auth' } },
    ]);
  });

  test('plain HTTP: GET /health → 200 with the session count; anything else → 426 Upgrade Required', async () => {
    const base = agent.url.replace('ws://', 'http://');
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', sessions: 0, voice: 'tones' });
    const other = await fetch(`${base}/olib`);
    expect(other.status).toBe(426);
    await other.text();
  });
});
