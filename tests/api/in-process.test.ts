import { createServer, type AddressInfo } from 'node:net';
import { api, token } from '../support/api';
import { startInProcessApp, type InProcessApp } from './in-process';

/** Status of a request; the body is read so the connection is released. */
async function statusOf(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}

/** A TCP port that nothing listens on (bound, read, released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('rate limits (a second app with tiny limits)', () => {
  let app: InProcessApp;

  beforeAll(async () => {
    app = await startInProcessApp({ API_RATE_LIMIT_PER_IP: '5', API_RATE_LIMIT_PER_TOKEN: '3' });
  });
  afterAll(() => app.close());

  test('fourth request with the same token → 429 ERR_RATE_LIMITED with Retry-After', async () => {
    const bearer = await token('operator', 600, app.stack);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${app.url}/api/config/status`, { headers: { authorization: `Bearer ${bearer}` } });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
      else await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    const retryAfter = Number(limited?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await limited?.json()).toMatchObject({
      error: { code: 'ERR_RATE_LIMITED', retry_after_seconds: retryAfter },
    });
  });

  test('past the per-address limit → 429 on every endpoint, even without a token', async () => {
    // The address has spent 4 of its 5 points in the test above.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(await statusOf(`${app.url}/health`));
    expect(statuses).toEqual([200, 429, 429]);
    const metrics = await fetch(`${app.url}/metrics`);
    expect(metrics.status).toBe(429);
    expect(metrics.headers.get('retry-after')).toMatch(/^\d+$/);
    await metrics.arrayBuffer();
  });
});

describe('source allowlist (API_ALLOWED_CIDRS)', () => {
  test('10.0.0.0/8 only → requests from 127.0.0.1 get 403 ERR_SOURCE_NOT_ALLOWED on every endpoint', async () => {
    const app = await startInProcessApp({ API_ALLOWED_CIDRS: '10.0.0.0/8' });
    try {
      for (const path of ['/health', '/metrics', '/api/sip-users/']) {
        const res = await fetch(`${app.url}${path}`);
        expect([path, res.status]).toEqual([path, 403]);
        expect(await res.json()).toMatchObject({ error: { code: 'ERR_SOURCE_NOT_ALLOWED' } });
      }
    } finally {
      await app.close();
    }
  });

  test('127.0.0.0/8 on a dual-stack listener → IPv4 clients (seen as ::ffff:127.0.0.1) are allowed', async () => {
    const app = await startInProcessApp({ API_ALLOWED_CIDRS: '192.0.2.0/24, 127.0.0.0/8' }, '::');
    try {
      const port = new URL(app.url).port;
      expect(await statusOf(`http://127.0.0.1:${port}/health`)).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('Kamailio down (a second app pointed at a closed RPC port)', () => {
  let app: InProcessApp;

  beforeAll(async () => {
    app = await startInProcessApp({ KAMAILIO_RPC_PORT: String(await closedPort()) });
  });
  afterAll(() => app.close());

  test('GET user → 200 with lock null and the reason', async () => {
    const created = await api<{ id: number; lock: unknown; lock_error: string }>('POST', '/api/sip-users/', {
      role: 'admin',
      stack: app.stack,
      body: { username: `kd${Date.now().toString(36)}a` },
    });
    expect(created.status).toBe(201);
    expect(created.body.lock).toBeNull();
    expect(created.body.lock_error).toMatch(/did not answer/);
  });

  test('disable and DELETE → the DB change stands, with a warning that registrations were not removed', async () => {
    const created = await api<{ id: number }>('POST', '/api/sip-users/', {
      role: 'admin',
      stack: app.stack,
      body: { username: `kd${Date.now().toString(36)}b` },
    });
    const disabled = await api<{ enabled: boolean; warning: string }>('PUT', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
      stack: app.stack,
      body: { enabled: false },
    });
    expect(disabled.status).toBe(200);
    expect(disabled.body.enabled).toBe(false);
    expect(disabled.body.warning).toMatch(/registrations were not removed/);

    const deleted = await api<{ deleted: boolean; registrations_removed: boolean; warning: string }>(
      'DELETE',
      `/api/sip-users/${created.body.id}`,
      {
        role: 'admin',
        stack: app.stack,
      },
    );
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ deleted: true, registrations_removed: false });
    expect(deleted.body.warning).toMatch(/registrations were not removed/);
    // The real control-plane (same database) no longer knows the user either.
    expect((await api('GET', `/api/sip-users/${created.body.id}`, { role: 'admin' })).status).toBe(404);
  });

  test('unlock → 503 ERR_KAMAILIO_UNAVAILABLE; stats → 200 with CDR totals and kamailio_error', async () => {
    const created = await api<{ id: number }>('POST', '/api/sip-users/', {
      role: 'admin',
      stack: app.stack,
      body: { username: `kd${Date.now().toString(36)}c` },
    });
    const unlock = await api<{ error: { code: string } }>('POST', `/api/sip-users/${created.body.id}/unlock`, {
      role: 'admin',
      stack: app.stack,
    });
    expect(unlock.status).toBe(503);
    expect(unlock.body.error.code).toBe('ERR_KAMAILIO_UNAVAILABLE');
    const stats = await api<Record<string, unknown>>('GET', `/api/sip-users/${created.body.id}/stats`, {
      role: 'admin',
      stack: app.stack,
    });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      registrations: null,
      active_calls: null,
      lock: null,
      calls: { as_caller: { count: 0 } },
    });
    expect(stats.body['kamailio_error']).toMatch(/did not answer/);
  });

  test('GET /metrics → 200 with kamailio_up 0 and no stale Kamailio gauges', async () => {
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^kamailio_up 0$/m);
    expect(text).not.toMatch(/^kamailio_registered_users /m);
  });

  test('GET /api/config/status → 200 "degraded" with the Kamailio error', async () => {
    const res = await api<{
      status: string;
      components: { kamailio: { status: string; error: string }; database: { status: string } };
    }>('GET', '/api/config/status', { role: 'operator', stack: app.stack });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.components.kamailio.status).toBe('error');
    expect(res.body.components.kamailio.error).toMatch(/ECONNREFUSED|did not answer/);
    expect(res.body.components.database.status).toBe('ok');
  });
});

describe('app lifecycle', () => {
  test('close() twice → resolves both times; the port is released', async () => {
    const app = await startInProcessApp();
    const port = Number(new URL(app.url).port);
    expect(await statusOf(`${app.url}/health`)).toBe(200);
    await app.app.close();
    await app.app.close();
    await app.close();
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
