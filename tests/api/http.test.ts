import { api, createUser, token } from '../support/api';
import { expectSippSuccess, register } from '../support/sip';
import { testStack } from '../support/stack';

interface ErrorBody {
  error: { code: string; message: string; fields?: Array<{ field: string; message: string }> };
}

async function raw(
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string>; role?: 'admin' | 'operator' } = {},
) {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.role) headers['authorization'] = `Bearer ${await token(init.role)}`;
  const res = await fetch(`${testStack().apiUrl}${path}`, { method, headers, body: init.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as ErrorBody };
}

describe('HTTP errors are JSON from the catalogue', () => {
  test('unknown route → 404 ERR_NOT_FOUND as JSON', async () => {
    const res = await raw('GET', '/api/no-such-thing', { role: 'admin' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json().error.code).toBe('ERR_NOT_FOUND');
  });

  test('unknown route without a token → 404 too (routing before auth)', async () => {
    expect((await raw('GET', '/nothing-here')).status).toBe(404);
  });

  test('malformed JSON → 400 ERR_BAD_JSON', async () => {
    const res = await raw('POST', '/api/sip-users/', {
      role: 'admin',
      body: '{"username": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.json().error.code).toBe('ERR_BAD_JSON');
  });

  test('a JSON string instead of an object → 400', async () => {
    const res = await raw('POST', '/api/sip-users/', {
      role: 'admin',
      body: '"alice"',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
  });

  test('a form body → 415 ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await raw('POST', '/api/sip-users/', {
      role: 'admin',
      body: 'username=alice',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(res.json().error.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  test('a body over 2 MiB → 413 ERR_PAYLOAD_TOO_LARGE', async () => {
    const body = JSON.stringify({ users: [{ username: 'big', notes: 'x'.repeat(3 * 1024 * 1024) }] });
    const res = await raw('POST', '/api/sip-users/bulk-create', {
      role: 'admin',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(res.json().error.code).toBe('ERR_PAYLOAD_TOO_LARGE');
  });

  test('malformed fields → 400 ERR_VALIDATION naming each field', async () => {
    const res = await api<ErrorBody>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: 'ok-name', max_concurrent_calls: -1, email: 'not-an-email', enabled: 'yes', password: 'short' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    expect(res.body.error.fields).toEqual(
      expect.arrayContaining([
        { field: 'max_concurrent_calls', message: 'must be >= 0' },
        { field: 'email', message: 'must match format "email"' },
        { field: 'enabled', message: 'must be boolean' },
        { field: 'password', message: 'must NOT have fewer than 8 characters' },
      ]),
    );
    expect(res.body.error.fields).toHaveLength(4);
    expect(res.body.error.message).toMatch(/^request body is invalid: /);
  });

  test('missing username → 400 naming username as required', async () => {
    const res = await api<ErrorBody>('POST', '/api/sip-users/', { role: 'admin', body: { display_name: 'Nobody' } });
    expect(res.body.error.fields).toEqual([{ field: 'username', message: 'is required' }]);
  });

  test('max_concurrent_calls as a string → 400 (JSON bodies are not coerced)', async () => {
    const res = await api<ErrorBody>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: 'typed-user', max_concurrent_calls: '3' },
    });
    expect(res.body.error.fields).toEqual([{ field: 'max_concurrent_calls', message: 'must be integer' }]);
  });

  test('every response carries X-Request-Id; a sane caller id is echoed', async () => {
    const res = await raw('GET', '/health', { headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    const other = await raw('GET', '/health', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('monitoring endpoints', () => {
  test('GET /health → 200 with the database latency', async () => {
    const res = await raw('GET', '/health');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as { status: string; database: { status: string; latency_ms: number } };
    expect(body.status).toBe('ok');
    expect(body.database.status).toBe('ok');
    expect(body.database.latency_ms).toBeGreaterThanOrEqual(0);
  });

  test('GET /api/config/status → 200 "ok": PostgreSQL, Kamailio and the relay answer, with latencies', async () => {
    const res = await api<{
      status: string;
      components: Record<
        string,
        { status: string; latency_ms: number; version?: string; events_connected?: boolean; kind?: string }
      >;
      sip: { domain: string };
    }>('GET', '/api/config/status', { role: 'operator' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    const { database, kamailio, media_relay: relay } = res.body.components;
    expect(database?.status).toBe('ok');
    expect(kamailio).toMatchObject({
      status: 'ok',
      version: expect.stringMatching(/^kamailio 5\./),
      events_connected: true,
    });
    expect(relay).toMatchObject({ status: 'ok', kind: testStack().config.relay.kind });
    for (const c of [database, kamailio, relay]) expect(c?.latency_ms).toBeGreaterThanOrEqual(0);
    expect(res.body.sip.domain).toBe(testStack().config.sip.domain);
  });

  test('GET /metrics → Prometheus text with process, HTTP, evapi and Kamailio series', async () => {
    await raw('GET', '/health');
    const res = await raw('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const series of [
      'process_cpu_user_seconds_total',
      'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health",status="200"}',
      'kamailio_registrations_total{kind="register"}',
      'kamailio_auth_failures_total',
      'kamailio_account_lockouts_total',
      'kamailio_dialogs_total{outcome="started"}',
      'kamailio_flood_bans_total',
      'kamailio_evapi_connected 1',
      'kamailio_up 1',
      'kamailio_registered_users',
      'kamailio_active_dialogs',
      'kamailio_active_transactions',
      'kamailio_received_requests',
    ]) {
      expect(res.text).toContain(series);
    }
  });

  test('registrations through Kamailio show up in kamailio_registrations_total (evapi)', async () => {
    const read = async (): Promise<number> => {
      const text = (await raw('GET', '/metrics')).text;
      return Number(/^kamailio_registrations_total\{kind="register"\} (\d+)/m.exec(text)?.[1] ?? NaN);
    };
    const before = await read();
    const u = await createUser();
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 200 }), 'register');
    const deadline = Date.now() + 5000;
    let after = await read();
    while (after <= before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await read();
    }
    expect(after).toBeGreaterThan(before);
  });
});
