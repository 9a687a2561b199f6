import { Client } from 'pg';
import { api } from '../support/api';
import { testStack } from '../support/stack';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { digestHa1, digestHa1b } from '../../services/control-plane/src/sip-users/digest';

// Usernames unique to this run of this suite, so other suites' users never match a search.
const prefix = `su${Date.now().toString(36)}`;
let counter = 0;
const uniqueName = (label = 'u'): string => `${prefix}${label}${++counter}`;

interface User {
  id: number;
  username: string;
  domain: string;
  display_name: string | null;
  max_concurrent_calls: number;
  enabled: boolean;
  email: string | null;
  notes: string | null;
  created_at: string;
  updated_at: string;
  password_changed_at: string;
  lock: { locked: boolean; failed_attempts: number } | null;
  credentials?: { username: string; password: string; domain: string; realm: string; generated: boolean };
  warning?: string;
}

interface Page {
  items: User[];
  total: number;
  page: number;
  per_page: number;
}

async function subscriberRow(username: string): Promise<Record<string, unknown> | undefined> {
  const client = new Client({ connectionString: testStack().env['DATABASE_URL'] });
  await client.connect();
  try {
    const { rows } = await client.query(
      'SELECT username, domain, password, ha1, ha1b, enabled FROM subscriber WHERE username = $1',
      [username],
    );
    return rows[0] as Record<string, unknown> | undefined;
  } finally {
    await client.end();
  }
}

describe('SIP users: create, read, update, delete', () => {
  test('POST with a password → 201, defaults applied, credentials shown once, HA1 stored, plain password not', async () => {
    const username = uniqueName('create');
    const res = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username, password: 'correct-horse-battery', display_name: 'Ada L.', email: 'ada@example.com' },
    });
    expect(res.status).toBe(201);
    const { domain } = testStack().config.sip;
    expect(res.body).toMatchObject({
      username,
      domain,
      display_name: 'Ada L.',
      email: 'ada@example.com',
      notes: null,
      max_concurrent_calls: 3,
      enabled: true,
      lock: { locked: false, failed_attempts: 0 },
      credentials: { username, password: 'correct-horse-battery', domain, realm: domain, generated: false },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/ha1/i);

    const row = await subscriberRow(username);
    expect(row).toEqual({
      username,
      domain,
      password: '',
      ha1: digestHa1(username, domain, 'correct-horse-battery'),
      ha1b: digestHa1b(username, domain, domain, 'correct-horse-battery'),
      enabled: 1,
    });

    const again = await api<User>('GET', `/api/sip-users/${res.body.id}`, { role: 'admin' });
    expect(again.status).toBe(200);
    expect(again.body.credentials).toBeUndefined();
    expect(JSON.stringify(again.body)).not.toContain('correct-horse-battery');
  });

  test('POST without a password → a generated 24-character password in credentials', async () => {
    const res = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('gen'), enabled: false, max_concurrent_calls: 0 },
    });
    expect(res.status).toBe(201);
    expect(res.body.enabled).toBe(false);
    expect(res.body.max_concurrent_calls).toBe(0);
    expect(res.body.credentials?.generated).toBe(true);
    expect(res.body.credentials?.password).toMatch(/^[A-Za-z0-9]{24}$/);
  });

  test('POST an existing username → 409 ERR_SIP_USER_EXISTS naming the field', async () => {
    const username = uniqueName('dup');
    expect((await api('POST', '/api/sip-users/', { role: 'admin', body: { username } })).status).toBe(201);
    const res = await api<{ error: { code: string; fields: unknown[] } }>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username },
    });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('ERR_SIP_USER_EXISTS');
    expect(res.body.error.fields).toEqual([{ field: 'username', message: 'already exists' }]);
  });

  test('PUT changes only the given fields', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('put'), notes: 'keep me' },
    });
    const res = await api<User>('PUT', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
      body: { display_name: 'Renamed', max_concurrent_calls: 7, email: null },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      display_name: 'Renamed',
      max_concurrent_calls: 7,
      email: null,
      notes: 'keep me',
      enabled: true,
    });
    expect(res.body.credentials).toBeUndefined();
    expect(res.body.password_changed_at).toBe(created.body.password_changed_at);
    expect(Date.parse(res.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.body.updated_at));
  });

  test('PUT with a password → new HA1 and the password shown once in credentials', async () => {
    const created = await api<User>('POST', '/api/sip-users/', { role: 'admin', body: { username: uniqueName('pw') } });
    const username = created.body.username;
    const res = await api<User>('PUT', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
      body: { password: 'another-good-password' },
    });
    expect(res.status).toBe(200);
    expect(res.body.credentials).toMatchObject({ username, password: 'another-good-password', generated: false });
    const { domain } = testStack().config.sip;
    expect((await subscriberRow(username))?.['ha1']).toBe(digestHa1(username, domain, 'another-good-password'));
    expect(Date.parse(res.body.password_changed_at)).toBeGreaterThan(Date.parse(created.body.password_changed_at));
  });

  test('PUT reset_password: true → a generated password; with password too → 400 naming reset_password', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('reset') },
    });
    const res = await api<User>('PUT', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
      body: { reset_password: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.credentials?.generated).toBe(true);
    expect(res.body.credentials?.password).not.toBe(created.body.credentials?.password);

    const both = await api<{ error: { code: string; fields: Array<{ field: string }> } }>(
      'PUT',
      `/api/sip-users/${created.body.id}`,
      {
        role: 'admin',
        body: { reset_password: true, password: 'x-long-enough-password' },
      },
    );
    expect(both.status).toBe(400);
    expect(both.body.error.fields[0]?.field).toBe('reset_password');
  });

  test('PUT enabled: false → stored as 0 (Kamailio refuses the account from the next request)', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('dis') },
    });
    const res = await api<User>('PUT', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
      body: { enabled: false },
    });
    expect(res.status).toBe(200);
    expect(res.body.enabled).toBe(false);
    expect(res.body.warning).toBeUndefined();
    expect((await subscriberRow(created.body.username))?.['enabled']).toBe(0);
  });

  test('PUT username → 400: the username cannot change', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('ren') },
    });
    const res = await api<{ error: { fields: unknown[] } }>('PUT', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
      body: { username: 'other' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([{ field: 'username', message: 'is not allowed' }]);
  });

  test('DELETE → 200 with registrations removed; then GET, PUT, DELETE → 404 ERR_SIP_USER_NOT_FOUND', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('del') },
    });
    const id = created.body.id;
    const res = await api('DELETE', `/api/sip-users/${id}`, { role: 'admin' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id, username: created.body.username, deleted: true, registrations_removed: true });
    expect(await subscriberRow(created.body.username)).toBeUndefined();
    for (const [method, body] of [
      ['GET', undefined],
      ['PUT', { notes: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const gone = await api<{ error: { code: string } }>(method, `/api/sip-users/${id}`, { role: 'admin', body });
      expect(gone.status).toBe(404);
      expect(gone.body.error.code).toBe('ERR_SIP_USER_NOT_FOUND');
    }
  });

  test('GET /{id} with a non-numeric id → 400 naming id', async () => {
    const res = await api<{ error: { code: string; fields: unknown[] } }>('GET', '/api/sip-users/abc', {
      role: 'admin',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([{ field: 'id', message: 'must be integer' }]);
  });
});

describe('SIP users: list, pagination, search', () => {
  const group = `${prefix}list`;
  const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo'].map((n) => `${group}${n}`);

  beforeAll(async () => {
    for (const [i, username] of names.entries()) {
      const res = await api('POST', '/api/sip-users/', {
        role: 'admin',
        body: { username, display_name: i === 4 ? 'Special Agent' : null, enabled: i !== 1 },
      });
      expect(res.status).toBe(201);
    }
  });

  test('per_page=2 over 5 matches → 3 pages in id order, total 5', async () => {
    const seen: string[] = [];
    for (const page of [1, 2, 3]) {
      const res = await api<Page>('GET', `/api/sip-users/?search=${group}&per_page=2&page=${page}`, { role: 'admin' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ total: 5, page, per_page: 2 });
      seen.push(...res.body.items.map((u) => u.username));
    }
    expect(seen).toEqual(names);
  });

  test('page past the end → empty items, same total', async () => {
    const res = await api<Page>('GET', `/api/sip-users/?search=${group}&per_page=2&page=9`, { role: 'admin' });
    expect(res.body.items).toEqual([]);
    expect(res.body.total).toBe(5);
  });

  test('search matches display_name, case-insensitively', async () => {
    const res = await api<Page>('GET', '/api/sip-users/?search=special%20AGENT', { role: 'admin' });
    expect(res.body.items.map((u) => u.username)).toContain(`${group}echo`);
  });

  test('search treats % and _ literally', async () => {
    const res = await api<Page>('GET', `/api/sip-users/?search=${encodeURIComponent(`${group}%`)}`, { role: 'admin' });
    expect(res.body.total).toBe(0);
  });

  test('enabled=false → only disabled users', async () => {
    const res = await api<Page>('GET', `/api/sip-users/?search=${group}&enabled=false`, { role: 'admin' });
    expect(res.body.items.map((u) => u.username)).toEqual([`${group}bravo`]);
  });

  test('defaults: page 1, per_page 50; every item has lock state and no secrets', async () => {
    const res = await api<Page>('GET', `/api/sip-users/?search=${group}`, { role: 'admin' });
    expect(res.body).toMatchObject({ page: 1, per_page: 50, total: 5 });
    for (const u of res.body.items) {
      expect(u.lock).toMatchObject({ locked: false });
      expect(u.credentials).toBeUndefined();
    }
    expect(JSON.stringify(res.body)).not.toMatch(/ha1|"password"/);
  });

  test('per_page=201, page=0, unknown parameter → 400 naming each', async () => {
    const res = await api<{ error: { fields: Array<{ field: string }> } }>(
      'GET',
      '/api/sip-users/?per_page=201&page=0&sort=name',
      { role: 'admin' },
    );
    expect(res.status).toBe(400);
    expect(res.body.error.fields.map((f) => f.field).sort()).toEqual(['page', 'per_page', 'sort']);
  });
});

describe('SIP users: credentials, stats, unlock', () => {
  test('GET credentials → client config with proxy, port, transports and no password', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('cfg'), password: 'client-config-pw' },
    });
    const res = await api('GET', `/api/sip-users/${created.body.id}/credentials`, { role: 'admin' });
    const { sip } = testStack().config;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      username: created.body.username,
      domain: sip.domain,
      realm: sip.domain,
      proxy: sip.proxyAddress,
      port: sip.port,
      transport: 'UDP',
      transports: ['UDP', 'TCP'],
      password: null,
    });
    expect(res.body['password_hint']).toEqual(expect.stringContaining('reset_password'));
    expect(JSON.stringify(res.body)).not.toContain('client-config-pw');
  });

  test('GET stats of a new user → no registrations, 0 active calls, zero CDR totals', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('st'), max_concurrent_calls: 4 },
    });
    const res = await api('GET', `/api/sip-users/${created.body.id}/stats`, { role: 'admin' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: created.body.id,
      username: created.body.username,
      registrations: [],
      active_calls: 0,
      max_concurrent_calls: 4,
      lock: expect.objectContaining({ locked: false, failed_attempts: 0 }),
      calls: {
        as_caller: { count: 0, total_duration_seconds: 0, last_call_at: null },
        as_callee: { count: 0, total_duration_seconds: 0, last_call_at: null },
      },
    });
  });

  test('GET stats counts acc_cdrs rows as caller and as callee', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('cdr') },
    });
    const username = created.body.username;
    const client = new Client({ connectionString: testStack().env['DATABASE_URL'] });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO acc_cdrs (start_time, end_time, duration, callid, src_user, dst_user) VALUES
          ('2026-01-02 10:00:00', '2026-01-02 10:01:00', 60, $2, $1, 'someone'),
          ('2026-01-03 10:00:00', '2026-01-03 10:00:30.5', 30.5, $3, $1, 'someone'),
          ('2026-01-04 10:00:00', '2026-01-04 10:00:10', 10, $4, 'someone', $1)`,
        [username, `${username}-1`, `${username}-2`, `${username}-3`],
      );
    } finally {
      await client.end();
    }
    const res = await api<{ calls: { as_caller: Record<string, unknown>; as_callee: Record<string, unknown> } }>(
      'GET',
      `/api/sip-users/${created.body.id}/stats`,
      { role: 'admin' },
    );
    expect(res.body.calls.as_caller).toMatchObject({ count: 2, total_duration_seconds: 90.5 });
    expect(res.body.calls.as_callee).toMatchObject({ count: 1, total_duration_seconds: 10 });
    expect(res.body.calls.as_caller['last_call_at']).toEqual(expect.stringMatching(/^2026-01-03T/));
  });

  test('POST unlock of an unlocked user → 200, still unlocked (idempotent)', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('unl') },
    });
    const res = await api<User>('POST', `/api/sip-users/${created.body.id}/unlock`, { role: 'admin' });
    expect(res.status).toBe(200);
    expect(res.body.lock).toMatchObject({ locked: false, failed_attempts: 0 });
  });

  test('locked in Kamailio (htables lockout, pairlock, authfail set) → GET shows the locks; POST unlock clears them all', async () => {
    const created = await api<User>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username: uniqueName('lock') },
    });
    const username = created.body.username;
    const rpc = kamailioRpcFromConfig(testStack().config);
    const lockedAt = Math.floor(Date.now() / 1000);
    const { lockSeconds } = testStack().config.sip.lockout;
    await rpc.call('htable.seti', 'lockout', username, lockedAt);
    await rpc.call('htable.seti', 'pairlock', `${username}@127.0.0.66`, lockedAt);
    await rpc.call('htable.seti', 'authfail', `${username}@127.0.0.67`, 2);

    const locked = await api<{ lock: Record<string, unknown> }>('GET', `/api/sip-users/${created.body.id}`, {
      role: 'admin',
    });
    expect(locked.body.lock).toEqual({
      locked: true,
      failed_attempts: 2,
      max_failures: testStack().config.sip.lockout.maxFailures,
      locked_at: new Date(lockedAt * 1000).toISOString(),
      locked_until: new Date((lockedAt + lockSeconds) * 1000).toISOString(),
      locked_sources: [
        {
          source: '127.0.0.66',
          locked_at: new Date(lockedAt * 1000).toISOString(),
          locked_until: new Date((lockedAt + lockSeconds) * 1000).toISOString(),
        },
      ],
    });

    const unlocked = await api<User>('POST', `/api/sip-users/${created.body.id}/unlock`, { role: 'admin' });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body.lock).toMatchObject({
      locked: false,
      failed_attempts: 0,
      locked_at: null,
      locked_sources: [],
    });
    await expect(rpc.call('htable.get', 'lockout', username)).rejects.toThrow(/doesn't exist/);
    await expect(rpc.call('htable.get', 'pairlock', `${username}@127.0.0.66`)).rejects.toThrow(/doesn't exist/);
  });

  test('POST unlock of an unknown id → 404', async () => {
    const res = await api<{ error: { code: string } }>('POST', '/api/sip-users/2147483000/unlock', { role: 'admin' });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('ERR_SIP_USER_NOT_FOUND');
  });
});
