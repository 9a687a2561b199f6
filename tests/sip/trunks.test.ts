import { api, createUser, type CreatedUser } from '../support/api';
import { expectSippSuccess, proxy, register } from '../support/sip';
import {
  freeUdpPort,
  requestsReceived,
  responsesSent,
  registrarScenario,
  runSipp,
  startSipp,
  uacInviteScenario,
  uasScenario,
  type RunningSipp,
  tracedMessages,
  type SippRun,
  type UasBehaviour,
} from '../../harness/sipp';
import { SCENARIOS } from '../support/sipp-scenarios';
import { testStack } from '../support/stack';

// Providers played by SIPp on their own loopback addresses; 127.0.0.9 is a stranger.
const TRUNK_A = '127.0.0.2';
const TRUNK_B = '127.0.0.3';
const REGISTRAR = '127.0.0.4';
const STRANGER = '127.0.0.9';

/** The seed README's two example bodies, pointed at local SIPp providers. */
function skyetel(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    trunk_id: 'skyetel_main',
    name: 'Skyetel Main Trunk',
    provider: 'skyetel',
    proxy_address: TRUNK_A,
    proxy_port: port,
    username: 'your_skyetel_username',
    password: 'your_skyetel_password',
    realm: 'sip.skyetel.com',
    supports_outbound: true,
    supports_inbound: true,
    transport: 'UDP',
    preferred_codecs: ['PCMU', 'PCMA'],
    max_concurrent_calls: 100,
    calls_per_second_limit: 10,
    priority: 10,
    ...extra,
  };
}

function didforsale(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    trunk_id: 'didforsale_main',
    name: 'DIDForSale Wholesale Trunk',
    provider: 'didforsale',
    proxy_address: TRUNK_B,
    proxy_port: port,
    username: 'your_did_username',
    password: 'your_did_password',
    supports_outbound: true,
    supports_inbound: true,
    transport: 'UDP',
    preferred_codecs: ['PCMU', 'PCMA'],
    priority: 20,
    ...extra,
  };
}

async function createTrunk(body: Record<string, unknown>): Promise<void> {
  const res = await api('POST', '/api/trunks/', { role: 'operator', body });
  if (res.status !== 201)
    throw new Error(`creating trunk ${String(body['trunk_id'])}: ${res.status} ${JSON.stringify(res.body)}`);
}

async function deleteAllTrunks(): Promise<void> {
  const list = await api<{ items: Array<{ trunk_id: string }> }>('GET', '/api/trunks/?per_page=200', {
    role: 'operator',
  });
  for (const t of list.body.items ?? []) await api('DELETE', `/api/trunks/${t.trunk_id}`, { role: 'operator' });
}

/**
 * A provider played by SIPp in server mode. Kamailio's OPTIONS probes count as SIPp
 * calls, so it runs until `finish()` and the outcome is read from its trace.
 */
async function provider(ip: string, behaviour: UasBehaviour): Promise<RunningSipp> {
  const port = await freeUdpPort(ip);
  return startSipp({
    scenario: uasScenario(behaviour),
    remote: proxy(),
    serverMode: true,
    localIp: ip,
    localPort: port,
    calls: 100_000,
    limit: 1000,
    timeoutSeconds: 60,
  });
}

async function finish(p: RunningSipp): Promise<SippRun> {
  p.kill();
  return p.done;
}

const invitesSeen = (run: SippRun): number => requestsReceived(run, 'INVITE');
const answered = (run: SippRun): number => responsesSent(run, 200, 'INVITE');

function callOut(
  user: CreatedUser,
  number: string,
  expect: number,
  options: { calls?: number; rate?: number; holdMs?: number } = {},
): Promise<SippRun> {
  return runSipp({
    scenario: uacInviteScenario({ expect, authenticate: true, holdMs: options.holdMs ?? 500 }),
    remote: proxy(),
    keys: { user: user.username, callee: number, domain: testStack().config.sip.domain },
    auth: { user: user.username, password: user.password },
    calls: options.calls ?? 1,
    rate: options.rate ?? 10,
    limit: options.calls ?? 1,
    timeoutSeconds: 20,
  });
}

function callIn(fromIp: string, caller: string, did: string, expect: number, holdMs = 500): Promise<SippRun> {
  return runSipp({
    scenario: uacInviteScenario({ expect, holdMs }),
    remote: proxy(),
    localIp: fromIp,
    keys: { user: caller, callee: did, domain: testStack().config.sip.domain },
    timeoutSeconds: 15,
  });
}

describe('trunks: outbound routing, failover, limits, inbound DIDs, blocklist', () => {
  let alice: CreatedUser;

  beforeAll(async () => {
    alice = await createUser({ max_concurrent_calls: 50 });
  });
  beforeEach(deleteAllTrunks);
  afterAll(deleteAllTrunks);

  test('an outbound call leaves through the higher-priority trunk (seed bodies, unchanged but for the address)', async () => {
    const a = await provider(TRUNK_A, { answer: 200 });
    const b = await provider(TRUNK_B, { answer: 200 });
    await createTrunk(skyetel(a.localPort));
    await createTrunk(didforsale(b.localPort));
    expectSippSuccess(await callOut(alice, '+15551230001', 200), 'outbound call');
    const runA = await finish(a);
    expect(answered(runA)).toBe(1);
    expect(runA.messages).toMatch(/INVITE sip:\+15551230001@127\.0\.0\.2/);
    expect(invitesSeen(await finish(b))).toBe(0);
  });

  test.each([
    ['answers 503', 503 as const],
    ['never answers', 'silent' as const],
  ])('when the first trunk %s, the call completes through the second', async (_label, failure) => {
    const a = await provider(TRUNK_A, { answer: failure });
    const b = await provider(TRUNK_B, { answer: 200 });
    await createTrunk(skyetel(a.localPort));
    await createTrunk(didforsale(b.localPort));
    expectSippSuccess(await callOut(alice, '+15551230002', 200), 'call completes');
    const runA = await finish(a);
    expect(invitesSeen(runA)).toBeGreaterThanOrEqual(1);
    expect(answered(runA)).toBe(0);
    expect(answered(await finish(b))).toBe(1);
  });

  test('a provider that challenges (401) receives a correctly authenticated INVITE', async () => {
    const a = await provider(TRUNK_A, {
      answer: 200,
      challenge: { user: 'your_skyetel_username', password: 'your_skyetel_password', realm: 'sip.skyetel.com' },
    });
    await createTrunk(skyetel(a.localPort));
    expectSippSuccess(await callOut(alice, '+15551230003', 200), 'authenticated outbound call');
    const run = await finish(a);
    expect(responsesSent(run, 401, 'INVITE')).toBe(1);
    expect(answered(run)).toBe(1);
    expect(run.messages).toMatch(/Authorization: Digest username="your_skyetel_username", realm="sip.skyetel.com"/);
  });

  test('an INVITE from an allowlisted trunk to a DID rings its user; from 127.0.0.9 it reaches nobody', async () => {
    const bob = await createUser();
    const uasPort = await freeUdpPort();
    expectSippSuccess(
      await register(bob.username, bob.password, { first: 401, final: 200, contactPort: uasPort }),
      'bob registers',
    );
    await createTrunk(skyetel(5060, { allowed_ips: [TRUNK_A] }));
    const did = '+15557770001';
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number: did, route_type: 'sip_user', target: bob.username },
    });
    expect(created.status).toBe(201);

    const bobPhone = await startSipp({
      scenario: `${SCENARIOS}/uas-answer.xml`,
      remote: proxy(),
      serverMode: true,
      localPort: uasPort,
      timeoutSeconds: 15,
    });
    expectSippSuccess(await callIn(TRUNK_A, '+15550001111', did, 200), 'inbound from the trunk');
    expectSippSuccess(await bobPhone.done, 'bob answered');

    const strangerTarget = await startSipp({
      scenario: `${SCENARIOS}/uas-answer.xml`,
      remote: proxy(),
      serverMode: true,
      localPort: uasPort,
      timeoutSeconds: 15,
    });
    const stranger = await callIn(STRANGER, '+15550001111', did, 407);
    expectSippSuccess(stranger, 'stranger challenged');
    expect(invitesSeen(await finish(strangerTarget))).toBe(0);
  });

  test('a blocked number is refused inbound (603) and outbound (403); unblocking works at once', async () => {
    const a = await provider(TRUNK_A, { answer: 200 });
    await createTrunk(skyetel(a.localPort, { allowed_ips: [TRUNK_A] }));
    const bob = await createUser();
    const uasPort = await freeUdpPort();
    expectSippSuccess(
      await register(bob.username, bob.password, { first: 401, final: 200, contactPort: uasPort }),
      'bob registers',
    );
    const did = '+15557770002';
    expect(
      (
        await api('POST', '/api/numbers/', {
          role: 'operator',
          body: { number: did, route_type: 'sip_user', target: bob.username },
        })
      ).status,
    ).toBe(201);

    const spammer = '+15550009999';
    expect(
      (await api('POST', '/api/numbers/block', { role: 'operator', body: { number: spammer, reason: 'Spam caller' } }))
        .status,
    ).toBe(201);
    expectSippSuccess(await callIn(TRUNK_A, spammer, did, 603), 'blocked caller inbound');
    expectSippSuccess(await callOut(alice, spammer, 403), 'blocked number outbound');

    expect([200, 204]).toContain(
      (await api('DELETE', `/api/numbers/block/${encodeURIComponent(spammer)}`, { role: 'operator' })).status,
    );
    const bobPhone = await startSipp({
      scenario: `${SCENARIOS}/uas-answer.xml`,
      remote: proxy(),
      serverMode: true,
      localPort: uasPort,
      timeoutSeconds: 15,
    });
    expectSippSuccess(await callIn(TRUNK_A, spammer, did, 200), 'unblocked caller inbound');
    expectSippSuccess(await bobPhone.done, 'bob answered the unblocked caller');
    expectSippSuccess(await callOut(alice, spammer, 200), 'unblocked number outbound');
    expect(answered(await finish(a))).toBe(1);
  });

  test('max_concurrent_calls: a burst above the limit never puts more calls on the trunk; the excess gets 503', async () => {
    const a = await provider(TRUNK_A, { answer: 200 });
    await createTrunk(skyetel(a.localPort, { max_concurrent_calls: 3, calls_per_second_limit: 100 }));
    // Six calls at once, each held 3 s: three fit.
    const burst = await callOut(alice, '+15551230004', 200, { calls: 6, rate: 50, holdMs: 3000 });
    const refused = tracedMessages(burst).filter(
      (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 503 All Trunks Busy'),
    ).length;
    const answeredCalls = tracedMessages(burst).filter(
      (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 200 OK') && /CSeq: 2 INVITE/.test(m.text),
    ).length;
    expect(answeredCalls).toBe(3);
    expect(refused).toBe(3);
    expect(invitesSeen(await finish(a))).toBe(3);
  });

  test('calls_per_second_limit: the excess of a burst fails over to the next trunk', async () => {
    const a = await provider(TRUNK_A, { answer: 200 });
    const b = await provider(TRUNK_B, { answer: 200 });
    await createTrunk(skyetel(a.localPort, { calls_per_second_limit: 2 }));
    await createTrunk(didforsale(b.localPort));
    const started = Date.now();
    const burst = await callOut(alice, '+15551230005', 200, { calls: 8, rate: 40, holdMs: 200 });
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    expectSippSuccess(burst, 'every call completed');
    const onA = answered(await finish(a));
    const onB = answered(await finish(b));
    expect(onA + onB).toBe(8);
    expect(onA).toBeGreaterThanOrEqual(1);
    expect(onA).toBeLessThanOrEqual(2 * seconds);
    expect(onB).toBeGreaterThanOrEqual(8 - 2 * seconds);
  });

  test('deactivate → no new calls through the trunk; activate → back', async () => {
    const a = await provider(TRUNK_A, { answer: 200 });
    await createTrunk(skyetel(a.localPort));
    expect((await api('POST', '/api/trunks/skyetel_main/deactivate', { role: 'operator' })).status).toBe(200);
    expectSippSuccess(await callOut(alice, '+15551230006', 503), 'no trunk while deactivated');
    expect((await api('POST', '/api/trunks/skyetel_main/activate', { role: 'operator' })).status).toBe(200);
    expectSippSuccess(await callOut(alice, '+15551230006', 200), 'trunk back after activation');
    expect(answered(await finish(a))).toBe(1);
  });

  test('a trunk that requires registration registers with its provider and shows as registered', async () => {
    const realm = 'sip.skyetel.com';
    const port = await freeUdpPort(REGISTRAR);
    const registrar = await startSipp({
      scenario: registrarScenario({ user: 'your_skyetel_username', password: 'your_skyetel_password', realm }),
      remote: proxy(),
      serverMode: true,
      localIp: REGISTRAR,
      localPort: port,
      calls: 1,
      timeoutSeconds: 30,
    });
    await createTrunk(
      skyetel(port, { proxy_address: REGISTRAR, requires_registration: true, supports_outbound: false }),
    );
    expectSippSuccess(await registrar.done, 'provider saw a correct digest REGISTER');
    let state = '';
    for (let i = 0; i < 40 && state !== 'registered'; i++) {
      const status = await api<{ registration: { state: string } | null }>('GET', '/api/trunks/skyetel_main/status', {
        role: 'operator',
      });
      state = status.body.registration?.state ?? '';
      if (state !== 'registered') await new Promise((r) => setTimeout(r, 250));
    }
    expect(state).toBe('registered');
  });
});
