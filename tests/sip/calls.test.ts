import { Client } from 'pg';
import { api, createUser } from '../support/api';
import { expectMediaAnchored, relayCarries, startCall, waitFor } from '../support/calls';
import { expectSippSuccess, proxy } from '../support/sip';
import { runSipp, SCENARIOS } from '../support/sipp';
import { testStack } from '../support/stack';

describe('calls between API-created users through Kamailio and the media relay', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  beforeAll(() => db.connect());
  afterAll(() => db.end());

  test('alice calls bob: both SDPs point at the relay, RTP flows through it, a CDR appears after BYE', async () => {
    const alice = await createUser();
    const bob = await createUser();
    const call = await startCall(testStack(), alice, bob);
    // While the call is up, the relay carries packets from both parties.
    const stats = await relayCarries(testStack(), call);
    expect(stats.totals.packets).toBeGreaterThanOrEqual(100);
    await expectMediaAnchored(testStack(), call);

    const cdr = await waitFor('the CDR row', async () => {
      const { rows } = await db.query<{ src_user: string; dst_user: string; duration: number }>(
        'SELECT src_user, dst_user, duration FROM acc_cdrs WHERE callid = $1',
        [call.callId],
      );
      return rows[0];
    });
    expect(cdr.src_user).toBe(alice.username);
    expect(cdr.dst_user).toBe(bob.username);
    expect(cdr.duration).toBeGreaterThan(5);

    const stats2 = await api<{ cdr: Record<string, number> }>('GET', `/api/sip-users/${alice.id}/stats`, { role: 'admin' });
    expect(stats2.status).toBe(200);
    expect(JSON.stringify(stats2.body.cdr)).toMatch(/[1-9]/);
  });

  test('a user with max_concurrent_calls 1 cannot hold two calls at once (486)', async () => {
    const alice = await createUser({ max_concurrent_calls: 1 });
    const bob = await createUser();
    const call = await startCall(testStack(), alice, bob);
    // The first call is answered within a second; the second INVITE meets the limit.
    await new Promise((r) => setTimeout(r, 1500));
    const second = await runSipp({
      scenario: `${SCENARIOS}/uac-busy.xml`,
      remote: proxy(),
      keys: { user: alice.username, callee: bob.username, domain: testStack().config.sip.domain },
      auth: { user: alice.username, password: alice.password },
      timeoutSeconds: 8,
    });
    expectSippSuccess(second, 'second call refused with 486');
    expect(second.messages).toMatch(/SIP\/2\.0 486 Busy Here - Concurrent Call Limit Reached/);
    const [uac, uas] = await Promise.all([call.uac.done, call.uas.done]);
    expectSippSuccess(uac, 'first call still completes');
    expectSippSuccess(uas, 'first call callee');
  });

  test('an unauthenticated INVITE is challenged with 407 and reaches nobody', async () => {
    const bob = await createUser();
    const run = await runSipp({
      scenario: `${SCENARIOS}/uac-busy.xml`,
      remote: proxy(),
      keys: { user: 'nobody-here', callee: bob.username, domain: testStack().config.sip.domain },
      auth: { user: 'nobody-here', password: 'whatever-password' },
      timeoutSeconds: 8,
    });
    // The digest for an unknown user fails: 407 again instead of the expected 486.
    expect(run.code).not.toBe(0);
    expect(run.errors).toMatch(/407 Proxy Authentication Required/);
  });
});
