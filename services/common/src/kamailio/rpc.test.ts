import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HttpKamailioRpc,
  KamailioRpcError,
  KamailioUnavailableError,
  kamailioRpcFromConfig,
  kamailioRpcUrl,
} from './rpc';
import { loadConfig } from '../config';

const CONFIG_SECRETS = {
  DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/db',
  JWT_SECRET_KEY: 'x'.repeat(32),
  SIP_JWT_SECRET: 'y'.repeat(32),
  SIP_SHARED_SECRET: 'z'.repeat(32),
  PROXY_SHARED_SECRET: 'p'.repeat(32),
};

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
  const url = (env: Record<string, string>): string => kamailioRpcUrl(loadConfig({ ...CONFIG_SECRETS, ...env }));

  it('the defaults → the loopback xhttp endpoint /RPC on KAMAILIO_RPC_PORT', () => {
    expect(url({ KAMAILIO_RPC_PORT: '5081' })).toBe('http://127.0.0.1:5081/RPC');
    expect(kamailioRpcFromConfig(loadConfig(CONFIG_SECRETS))).toBeInstanceOf(HttpKamailioRpc);
  });

  it('KAMAILIO_RPC_HOST → that host: a Service name, an address, an IPv6 address in brackets', () => {
    expect(url({ KAMAILIO_RPC_HOST: 'sab-kamailio', KAMAILIO_RPC_PORT: '6081' })).toBe('http://sab-kamailio:6081/RPC');
    expect(url({ KAMAILIO_RPC_HOST: '127.0.0.3' })).toBe('http://127.0.0.3:5081/RPC');
    expect(url({ KAMAILIO_RPC_HOST: 'fd00::5' })).toBe('http://[fd00::5]:5081/RPC');
  });

  it('KAMAILIO_RPC_HOST=127.0.0.3 → requests reach a server listening there only', async () => {
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: 'kamailio 5.6' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.3', resolve));
    const port = (server.address() as AddressInfo).port;
    const rpc = kamailioRpcFromConfig(
      loadConfig({ ...CONFIG_SECRETS, KAMAILIO_RPC_HOST: '127.0.0.3', KAMAILIO_RPC_PORT: String(port) }),
    );
    try {
      await expect(rpc.call('core.version')).resolves.toBe('kamailio 5.6');
    } finally {
      await rpc.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
