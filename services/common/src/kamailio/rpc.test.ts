import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HttpKamailioRpc,
  KamailioRpcError,
  KamailioUnavailableError,
  kamailioRpcFromConfig,
  kamailioRpcUrl,
} from './rpc';

interface Request {
  readonly jsonrpc: string;
  readonly method: string;
  readonly params: unknown[];
  readonly id: number;
}

/** A stand-in for Kamailio's xhttp + jsonrpcs: `answer` decides each reply (or none). */
async function fakeKamailio(
  answer: (req: Request, res: ServerResponse) => void,
): Promise<{ url: string; requests: Request[]; server: Server }> {
  const requests: Request[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const parsed = JSON.parse(body) as Request;
      requests.push(parsed);
      answer(parsed, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/RPC`, requests, server };
}

function reply(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('HttpKamailioRpc', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  it('call → JSON-RPC 2.0 POST with positional params and a fresh id; resolves with the result', async () => {
    const fake = await fakeKamailio((req, res) =>
      reply(res, { jsonrpc: '2.0', id: req.id, result: { ok: req.method } }),
    );
    server = fake.server;
    const rpc = new HttpKamailioRpc({ url: fake.url });
    await expect(rpc.call('ul.lookup', 'location', 'alice@example.com')).resolves.toEqual({ ok: 'ul.lookup' });
    await expect(rpc.call('core.uptime')).resolves.toEqual({ ok: 'core.uptime' });
    expect(fake.requests.map((r) => [r.jsonrpc, r.method, r.params, r.id])).toEqual([
      ['2.0', 'ul.lookup', ['location', 'alice@example.com'], 1],
      ['2.0', 'core.uptime', [], 2],
    ]);
    expect(rpc.pendingCount).toBe(0);
  });

  it('an error reply → KamailioRpcError with the method and Kamailio code', async () => {
    const fake = await fakeKamailio((req, res) =>
      reply(res, { jsonrpc: '2.0', id: req.id, error: { code: 404, message: 'AOR not found' } }),
    );
    server = fake.server;
    const err = await new HttpKamailioRpc({ url: fake.url }).call('ul.lookup').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KamailioRpcError);
    expect(err).toMatchObject({ method: 'ul.lookup', rpcCode: 404, message: 'ul.lookup: 404 AOR not found' });
  });

  it('a non-JSON body → KamailioUnavailableError naming the HTTP status', async () => {
    const fake = await fakeKamailio((_req, res) => {
      res.writeHead(500);
      res.end('<html>oops</html>');
    });
    server = fake.server;
    await expect(new HttpKamailioRpc({ url: fake.url }).call('core.uptime')).rejects.toThrow(
      new KamailioUnavailableError('core.uptime', 'HTTP 500 with a non-JSON body'),
    );
  });

  it('nothing listening → KamailioUnavailableError (ECONNREFUSED)', async () => {
    const fake = await fakeKamailio(() => undefined);
    await new Promise((resolve) => fake.server.close(resolve));
    await expect(new HttpKamailioRpc({ url: fake.url }).call('core.uptime')).rejects.toThrow(
      new KamailioUnavailableError('core.uptime', 'ECONNREFUSED'),
    );
  });

  it('no reply within timeoutMs → KamailioUnavailableError (TimeoutError), request forgotten', async () => {
    const fake = await fakeKamailio(() => undefined);
    server = fake.server;
    const rpc = new HttpKamailioRpc({ url: fake.url, timeoutMs: 100 });
    await expect(rpc.call('core.uptime')).rejects.toThrow(new KamailioUnavailableError('core.uptime', 'TimeoutError'));
    expect(rpc.pendingCount).toBe(0);
  });

  it('close() → every request in flight fails as closed, later calls are refused, close again is fine', async () => {
    const fake = await fakeKamailio(() => undefined);
    server = fake.server;
    const rpc = new HttpKamailioRpc({ url: fake.url, timeoutMs: 5000 });
    const inFlight = [rpc.call('core.uptime'), rpc.call('dispatcher.reload')];
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rpc.pendingCount).toBe(2);
    await rpc.close();
    await expect(inFlight[0]).rejects.toThrow(new KamailioUnavailableError('core.uptime', 'client closed'));
    await expect(inFlight[1]).rejects.toThrow(new KamailioUnavailableError('dispatcher.reload', 'client closed'));
    await expect(rpc.call('core.uptime')).rejects.toThrow(new KamailioUnavailableError('core.uptime', 'client closed'));
    await rpc.close();
  });

  it('a reply carrying another id → logged, and still the answer (HTTP pairs request and reply)', async () => {
    const fake = await fakeKamailio((req, res) => reply(res, { jsonrpc: '2.0', id: req.id + 100, result: 'up' }));
    server = fake.server;
    const warnings: unknown[][] = [];
    const rpc = new HttpKamailioRpc({
      url: fake.url,
      logger: { warn: (...args: unknown[]) => warnings.push(args) } as never,
    });
    await expect(rpc.call('core.uptime')).resolves.toBe('up');
    expect(warnings).toEqual([
      ['Kamailio RPC reply for another request', { method: 'core.uptime', requestId: 1, replyId: 101 }],
    ]);
  });
});

describe('kamailioRpcFromConfig', () => {
  it('KAMAILIO_RPC_PORT → the loopback xhttp endpoint /RPC', () => {
    const config = { kamailio: { rpcPort: 5081 } } as Parameters<typeof kamailioRpcUrl>[0];
    expect(kamailioRpcUrl(config)).toBe('http://127.0.0.1:5081/RPC');
    expect(kamailioRpcFromConfig(config)).toBeInstanceOf(HttpKamailioRpc);
  });
});
