import { Client } from 'pg';
import { api, createUser } from '../support/api';
import { expectMediaAnchored, relayCarries, startCall, waitFor } from '../support/calls';
import { expectSippSuccess, proxy } from '../support/sip';
import { runSipp } from '../../harness/sipp';
import { SCENARIOS } from '../support/sipp-scenarios';
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

    type Totals = { count: number; total_duration_seconds: number };
    const aliceStats = await api<{ calls: { as_caller: Totals } }>('GET', `/api/sip-users/${alice.id}/stats`, {
      role: 'admin',
    });
    expect(aliceStats.status).toBe(200);
    expect(aliceStats.body.calls.as_caller.count).toBe(1);
    expect(aliceStats.body.calls.as_caller.total_duration_seconds).toBeGreaterThan(5);
    const bobStats = await api<{ calls: { as_callee: Totals } }>('GET', `/api/sip-users/${bob.id}/stats`, {
      role: 'admin',
    });
    expect(bobStats.body.calls.as_callee.count).toBe(1);
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

  test('an INVITE with credentials of an unknown user is challenged again (407) and not routed', async () => {
    const bob = await createUser();
    const stranger = `nobody${Date.now().toString(36)}`;
    const run = await runSipp({
      scenario: `${SCENARIOS}/uac-auth-rejected.xml`,
      remote: proxy(),
      keys: { user: stranger, callee: bob.username, domain: testStack().config.sip.domain },
      auth: { user: stranger, password: 'whatever-password' },
      timeoutSeconds: 8,
    });
    expectSippSuccess(run, 'unknown user refused');
    expect(run.messages).not.toMatch(/SIP\/2\.0 (1[1-9]\d|2\d\d)/);
  });
});
