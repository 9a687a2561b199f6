import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { decodeJwt } from 'jose';
import { verifyAuth, webhookSignature } from '../../services/common/src/ai-protocol/auth';
import type { Logger } from '../../services/common/src/logger';
import { renderPrompts } from '../../services/demo-agent/src/audio/prompts';
import { DemoAgentServer } from '../../services/demo-agent/src/server';
import {
  smsDeliveryFrame,
  type InboundSmsForAi,
  type OlibSmsSessionAuth,
} from '../../services/common/src/ai-protocol/sms-session';
import { messageBytes } from '../../services/common/src/ai-protocol/socket';
import { AiSmsDelivery } from '../../services/control-plane/src/sms/ai-delivery';

const secrets = {
  jwtSecretKey: 'jwt-secret-for-tests-0123456789abcdef',
  sipSharedSecret: 'shared-secret-for-tests-0123456789abcdef',
};
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
} as unknown as Logger;

const sms: InboundSmsForAi = {
  messageId: 'sms_01JDQ8Y3V6T4Z9K2M5N7P8R0S1',
  from: '+15551230001',
  to: '+15559870002',
  text: 'are you there?',
  segments: 1,
  receivedAt: new Date(1764064799_000),
};

let agent: DemoAgentServer;
let wsBase: string;
let httpBase: string;
let delivery: AiSmsDelivery;
const extra: { close(): unknown }[] = [];

beforeAll(async () => {
  agent = new DemoAgentServer({ secrets, defaultMode: 'echo', prompts: await renderPrompts(null), logger: quiet });
  wsBase = await agent.listen(0, '127.0.0.1');
  httpBase = wsBase.replace(/^ws:/, 'http:');
});
afterAll(() => agent.close());
beforeEach(() => {
  delivery = new AiSmsDelivery({
    jwtSecret: secrets.jwtSecretKey,
    sharedSecret: secrets.sipSharedSecret,
    timeoutMs: 2000,
    logger: quiet,
  });
});
afterEach(async () => {
  await delivery.close();
  for (const s of extra.splice(0)) await s.close();
});

async function listen(server: Server): Promise<string> {
  extra.push({
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port nobody listens on: listen, note it, close. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('WebSocket sms session against the demo agent', () => {
  test.each(['olib', 'binary'] as const)(
    '%s: the reply to the sender, then the ack → ok; the agent counted it',
    async (dialect) => {
      const before = agent.smsStats.byTransport.websocket;
      const outcome = await delivery.deliver(
        { ...sms, messageId: `sms-ws-${dialect}` },
        { url: `${wsBase}/${dialect}`, dialect, custom: { lang: 'en' } },
      );
      expect(outcome).toEqual({
        ok: true,
        replies: [{ text: 'Demo agent got your message: are you there?', to: '+15551230001' }],
      });
      expect(agent.smsStats.byTransport.websocket).toBe(before + 1);
      expect(agent.smsStats.recent.at(-1)).toEqual({
        messageId: `sms-ws-${dialect}`,
        from: '+15551230001',
        to: '+15559870002',
        text: 'are you there?',
        transport: 'websocket',
      });
    },
  );

  test('the base URL works too (no audio, so olib and binary are the same session)', async () => {
    await expect(delivery.deliver(sms, { url: wsBase, dialect: 'olib' })).resolves.toMatchObject({ ok: true });
  });

  test('another SIP_SHARED_SECRET → refused by the agent, not retryable', async () => {
    const wrong = new AiSmsDelivery({
      jwtSecret: secrets.jwtSecretKey,
      sharedSecret: 'another-shared-secret-0123456789abcdef',
      logger: quiet,
    });
    const outcome = await wrong.deliver(sms, { url: `${wsBase}/olib`, dialect: 'olib' });
    await wrong.close();
    expect(outcome).toEqual({
      ok: false,
      retryable: false,
      reason: 'refused: ERR_AUTH_SIGNATURE: signature does not match',
    });
  });

  test('another JWT_SECRET_KEY → refused, not retryable', async () => {
    const wrong = new AiSmsDelivery({
      jwtSecret: 'another-jwt-secret-0123456789abcdefgh',
      sharedSecret: secrets.sipSharedSecret,
      logger: quiet,
    });
    const outcome = await wrong.deliver(sms, { url: `${wsBase}/binary`, dialect: 'binary' });
    await wrong.close();
    expect(outcome).toMatchObject({
      ok: false,
      retryable: false,
      reason: expect.stringMatching(/^refused: ERR_AUTH_TOKEN/),
    });
  });

  test("what the session presents verifies like a call's credentials, with the message id", async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    extra.push({
      close: () =>
        new Promise((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close(r);
        }),
    });
    await new Promise((r) => wss.once('listening', r));
    const frames: string[] = [];
    wss.on('connection', (ws) =>
      ws.on('message', (d) => {
        frames.push(messageBytes(d).toString('utf8'));
        if (frames.length === 2) {
          ws.send('{"type":"auth_ok","data":{"call_id":"sms_01JDQ8Y3V6T4Z9K2M5N7P8R0S1"}}');
          ws.send('{"type":"sms","data":{"text":"one"}}');
          ws.send(
            '{"type":"sms","data":{"text":"two","to_number":"+15550000000","in_reply_to":"sms_01JDQ8Y3V6T4Z9K2M5N7P8R0S1"}}',
          );
          ws.send('{"type":"sms_ack","data":{"message_id":"someone-else"}}');
          ws.send('not json');
          ws.send('{"type":"sms_ack","data":{"message_id":"sms_01JDQ8Y3V6T4Z9K2M5N7P8R0S1"}}');
        }
      }),
    );
    const closed = new Promise<number>((r) => wss.on('connection', (ws) => ws.on('close', (code) => r(code))));
    const outcome = await delivery.deliver(sms, {
      url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/olib`,
      dialect: 'olib',
      custom: { mode: 'x', n: 3, flag: true, deep: [1] },
    });
    expect(outcome).toEqual({
      ok: true,
      replies: [
        { text: 'one', to: '+15551230001' },
        { text: 'two', to: '+15550000000' },
      ],
    });
    expect(await closed).toBe(1000);
    const auth = JSON.parse(frames[0] as string) as OlibSmsSessionAuth;
    expect(auth).toMatchObject({
      type: 'auth',
      session: 'sms',
      call: null,
      auth: { call_id: sms.messageId, reconnected: false },
    });
    expect(decodeJwt(auth.auth.token.slice(7))).toMatchObject({ sub: sms.messageId, aud: 'ai-platform' });
    await expect(
      verifyAuth(secrets, {
        token: auth.auth.token,
        signature: auth.auth.signature,
        timestamp: auth.auth.timestamp,
        callId: sms.messageId,
      }),
    ).resolves.toEqual({ ok: true });
    expect(JSON.parse(frames[1] as string)).toEqual({
      type: 'sms',
      data: {
        message_id: sms.messageId,
        from_number: sms.from,
        to_number: sms.to,
        text: sms.text,
        timestamp: 1764064799,
        segments: 1,
        custom: { mode: 'x', n: '3', flag: 'true' },
      },
    });
  });

  test('agent down (connection refused) → retryable', async () => {
    const outcome = await delivery.deliver(sms, { url: `ws://127.0.0.1:${await deadPort()}/olib`, dialect: 'olib' });
    expect(outcome).toEqual({ ok: false, retryable: true, reason: 'connect_failed: ECONNREFUSED' });
  });

  test('an agent that never acknowledges → retryable timeout, socket gone', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    extra.push({
      close: () =>
        new Promise((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close(r);
        }),
    });
    await new Promise((r) => wss.once('listening', r));
    const slow = new AiSmsDelivery({
      jwtSecret: secrets.jwtSecretKey,
      sharedSecret: secrets.sipSharedSecret,
      timeoutMs: 300,
      logger: quiet,
    });
    const started = Date.now();
    const outcome = await slow.deliver(sms, {
      url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
      dialect: 'olib',
    });
    await slow.close();
    expect(outcome).toEqual({ ok: false, retryable: true, reason: 'timeout: no acknowledgement within 300 ms' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('upgrade answered 503 → retryable; 404 → not', async () => {
    const port = await listen(
      createServer((_req, res) => res.writeHead(503).end()).on('upgrade', (req, socket) => {
        socket.end(
          `HTTP/1.1 ${req.url === '/missing' ? '404 Not Found' : '503 Service Unavailable'}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
      }),
    );
    await expect(delivery.deliver(sms, { url: `ws://${port}/olib`, dialect: 'olib' })).resolves.toEqual({
      ok: false,
      retryable: true,
      reason: 'upgrade_failed: http 503',
    });
    await expect(delivery.deliver(sms, { url: `ws://${port}/missing`, dialect: 'olib' })).resolves.toEqual({
      ok: false,
      retryable: false,
      reason: 'upgrade_failed: http 404',
    });
  });

  test('a call-only agent (refuses the auth frame without a call) → refused, not retryable', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    extra.push({
      close: () =>
        new Promise((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close(r);
        }),
    });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => ws.once('message', () => ws.close(4401, 'ERR_AUTH_REQUIRED')));
    await expect(
      delivery.deliver(sms, { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, dialect: 'olib' }),
    ).resolves.toEqual({ ok: false, retryable: false, reason: 'refused: close 4401 ERR_AUTH_REQUIRED' });
  });

  test('twilio without a webhook → not retryable sms_not_supported_by_dialect; with one, the webhook', async () => {
    await expect(delivery.deliver(sms, { url: `${wsBase}/twilio`, dialect: 'twilio' })).resolves.toEqual({
      ok: false,
      retryable: false,
      reason: 'sms_not_supported_by_dialect',
    });
    await expect(
      delivery.deliver(sms, { url: `${wsBase}/twilio`, dialect: 'twilio', webhookUrl: `${httpBase}/sms` }),
    ).resolves.toMatchObject({ ok: true });
  });

  test('close() cuts deliveries in flight: they resolve retryable; later ones too', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    extra.push({
      close: () =>
        new Promise((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close(r);
        }),
    });
    await new Promise((r) => wss.once('listening', r));
    const connected = new Promise((r) => wss.once('connection', r));
    const pending = delivery.deliver(sms, {
      url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
      dialect: 'olib',
    });
    await connected;
    await delivery.close();
    await expect(pending).resolves.toEqual({ ok: false, retryable: true, reason: 'delivery_closed' });
    await expect(delivery.deliver(sms, { url: wsBase, dialect: 'olib' })).resolves.toEqual({
      ok: false,
      retryable: true,
      reason: 'delivery_closed',
    });
    await delivery.close();
  });

  test('a URL that is not ws(s) → not retryable', async () => {
    await expect(delivery.deliver(sms, { url: 'http://example.invalid/', dialect: 'olib' })).resolves.toMatchObject({
      ok: false,
      retryable: false,
      reason: expect.stringMatching(/^invalid_target/),
    });
  });
});

describe('webhook against the demo agent', () => {
  test("signed POST /sms → ok with the agent's reply; the agent counted it", async () => {
    const before = agent.smsStats.byTransport.webhook;
    const outcome = await delivery.deliver(
      { ...sms, messageId: 'sms-hook-1', text: 'hello 👋' },
      { url: `${wsBase}/olib`, dialect: 'olib', webhookUrl: `${httpBase}/sms` },
    );
    expect(outcome).toEqual({
      ok: true,
      replies: [{ text: 'Demo agent got your message: hello 👋', to: '+15551230001' }],
    });
    expect(agent.smsStats.byTransport.webhook).toBe(before + 1);
    expect(agent.smsStats.recent.at(-1)).toMatchObject({ messageId: 'sms-hook-1', transport: 'webhook' });
  });

  test('another SIP_SHARED_SECRET → 401 → refused, not retryable', async () => {
    const wrong = new AiSmsDelivery({
      jwtSecret: secrets.jwtSecretKey,
      sharedSecret: 'another-shared-secret-0123456789abcdef',
      logger: quiet,
    });
    const outcome = await wrong.deliver(sms, { url: wsBase, dialect: 'olib', webhookUrl: `${httpBase}/sms` });
    await wrong.close();
    expect(outcome).toEqual({ ok: false, retryable: false, reason: 'http 401' });
  });

  test('agent down → retryable connect_failed', async () => {
    await expect(
      delivery.deliver(sms, { url: wsBase, dialect: 'olib', webhookUrl: `http://127.0.0.1:${await deadPort()}/sms` }),
    ).resolves.toEqual({ ok: false, retryable: true, reason: 'connect_failed: ECONNREFUSED' });
  });

  test('statuses: 429 with Retry-After and 503 retryable; 400 and 302 not; a slow server times out retryable', async () => {
    const host = await listen(
      createServer((req, res) => {
        req.resume();
        if (req.url === '/429') res.writeHead(429, { 'retry-after': '30' }).end();
        else if (req.url === '/503') res.writeHead(503).end('down');
        else if (req.url === '/400') res.writeHead(400).end('{"error":{}}');
        else if (req.url === '/302') res.writeHead(302, { location: '/elsewhere' }).end();
        else if (req.url === '/empty') res.writeHead(204).end();
        else if (req.url === '/garbage') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
        // /slow: never answers
      }),
    );
    const via = (path: string) =>
      delivery.deliver(sms, { url: wsBase, dialect: 'olib', webhookUrl: `http://${host}${path}` });
    await expect(via('/429')).resolves.toEqual({
      ok: false,
      retryable: true,
      reason: 'http 429 (retry after 30 s)',
      retryAfterMs: 30_000,
    });
    await expect(via('/503')).resolves.toEqual({ ok: false, retryable: true, reason: 'http 503' });
    await expect(via('/400')).resolves.toEqual({ ok: false, retryable: false, reason: 'http 400' });
    await expect(via('/302')).resolves.toEqual({
      ok: false,
      retryable: false,
      reason: 'http 302 (redirects are not followed)',
    });
    await expect(via('/empty')).resolves.toEqual({ ok: true, replies: [] });
    await expect(via('/garbage')).resolves.toEqual({ ok: true, replies: [] });
    const impatient = new AiSmsDelivery({
      jwtSecret: secrets.jwtSecretKey,
      sharedSecret: secrets.sipSharedSecret,
      timeoutMs: 200,
      logger: quiet,
    });
    await expect(
      impatient.deliver(sms, { url: wsBase, dialect: 'olib', webhookUrl: `http://${host}/slow` }),
    ).resolves.toEqual({ ok: false, retryable: true, reason: 'timeout: no acknowledgement within 200 ms' });
    await impatient.close();
  });

  test('the request: JSON body, Bearer JWT for the message, timestamp and signature over the exact body', async () => {
    let seen: { headers: Record<string, unknown>; body: string } | undefined;
    const host = await listen(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req
          .on('data', (c: Buffer) => chunks.push(c))
          .on('end', () => {
            seen = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end('{"replies":[{"text":"a"},{"text":"b","to_number":"+1999"}]}');
          });
      }),
    );
    const outcome = await delivery.deliver(sms, {
      url: wsBase,
      dialect: 'olib',
      webhookUrl: `http://${host}/hook?k=v`,
    });
    expect(outcome).toEqual({
      ok: true,
      replies: [
        { text: 'a', to: '+15551230001' },
        { text: 'b', to: '+1999' },
      ],
    });
    const h = seen?.headers ?? {};
    expect(h['content-type']).toBe('application/json');
    expect(decodeJwt(String(h['authorization']).replace(/^Bearer /, ''))).toMatchObject({
      sub: sms.messageId,
      aud: 'ai-platform',
    });
    expect(h['x-bridge-signature']).toBe(
      webhookSignature(secrets.sipSharedSecret, String(h['x-bridge-timestamp']), seen?.body ?? ''),
    );
    expect(JSON.parse(seen?.body ?? '')).toEqual(smsDeliveryFrame(sms, undefined));
  });
});
