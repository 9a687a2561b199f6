import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpWebhookSender } from './http-sender';

/** A receiver on loopback that answers each request with `answer` and remembers what came. */
async function receiver(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  port: number;
  seen: Array<{ headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}> {
  const seen: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('HttpWebhookSender', () => {
  const senders: HttpWebhookSender[] = [];
  // A name only this test's resolver knows, pointing at loopback (as a rebinding DNS server would).
  const resolve = async (host: string): Promise<Array<{ address: string; family: number }>> => {
    if (host === 'hooks.example.test')
      return [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };
  const make = (allowPrivate: boolean, timeoutMs = 2000): HttpWebhookSender => {
    const s = new HttpWebhookSender({ timeoutMs, allowPrivate, resolve });
    senders.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of senders.splice(0)) s.close();
  });

  test('POST with the given headers and body → the status (and Retry-After) come back', async () => {
    const r = await receiver((_req, res) => res.writeHead(503, { 'retry-after': '7' }).end('busy'));
    try {
      const result = await make(true).post(`http://127.0.0.1:${r.port}/hook?k=1`, '{"a":1}', {
        'content-type': 'application/json',
        'x-bridge-event-id': 'c:1',
      });
      expect(result).toEqual({ kind: 'response', status: 503, retryAfterMs: 7000 });
      expect(r.seen).toHaveLength(1);
      expect(r.seen[0]?.body).toBe('{"a":1}');
      expect(r.seen[0]?.headers['x-bridge-event-id']).toBe('c:1');
      expect(r.seen[0]?.headers['content-length']).toBe('7');
    } finally {
      await r.close();
    }
  });

  test('a redirect is reported, not followed', async () => {
    const r = await receiver((_req, res) => res.writeHead(307, { location: 'http://169.254.169.254/' }).end());
    try {
      expect(await make(true).post(`http://127.0.0.1:${r.port}/`, '{}', {})).toEqual({ kind: 'response', status: 307 });
      expect(r.seen).toHaveLength(1);
    } finally {
      await r.close();
    }
  });

  test('no answer within the timeout → error timeout', async () => {
    const r = await receiver(() => undefined);
    try {
      const started = Date.now();
      const result = await make(true, 300).post(`http://127.0.0.1:${r.port}/`, '{}', {});
      expect(result).toMatchObject({ kind: 'error', reason: 'timeout' });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await r.close();
    }
  });

  test('nobody listening → error network (ECONNREFUSED)', async () => {
    const r = await receiver(() => undefined);
    const port = r.port;
    await r.close();
    expect(await make(true).post(`http://127.0.0.1:${port}/`, '{}', {})).toMatchObject({
      kind: 'error',
      reason: 'network',
      detail: expect.stringContaining('ECONNREFUSED') as unknown,
    });
  });

  test('private addresses not allowed: a loopback literal and a name resolving to loopback are refused unsent', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end());
    try {
      const sender = make(false);
      expect(await sender.post(`http://127.0.0.1:${r.port}/`, '{}', {})).toMatchObject({
        kind: 'refused',
        reason: 'private_address',
      });
      // localhost is caught by name; a name with a loopback address among its addresses, after resolution.
      expect(await sender.post(`http://localhost:${r.port}/`, '{}', {})).toMatchObject({
        kind: 'refused',
        reason: 'private_address',
      });
      expect(await sender.post(`http://hooks.example.test:${r.port}/`, '{}', {})).toMatchObject({
        kind: 'refused',
        reason: 'private_address',
        detail: expect.stringContaining('127.0.0.1') as unknown,
      });
      expect(await sender.post(`http://unknown.example.test:${r.port}/`, '{}', {})).toMatchObject({
        kind: 'error',
        reason: 'network',
        detail: expect.stringContaining('ENOTFOUND') as unknown,
      });
      expect(r.seen).toHaveLength(0);
    } finally {
      await r.close();
    }
  });

  test('an unusable URL → refused invalid_url', async () => {
    expect(await make(true).post('ftp://example.com/', '{}', {})).toMatchObject({
      kind: 'refused',
      reason: 'invalid_url',
    });
  });
});
