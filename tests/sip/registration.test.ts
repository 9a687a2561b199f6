import { api, createUser } from '../support/api';
import { expectSippSuccess, register } from '../support/sip';
import { testStack } from '../support/stack';

describe('REGISTER with digest auth against API-created users', () => {
  test('a user created through the API registers (401 challenge, then 200)', async () => {
    const u = await createUser();
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 200 }), 'register');
    const stats = await api<{ registrations: unknown[] }>('GET', `/api/sip-users/${u.id}/stats`, { role: 'admin' });
    expect(stats.status).toBe(200);
    expect(stats.body.registrations).toHaveLength(1);
  });

  test('a wrong password gets 401 again', async () => {
    const u = await createUser();
    expectSippSuccess(await register(u.username, 'not-the-password', { first: 401, final: 401 }), 'wrong password');
  });

  test('N wrong passwords lock the account for that source: 403 even with the right password, until unlocked through the API', async () => {
    const u = await createUser();
    const n = testStack().config.sip.lockout.maxFailures;
    for (let i = 1; i < n; i++) {
      expectSippSuccess(await register(u.username, 'wrong-password', { first: 401, final: 401 }), `failure ${i}`);
    }
    expectSippSuccess(await register(u.username, 'wrong-password', { first: 401, final: 403 }), `failure ${n} locks`);
    expectSippSuccess(await register(u.username, u.password, { first: 403 }), 'locked account, right password');

    // Locked for this source only (tests/security/brute-force.test.ts: other sources are not).
    type Lock = { lock: { locked: boolean; locked_sources: Array<{ source: string }> } };
    const locked = await api<Lock>('GET', `/api/sip-users/${u.id}`, { role: 'admin' });
    expect(locked.body.lock.locked).toBe(false);
    expect(locked.body.lock.locked_sources.map((l) => l.source)).toEqual(['127.0.0.1']);

    const unlock = await api<Lock>('POST', `/api/sip-users/${u.id}/unlock`, { role: 'admin' });
    expect(unlock.status).toBe(200);
    expect(unlock.body.lock.locked_sources).toEqual([]);
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 200 }), 'after unlock');
  });

  test('a failed attempt below the limit is forgiven by a successful login', async () => {
    const u = await createUser();
    const n = testStack().config.sip.lockout.maxFailures;
    for (let round = 0; round < 2; round++) {
      for (let i = 1; i < n; i++) {
        expectSippSuccess(
          await register(u.username, 'wrong-password', { first: 401, final: 401 }),
          `round ${round} failure ${i}`,
        );
      }
      expectSippSuccess(await register(u.username, u.password, { first: 401, final: 200 }), `round ${round} success`);
    }
  });

  test('deleting a user makes its next REGISTER fail', async () => {
    const u = await createUser();
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 200 }), 'before delete');
    const del = await api('DELETE', `/api/sip-users/${u.id}`, { role: 'admin' });
    expect([200, 204]).toContain(del.status);
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 401 }), 'after delete');
  });

  test('a new password takes effect at once, without restarting Kamailio', async () => {
    const u = await createUser();
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 200 }), 'old password');
    const newPassword = 'a-brand-new-password-42';
    const put = await api('PUT', `/api/sip-users/${u.id}`, { role: 'admin', body: { password: newPassword } });
    expect(put.status).toBe(200);
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 401 }), 'old password refused');
    expectSippSuccess(await register(u.username, newPassword, { first: 401, final: 200 }), 'new password accepted');
  });

  test('a disabled user is refused with 403', async () => {
    const u = await createUser({ enabled: false });
    expectSippSuccess(await register(u.username, u.password, { first: 401, final: 403 }), 'disabled');
  });
});
