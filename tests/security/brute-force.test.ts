import { api, createUser, type CreatedUser } from '../support/api';
import { startCall } from '../support/calls';
import { guessPasswords, passwordList, type GuessRun } from '../support/password-guesser';
import { expectSippSuccess, register } from '../support/sip';
import { testStack } from '../support/stack';

/**
 * Brute-force protection that stops the attacker without locking out the owner
 * (kamailio.cfg route[CHECK_LOCK] / route[AUTH_FAILED]): locks per account and
 * source, bans for sources that keep failing or fail across accounts, account-wide
 * locks only for distributed attacks (the owner's trusted sources still get in), and
 * the API that shows and lifts each of them. Each attacker has a 127/8 address of
 * its own; the owners use 127.0.0.1.
 */

interface Locks {
  accounts: Array<{ username: string; locked_until: string }>;
  account_sources: Array<{ username: string; source: string; locked_until: string }>;
  sources: Array<{ source: string; reason: string; banned_until: string | null }>;
}

const locks = async (): Promise<Locks> => {
  const res = await api<Locks>('GET', '/api/security/locks', { role: 'admin' });
  expect(res.status).toBe(200);
  return res.body;
};

function attack(source: string, user: string, passwords: readonly string[]): Promise<GuessRun> {
  const { config, sipHost, sipPort } = testStack();
  return guessPasswords({
    target: { host: sipHost, port: sipPort },
    source,
    user,
    domain: config.sip.domain,
    passwords,
  });
}

/** One REGISTER with a wrong password from `source`, expecting `final`. */
async function failOnce(user: CreatedUser, source: string, final: 401 | 403): Promise<void> {
  expectSippSuccess(
    await register(user.username, `wrong-${source}`, { first: 401, final }, { localIp: source }),
    `wrong password from ${source}`,
  );
}

describe('brute force: the attacker is stopped, the owner is not', () => {
  const { config } = testStack();
  const bruteForce = config.sip.bruteForce;

  test('200 passwords from 127.0.0.5 (the right one at line 50) while the owner registers and calls from 127.0.0.1: owner always succeeds, attacker never gets 200 and ends banned', async () => {
    const owner = await createUser();
    const friend = await createUser();
    const attacker = '127.0.0.5';
    const passwords = passwordList(200, owner.password, 49);

    const attackRun = attack(attacker, owner.username, passwords);
    // The owner keeps using the account while the attack runs: registrations and a call.
    const ownerRegistrations = (async () => {
      const runs = [];
      for (let i = 0; i < 6; i++) {
        runs.push(await register(owner.username, owner.password, { first: 401, final: 200 }));
        await new Promise((r) => setTimeout(r, 300));
      }
      return runs;
    })();
    const call = await startCall(testStack(), owner, friend);

    const run = await attackRun;
    for (const [i, r] of (await ownerRegistrations).entries())
      expectSippSuccess(r, `owner registration ${i + 1} during the attack`);
    const [uac, uas] = await Promise.all([call.uac.done, call.uas.done]);
    expectSippSuccess(uac, "owner's call during the attack");
    expectSippSuccess(uas, 'the called friend');

    expect(run.statuses).not.toContain(200);
    // Line 50 was never confirmed: refused before its digest was checked, or unanswered.
    expect(run.outcomes.find((o) => o.password === 49)?.kind).not.toBe('digest');
    expect(run.outcomes.filter((o) => o.kind === 'digest' && o.status === 403)).toHaveLength(1); // the failure that locked the pair
    expect(run.silenced).toBe(true);
    // Bounded: locked after SIP_LOCKOUT_MAX_FAILURES digests, banned after SIP_SOURCE_MAX_FAILURES attempts.
    const answered = run.outcomes.filter((o) => o.kind !== 'silent').length;
    expect(answered).toBeLessThanOrEqual(bruteForce.sourceMaxFailures);

    const held = await locks();
    expect(held.sources).toContainEqual(expect.objectContaining({ source: attacker, reason: 'brute_force' }));
    expect(held.account_sources).toContainEqual(
      expect.objectContaining({ username: owner.username, source: attacker }),
    );
    expect(held.accounts.map((a) => a.username)).not.toContain(owner.username);
    const user = await api<{ lock: { locked: boolean; locked_sources: Array<{ source: string }> } }>(
      'GET',
      `/api/sip-users/${owner.id}`,
      { role: 'admin' },
    );
    expect(user.body.lock.locked).toBe(false);
    expect(user.body.lock.locked_sources.map((l) => l.source)).toEqual([attacker]);

    // The owner is still fine after the attack.
    expectSippSuccess(
      await register(owner.username, owner.password, { first: 401, final: 200 }),
      'owner after the attack',
    );

    const metrics = await (await fetch(`${testStack().apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^sip_auth_defence_total\{action="source_banned"\} [1-9]/m);
    expect(metrics).toMatch(/^sip_auth_defence_total\{action="pair_locked"\} [1-9]/m);

    // Lifting the ban through the API: the source is answered again, but its lock on this
    // account still holds, so even the right password gets 403, never 200.
    const lifted = await api<{ cleared: boolean }>('DELETE', `/api/security/locks/sources/${attacker}`, {
      role: 'admin',
    });
    expect(lifted.status).toBe(200);
    expect(lifted.body.cleared).toBe(true);
    expect((await locks()).sources.map((s) => s.source)).not.toContain(attacker);
    expectSippSuccess(
      await register(owner.username, owner.password, { first: 403 }, { localIp: attacker }),
      'unbanned attacker, right password',
    );
    await api('POST', `/api/sip-users/${owner.id}/unlock`, { role: 'admin' });
  }, 90_000);

  test('credential stuffing: one source failing on SIP_STUFFING_MAX_ACCOUNTS accounts is banned; the owners of those accounts are unaffected', async () => {
    const stuffer = '127.0.0.7';
    const victims: CreatedUser[] = [];
    for (let i = 0; i < bruteForce.stuffingMaxAccounts; i++) victims.push(await createUser());
    for (const [i, v] of victims.entries()) {
      await failOnce(v, stuffer, i === victims.length - 1 ? 403 : 401);
    }
    const held = await locks();
    expect(held.sources).toContainEqual(expect.objectContaining({ source: stuffer, reason: 'credential_stuffing' }));
    // Banned: even a right password is not answered.
    const silent = await register(
      victims[0]!.username,
      victims[0]!.password,
      { first: 401, final: 200 },
      { localIp: stuffer },
    );
    expect(silent.code).not.toBe(0);
    expect(silent.errors).toMatch(/timeout|timed out/i);
    for (const v of victims)
      expectSippSuccess(await register(v.username, v.password, { first: 401, final: 200 }), `owner of ${v.username}`);
    expect(held.accounts.map((a) => a.username)).toEqual(expect.not.arrayContaining(victims.map((v) => v.username)));
    await api('DELETE', `/api/security/locks/sources/${stuffer}`, { role: 'admin' });
  }, 90_000);

  test("distributed attack: failures from SIP_ACCOUNT_LOCK_SOURCES sources lock the account; the owner's trusted source keeps working, a new source gets 403 until the lock is lifted", async () => {
    const owner = await createUser();
    expectSippSuccess(
      await register(owner.username, owner.password, { first: 401, final: 200 }),
      'owner logs in from 127.0.0.1 (trusted from now on)',
    );
    const attackers = Array.from({ length: bruteForce.accountLockSources }, (_, i) => `127.0.0.${11 + i}`);
    for (const source of attackers) await failOnce(owner, source, 401);

    const held = await locks();
    expect(held.accounts).toContainEqual(expect.objectContaining({ username: owner.username }));
    const user = await api<{ lock: { locked: boolean } }>('GET', `/api/sip-users/${owner.id}`, { role: 'admin' });
    expect(user.body.lock.locked).toBe(true);

    expectSippSuccess(
      await register(owner.username, owner.password, { first: 401, final: 200 }),
      'owner from the trusted source',
    );
    const newSource = '127.0.0.30';
    expectSippSuccess(
      await register(owner.username, owner.password, { first: 403 }, { localIp: newSource }),
      'a new source with the right password',
    );

    const lifted = await api<{ cleared: boolean }>('DELETE', `/api/security/locks/accounts/${owner.username}`, {
      role: 'admin',
    });
    expect(lifted.body).toEqual({ username: owner.username, cleared: true });
    expect((await locks()).accounts.map((a) => a.username)).not.toContain(owner.username);
    expectSippSuccess(
      await register(owner.username, owner.password, { first: 401, final: 200 }, { localIp: newSource }),
      'the new source after the lock is lifted',
    );
  }, 90_000);

  test('the API lists a lock of an account for one source and lifts it; bad usernames and addresses → 400', async () => {
    const owner = await createUser();
    const source = '127.0.0.40';
    const max = config.sip.lockout.maxFailures;
    for (let i = 1; i <= max; i++) await failOnce(owner, source, i === max ? 403 : 401);
    const held = await locks();
    const lock = held.account_sources.find((l) => l.username === owner.username && l.source === source);
    expect(lock).toBeDefined();
    expect(Date.parse(lock!.locked_until)).toBeGreaterThan(Date.now());

    const lifted = await api<{ cleared: boolean }>(
      'DELETE',
      `/api/security/locks/accounts/${owner.username}/sources/${source}`,
      { role: 'admin' },
    );
    expect(lifted.status).toBe(200);
    expect(lifted.body).toEqual({ username: owner.username, source, cleared: true });
    expectSippSuccess(
      await register(owner.username, owner.password, { first: 401, final: 200 }, { localIp: source }),
      'after the lock is lifted',
    );
    const again = await api<{ cleared: boolean }>(
      'DELETE',
      `/api/security/locks/accounts/${owner.username}/sources/${source}`,
      { role: 'admin' },
    );
    expect(again.body.cleared).toBe(false);

    for (const [path, field] of [
      ['/api/security/locks/sources/not-an-address', 'source'],
      ['/api/security/locks/sources/999.1.1.1', 'source'],
      [`/api/security/locks/accounts/${owner.username}/sources/127.0.0.300`, 'source'],
      ['/api/security/locks/accounts/a%40b', 'username'],
    ] as const) {
      const res = await api<{ error: { code: string; fields: Array<{ field: string }> } }>('DELETE', path, {
        role: 'admin',
      });
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.body.error.code).toBe('ERR_VALIDATION');
      expect(res.body.error.fields.map((f) => f.field)).toContain(field);
    }
    const operator = await api('GET', '/api/security/locks', { role: 'operator' });
    expect(operator.status).toBe(403);
  }, 60_000);
});
