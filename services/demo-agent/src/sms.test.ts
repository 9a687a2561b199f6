import WebSocket from 'ws';
import { createAuthMaterial, webhookAuthHeaders } from '../../common/src/ai-protocol/auth';
import { renderPrompts } from './audio/prompts';
import { DemoAgentServer } from './server';
import { answerSmsWebhook, SmsStats } from './sms';

const secrets = {
  jwtSecretKey: 'jwt-secret-for-tests-0123456789abcdef',
  sipSharedSecret: 'shared-secret-for-tests-0123456789abcdef',
};
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined };
const NOW = 1_764_064_800_000;
const body = Buffer.from(
  '{"type":"sms","data":{"message_id":"sms-1","from_number":"+15551230001","to_number":"+15559870002","text":"hi","timestamp":1764064799,"segments":1,"custom":{}}}',
);

describe('answerSmsWebhook', () => {
  test('signed by the control-plane → 200 with the reply to the sender', async () => {
    const headers = await webhookAuthHeaders(secrets, 'sms-1', body, NOW);
    await expect(answerSmsWebhook(secrets, headers, body, NOW + 1000)).resolves.toEqual({
      status: 200,
      body: { replies: [{ text: 'Demo agent got your message: hi', to_number: '+15551230001' }] },
      sms: { messageId: 'sms-1', from: '+15551230001', to: '+15559870002', text: 'hi' },
    });
  });

  test('credential problems → 401 with a code: missing headers, another secret, a stale timestamp, a JWT for another message', async () => {
    const headers = await webhookAuthHeaders(secrets, 'sms-1', body, NOW);
    const code = async (h: Record<string, string>, b = body, now = NOW) => {
      const answer = await answerSmsWebhook(secrets, h, b, now);
      return [answer.status, 'error' in answer.body ? answer.body.error.code : 'none'];
    };
    await expect(code({ authorization: headers['authorization'] as string })).resolves.toEqual([
      401,
      'ERR_AUTH_MALFORMED',
    ]);
    await expect(
      code(
        await webhookAuthHeaders(
          { ...secrets, sipSharedSecret: 'another-shared-secret-0123456789abcdef' },
          'sms-1',
          body,
          NOW,
        ),
      ),
    ).resolves.toEqual([401, 'ERR_AUTH_SIGNATURE']);
    await expect(code(headers, Buffer.from(body.toString().replace('hi', 'ho')))).resolves.toEqual([
      401,
      'ERR_AUTH_SIGNATURE',
    ]);
    await expect(code(headers, body, NOW + 301_000)).resolves.toEqual([401, 'ERR_AUTH_TIMESTAMP']);
    await expect(
      code(
        await webhookAuthHeaders(
          { ...secrets, jwtSecretKey: 'another-jwt-secret-0123456789abcdefgh' },
          'sms-1',
          body,
          NOW,
        ),
      ),
    ).resolves.toEqual([401, 'ERR_AUTH_TOKEN']);
    await expect(code(await webhookAuthHeaders(secrets, 'sms-2', body, NOW))).resolves.toEqual([401, 'ERR_AUTH_TOKEN']);
  });

  test('a signed body that is not an sms → 400', async () => {
    const other = Buffer.from('{"type":"ping","data":{"id":1}}');
    const answer = await answerSmsWebhook(secrets, await webhookAuthHeaders(secrets, 'sms-1', other, NOW), other, NOW);
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'ERR_BAD_REQUEST' } } });
  });
});

describe('SmsStats', () => {
  test('counts by transport and keeps the last 100', () => {
    const stats = new SmsStats();
    for (let i = 0; i < 105; i++)
      stats.record({ messageId: `m${i}`, from: 'a', to: 'b', text: 't', transport: i % 2 ? 'webhook' : 'websocket' });
    expect(stats.received).toBe(105);
    expect(stats.byTransport).toEqual({ websocket: 53, webhook: 52, call: 0 });
    expect(stats.recent).toHaveLength(100);
    expect(stats.recent[0]?.messageId).toBe('m5');
  });
});

describe('the demo agent server', () => {
  let server: DemoAgentServer;
  let base: string;
  beforeAll(async () => {
    server = new DemoAgentServer({ secrets, defaultMode: 'echo', prompts: await renderPrompts(null), logger: quiet });
    base = await server.listen(0, '127.0.0.1');
  });
  afterAll(() => server.close());

  test('/sms takes POST only; other plain HTTP is still 426', async () => {
    const http = base.replace(/^ws:/, 'http:');
    const get = await fetch(`${http}/sms`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await fetch(`${http}/other`)).status).toBe(426);
    const big = await fetch(`${http}/sms`, { method: 'POST', body: 'x'.repeat(70_000) });
    expect(big.status).toBe(413);
  });

  test('SMS session: an sms for another message than the authenticated one → error ERR_AUTH_MESSAGE_MISMATCH, close 4401', async () => {
    const auth = await createAuthMaterial(secrets, 'sms-1', false);
    const ws = new WebSocket(`${base}/olib`);
    const frames: string[] = [];
    ws.on('message', (d: Buffer) => frames.push(d.toString('utf8')));
    await new Promise((r) => ws.once('open', r));
    ws.send(
      JSON.stringify({
        type: 'auth',
        session: 'sms',
        auth: {
          token: `Bearer ${auth.jwt}`,
          signature: auth.signature,
          timestamp: auth.timestamp,
          call_id: 'sms-1',
          reconnected: false,
        },
        call: null,
      }),
    );
    ws.send(
      JSON.stringify({
        type: 'sms',
        data: { message_id: 'sms-2', from_number: '+1', to_number: '+2', text: 'x', timestamp: 1 },
      }),
    );
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    expect(code).toBe(4401);
    expect(frames.map((f) => JSON.parse(f) as unknown)).toEqual([
      { type: 'auth_ok', data: { call_id: 'sms-1' } },
      {
        type: 'error',
        data: { code: 'ERR_AUTH_MESSAGE_MISMATCH', message: 'sms.message_id is not the authenticated message' },
      },
    ]);
  });

  test('SMS session: reply, then sms_ack; the stats record it', async () => {
    const auth = await createAuthMaterial(secrets, 'sms-9', false);
    const ws = new WebSocket(`${base}/binary`);
    const frames: string[] = [];
    await new Promise((r) => ws.once('open', r));
    const acked = new Promise<void>((r) =>
      ws.on('message', (d: Buffer) => {
        frames.push(d.toString('utf8'));
        if (d.toString('utf8').includes('sms_ack')) r();
      }),
    );
    ws.send(
      JSON.stringify({
        type: 'auth',
        session: 'sms',
        auth: {
          token: `Bearer ${auth.jwt}`,
          signature: auth.signature,
          timestamp: auth.timestamp,
          call_id: 'sms-9',
          reconnected: false,
        },
        call: null,
      }),
    );
    ws.send(
      JSON.stringify({
        type: 'sms',
        data: {
          message_id: 'sms-9',
          from_number: '+1555',
          to_number: '+2',
          text: 'yo',
          timestamp: 1,
          segments: 1,
          custom: {},
        },
      }),
    );
    await acked;
    ws.close(1000);
    expect(frames.map((f) => JSON.parse(f) as unknown)).toEqual([
      { type: 'auth_ok', data: { call_id: 'sms-9' } },
      { type: 'sms', data: { text: 'Demo agent got your message: yo', to_number: '+1555', in_reply_to: 'sms-9' } },
      { type: 'sms_ack', data: { message_id: 'sms-9' } },
    ]);
    expect(server.smsStats.recent.at(-1)).toEqual({
      messageId: 'sms-9',
      from: '+1555',
      to: '+2',
      text: 'yo',
      transport: 'websocket',
    });
  });
});
