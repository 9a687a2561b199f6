import { api } from '../support/api';

const prefix = `bk${Date.now().toString(36)}`;

interface BulkError {
  error: {
    code: string;
    message: string;
    errors?: Array<{ index: number; field: string; code: string; message: string }>;
    fields?: unknown[];
  };
}

async function countMatching(search: string): Promise<number> {
  const res = await api<{ total: number }>('GET', `/api/sip-users/?search=${encodeURIComponent(search)}`, {
    role: 'admin',
  });
  return res.body.total;
}

describe('POST /api/sip-users/bulk-create', () => {
  test('three valid users → 201, all created, each with its own one-time password', async () => {
    const users = ['a', 'b', 'c'].map((s) => ({ username: `${prefix}ok${s}`, display_name: `Bulk ${s}` }));
    const res = await api<{ created: number; users: Array<{ username: string; credentials: { password: string } }> }>(
      'POST',
      '/api/sip-users/bulk-create',
      { role: 'admin', body: { users } },
    );
    expect(res.status).toBe(201);
    expect(res.body.created).toBe(3);
    expect(res.body.users.map((u) => u.username)).toEqual(users.map((u) => u.username));
    expect(new Set(res.body.users.map((u) => u.credentials.password)).size).toBe(3);
    expect(await countMatching(`${prefix}ok`)).toBe(3);
  });

  test('one bad row among good ones → 400 listing every bad row; nothing created', async () => {
    const users = [
      { username: `${prefix}bad1` },
      { username: `${prefix}bad2`, max_concurrent_calls: -1 },
      { username: 'x!' },
      { username: `${prefix}bad4`, password: 'short', colour: 'blue' },
    ];
    const res = await api<BulkError>('POST', '/api/sip-users/bulk-create', { role: 'admin', body: { users } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    expect(res.body.error.errors).toEqual([
      { index: 1, field: 'max_concurrent_calls', code: 'ERR_VALIDATION', message: 'must be >= 0' },
      { index: 2, field: 'username', code: 'ERR_VALIDATION', message: expect.stringContaining('must match pattern') },
      { index: 3, field: 'colour', code: 'ERR_VALIDATION', message: 'is not allowed' },
      { index: 3, field: 'password', code: 'ERR_VALIDATION', message: 'must NOT have fewer than 8 characters' },
    ]);
    expect(await countMatching(`${prefix}bad`)).toBe(0);
  });

  test('the same username twice in the batch → 409 naming the later row; nothing created', async () => {
    const users = [{ username: `${prefix}twin` }, { username: `${prefix}solo` }, { username: `${prefix}twin` }];
    const res = await api<BulkError>('POST', '/api/sip-users/bulk-create', { role: 'admin', body: { users } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('ERR_SIP_USER_EXISTS');
    expect(res.body.error.errors).toEqual([
      { index: 2, field: 'username', code: 'ERR_SIP_USER_EXISTS', message: 'duplicates users[0].username' },
    ]);
    expect(await countMatching(`${prefix}twin`)).toBe(0);
    expect(await countMatching(`${prefix}solo`)).toBe(0);
  });

  test('a username that already exists → 409 naming its row; the other rows are not created', async () => {
    const existing = `${prefix}exists`;
    expect((await api('POST', '/api/sip-users/', { role: 'admin', body: { username: existing } })).status).toBe(201);
    const users = [{ username: `${prefix}new1` }, { username: existing }, { username: `${prefix}new2` }];
    const res = await api<BulkError>('POST', '/api/sip-users/bulk-create', { role: 'admin', body: { users } });
    expect(res.status).toBe(409);
    expect(res.body.error.errors).toEqual([
      { index: 1, field: 'username', code: 'ERR_SIP_USER_EXISTS', message: 'already exists' },
    ]);
    expect(await countMatching(`${prefix}new`)).toBe(0);
  });

  test('a schema error and an in-batch duplicate together → 400 with both rows', async () => {
    const users = [
      { username: `${prefix}mix` },
      { username: `${prefix}mix` },
      { username: `${prefix}mix2`, enabled: 'yes' },
    ];
    const res = await api<BulkError>('POST', '/api/sip-users/bulk-create', { role: 'admin', body: { users } });
    expect(res.status).toBe(400);
    expect(res.body.error.errors?.map((e) => [e.index, e.code])).toEqual([
      [1, 'ERR_SIP_USER_EXISTS'],
      [2, 'ERR_VALIDATION'],
    ]);
  });

  test('1000 users → 201 in one request; 1001 → 400 naming users; [] → 400', async () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => ({ username: `${prefix}k${i}` }));
    const ok = await api<{ created: number }>('POST', '/api/sip-users/bulk-create', {
      role: 'admin',
      body: { users: thousand },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.created).toBe(1000);
    expect(await countMatching(`${prefix}k`)).toBe(1000);

    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ username: `${prefix}m${i}` }));
    const over = await api<BulkError>('POST', '/api/sip-users/bulk-create', {
      role: 'admin',
      body: { users: tooMany },
    });
    expect(over.status).toBe(400);
    expect(over.body.error.fields).toEqual([{ field: 'users', message: 'must NOT have more than 1000 items' }]);

    const none = await api<BulkError>('POST', '/api/sip-users/bulk-create', { role: 'admin', body: { users: [] } });
    expect(none.status).toBe(400);
    expect(none.body.error.fields).toEqual([{ field: 'users', message: 'must NOT have fewer than 1 items' }]);
  });

  test('an operator token → 403, nothing created', async () => {
    const res = await api<BulkError>('POST', '/api/sip-users/bulk-create', {
      role: 'operator',
      body: { users: [{ username: `${prefix}op` }] },
    });
    expect(res.status).toBe(403);
    expect(await countMatching(`${prefix}op`)).toBe(0);
  });
});
