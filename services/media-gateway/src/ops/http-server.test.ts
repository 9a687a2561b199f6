import { OpsHttpServer, type Readiness } from './http-server';

describe('OpsHttpServer', () => {
  let active = 0;
  const server = new OpsHttpServer({
    gatewayId: '127.0.0.1:5070',
    activeCalls: () => active,
    registry: { contentType: 'text/plain; version=0.0.4', metrics: () => Promise.resolve('gateway_calls_total 3\n') },
  });
  const url = (path: string): string => `http://127.0.0.1:${server.port}${path}`;

  beforeAll(() => server.listen(0, '127.0.0.1'));
  afterAll(() => server.close());

  test('GET /health → ok, the gateway id and its active calls now', async () => {
    active = 2;
    const res = await fetch(url('/health'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', gateway: '127.0.0.1:5070', active_calls: 2 });
  });

  test('not ready (draining, database unreachable, a failing check) → /health 503 with the status and reason; /live 200', async () => {
    let readiness: () => Promise<Readiness> = () =>
      Promise.resolve({ ready: false, status: 'draining', reason: 'stopping' });
    const probed = new OpsHttpServer({
      gatewayId: 'gw-2',
      activeCalls: () => 1,
      registry: { contentType: '', metrics: () => Promise.resolve('') },
      readiness: () => readiness(),
    });
    await probed.listen(0, '127.0.0.1');
    try {
      const at = (path: string): string => `http://127.0.0.1:${probed.port}${path}`;
      let res = await fetch(at('/health'));
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'draining', reason: 'stopping', gateway: 'gw-2', active_calls: 1 });
      readiness = () => Promise.reject(new Error('connect ECONNREFUSED'));
      res = await fetch(at('/health'));
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'unavailable', reason: 'connect ECONNREFUSED' });
      expect((await fetch(at('/live'))).status).toBe(200);
      readiness = () => Promise.resolve({ ready: true });
      expect((await fetch(at('/health'))).status).toBe(200);
    } finally {
      await probed.close();
    }
  });

  test('GET /metrics → the registry in its own content type', async () => {
    const res = await fetch(url('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4');
    expect(await res.text()).toBe('gateway_calls_total 3\n');
  });

  test('anything else → 404', async () => {
    expect((await fetch(url('/'))).status).toBe(404);
  });

  test('a port already taken → listen rejects', async () => {
    const other = new OpsHttpServer({
      gatewayId: 'x',
      activeCalls: () => 0,
      registry: { contentType: '', metrics: () => Promise.resolve('') },
    });
    await expect(other.listen(server.port, '127.0.0.1')).rejects.toThrow(/EADDRINUSE/);
    await other.close();
  });
});
