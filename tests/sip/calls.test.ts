import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createMediaRelay } from '../../services/common/src/media-relay';
import type { CallStats } from '../../services/common/src/media-relay/relay';
import { api, createUser, type CreatedUser } from '../support/api';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { freeMediaPort, freeUdpPort, runSipp, SCENARIOS, startSipp, type RunningSipp } from '../support/sipp';
import { testStack } from '../support/stack';

interface CallUnderTest {
  readonly callId: string;
  readonly uac: RunningSipp;
  readonly uas: RunningSipp;
  readonly uacMediaPort: number;
  readonly uasMediaPort: number;
}

/** Registers `callee` with its contact at a SIPp UAS (RTP echo) and starts `caller`'s call to it. */
async function startCall(caller: CreatedUser, callee: CreatedUser): Promise<CallUnderTest> {
  const domain = testStack().config.sip.domain;
  const uasPort = await freeUdpPort();
  expectSippSuccess(await register(callee.username, callee.password, { first: 401, final: 200, contactPort: uasPort }), 'callee registers');
  const uasMediaPort = await freeMediaPort();
  const uas = await startSipp({
    scenario: `${SCENARIOS}/uas-answer.xml`,
    remote: proxy(),
    serverMode: true,
    localPort: uasPort,
    rtpEcho: true,
    mediaPort: uasMediaPort,
    timeoutSeconds: 25,
  });
  const callId = `call-${randomUUID()}`;
  const uacMediaPort = await freeMediaPort();
  const uac = await startSipp({
    scenario: `${SCENARIOS}/uac-call.xml`,
    remote: proxy(),
    keys: { user: caller.username, callee: callee.username, domain },
    auth: { user: caller.username, password: caller.password },
    mediaPort: uacMediaPort,
    timeoutSeconds: 25,
    extraArgs: ['-cid_str', `${callId}-%u`],
  });
  return { callId: `${callId}-1`, uac, uas, uacMediaPort, uasMediaPort };
}

/** m=audio port and c= address of the first SDP that follows `startLine` in a SIPp trace. */
function sdpAfter(trace: string, startLine: RegExp): { address: string; port: number } {
  const at = trace.search(startLine);
  if (at < 0) throw new Error(`no ${startLine} in the SIPp trace`);
  const rest = trace.slice(at);
  const c = /c=IN IP4 ([0-9.]+)/.exec(rest);
  const m = /m=audio (\d+)/.exec(rest);
  if (!c?.[1] || !m?.[1]) throw new Error(`no SDP after ${startLine}`);
  return { address: c[1], port: Number(m[1]) };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('calls between API-created users through Kamailio and the media relay', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  beforeAll(() => db.connect());
  afterAll(() => db.end());

  test('alice calls bob: both SDPs point at the relay, RTP flows through it, a CDR appears after BYE', async () => {
    const alice = await createUser();
    const bob = await createUser();
    const { relay: relayConfig } = testStack().config;
    const call = await startCall(alice, bob);

    // While the call is up, the relay must be carrying packets from both parties.
    const relay = createMediaRelay(relayConfig);
    let stats: CallStats;
    try {
      stats = await waitFor('RTP through the relay in both directions', async () => {
        const s = await relay.query({ callId: call.callId, fromTag: `${call.uac.pid}SIPpTag001` }).catch(() => undefined);
        return s && s.legs.length === 2 && s.legs.every((l) => l.packets >= 50) ? s : undefined;
      });
    } finally {
      await relay.close();
    }
    expect(stats.totals.packets).toBeGreaterThanOrEqual(100);

    const [uac, uas] = await Promise.all([call.uac.done, call.uas.done]);
    expectSippSuccess(uac, 'caller');
    expectSippSuccess(uas, 'callee');

    const inRange = (port: number): boolean => port >= relayConfig.rtpPortMin && port <= relayConfig.rtpPortMax;
    const offerSeenByBob = sdpAfter(uas.messages, /INVITE sip:/);
    const answerSeenByAlice = sdpAfter(uac.messages, /SIP\/2\.0 200 OK[\s\S]*?CSeq: 2 INVITE/);
    expect(offerSeenByBob.address).toBe(relayConfig.address);
    expect(inRange(offerSeenByBob.port)).toBe(true);
    expect(offerSeenByBob.port).not.toBe(call.uacMediaPort);
    expect(answerSeenByAlice.address).toBe(relayConfig.address);
    expect(inRange(answerSeenByAlice.port)).toBe(true);
    expect(answerSeenByAlice.port).not.toBe(call.uasMediaPort);

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
    const call = await startCall(alice, bob);
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
