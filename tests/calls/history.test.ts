import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { Client } from 'pg';
import { HISTORY_ITEM_SCHEMA } from '../../services/control-plane/src/calls/history-schemas';
import { api, createUser, token, type CreatedUser } from '../support/api';
import { waitFor } from '../support/calls';
import { expectSippSuccess, proxy, register } from '../support/sip';
import {
  freeUdpPort,
  runSipp,
  startSipp,
  uacInviteScenario,
  uasScenario,
  writeScenario,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { testStack } from '../support/stack';

/**
 * Places real calls through Kamailio, the relay and a media gateway (user to user
 * answered, busy, unavailable and to nobody; trunk to user, answered and cancelled while
 * ringing; user out through the trunk; trunk to the demo agent), then reads them back
 * from GET /api/calls/history.
 */

// The provider, played by SIPp on a loopback address of this stack slot's own.
const TRUNK_IP = `127.0.0.${40 + Number(process.env['TEST_STACK_SLOT'] || 0)}`;
const TRUNK_ID = 'hist_trunk';
const RATE = { rate_per_minute: 0.012, billing_increment_seconds: 6, minimum_billable_seconds: 10, currency: 'EUR' };
const suffix = String(Date.now() % 10000).padStart(4, '0');
const DID_BOB = `+1555881${suffix}`;
const DID_AI = `+1555882${suffix}`;
const CALLER_IN = `1555883${suffix}`;
const CALLER_AI = `1555884${suffix}`;
const DIALLED_OUT = `+1555885${suffix}`;
const HOLD = { userToUser: 3000, trunkToUser: 4000, out: 13000, ai: 3000 };

interface Item {
  id: string;
  kind: string;
  sip_call_id: string;
  direction: string;
  from: string;
  to: string;
  user: string | null;
  trunk: string | null;
  started_at: string;
  answered_at: string | null;
  ended_at: string | null;
  duration_seconds: number;
  billable_seconds: number;
  cost_estimate: { amount: number; currency: string } | null;
  disposition: string;
  sip_status: number | null;
  end_reason: string | null;
  links: { recording: string | null; transcript: string | null };
}
interface Page {
  items: Item[];
  total: number;
  page: number;
  per_page: number;
}
interface ErrorBody {
  error: { code: string; fields?: Array<{ field: string }> };
}

const validItem = addFormats(new Ajv({ strict: true, allowUnionTypes: true })).compile(HISTORY_ITEM_SCHEMA);

async function history(query: string): Promise<Page> {
  const res = await api<Page>('GET', `/api/calls/history?${query}`, { role: 'operator' });
  if (res.status !== 200) throw new Error(`history?${query}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** An authenticated (user) or trunk-sourced (localIp) call that must end with `expect`. */
function call(options: {
  from: CreatedUser | string;
  to: string;
  expect: number;
  holdMs?: number;
  callId: string;
}): Promise<SippRun> {
  const user = typeof options.from === 'string' ? undefined : options.from;
  return runSipp({
    scenario: uacInviteScenario({ expect: options.expect, authenticate: user !== undefined, holdMs: options.holdMs }),
    remote: proxy(),
    ...(user ? { auth: { user: user.username, password: user.password } } : { localIp: TRUNK_IP }),
    keys: {
      user: user ? user.username : (options.from as string),
      callee: options.to,
      domain: testStack().config.sip.domain,
    },
    timeoutSeconds: 30,
    extraArgs: ['-cid_str', options.callId],
  });
}

/** A registered phone played by SIPp that plays `scenario` (a UAS) to one INVITE. */
async function phone(user: CreatedUser, scenario: string): Promise<RunningSipp> {
  const port = await freeUdpPort();
  expectSippSuccess(
    await register(user.username, user.password, { first: 401, final: 200, contactPort: port }),
    `${user.username} registers`,
  );
  return startSipp({
    scenario,
    remote: proxy(),
    serverMode: true,
    localPort: port,
    timeoutSeconds: 40,
  });
}

/** The caller (the trunk) gives up while the callee rings: INVITE, 180, CANCEL, 200, 487, ACK (RFC 3261 §9.1). */
const CALLER_CANCELS = writeScenario(
  'history-caller-cancels',
  `
  <send retrans="500">
    <![CDATA[
      INVITE sip:[callee]@[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[callee]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=[user] 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[
      CANCEL sip:[callee]@[domain] SIP/2.0
      [last_Via:]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[callee]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[
      ACK sip:[callee]@[domain] SIP/2.0
      [last_Via:]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="100"/>`,
);

/** A phone that rings until the CANCEL, then answers it 200 and the INVITE 487. */
const RINGS_UNTIL_CANCEL = writeScenario(
  'history-rings-until-cancel',
  `
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>`,
);

const near = (actual: number, expectedSeconds: number): void => {
  expect(actual).toBeGreaterThanOrEqual(expectedSeconds - 0.05);
  expect(actual).toBeLessThan(expectedSeconds + 1);
};

describe('GET /api/calls/history over real calls', () => {
  const run = `h${Date.now().toString(36)}`;
  const ids = {
    answered: `${run}-answered`,
    busy: `${run}-busy`,
    noAnswer: `${run}-no-answer`,
    failed: `${run}-failed`,
    trunkIn: `${run}-trunk-in`,
    out: `${run}-out`,
    ai: `${run}-ai`,
    cancelled: `${run}-cancelled`,
  };
  let alice: CreatedUser;
  let bob: CreatedUser;
  let carol: CreatedUser;
  let dave: CreatedUser;
  let provider: RunningSipp;
  // CDR times are whole seconds (truncated): the window opens a little early.
  const since = new Date(Date.now() - 2000).toISOString();
  let items: Item[] = [];
  const bySipId = (id: string): Item => {
    const found = items.filter((i) => i.sip_call_id === `${id}-1`);
    expect(found).toHaveLength(1);
    return found[0] as Item;
  };

  beforeAll(async () => {
    alice = await createUser({ max_concurrent_calls: 5 });
    bob = await createUser();
    carol = await createUser();
    dave = await createUser();
    const providerPort = await freeUdpPort(TRUNK_IP);
    provider = await startSipp({
      scenario: uasScenario({ answer: 200 }),
      remote: proxy(),
      serverMode: true,
      localIp: TRUNK_IP,
      localPort: providerPort,
      calls: 100_000,
      limit: 1000,
      timeoutSeconds: 120,
    });
    const trunk = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: TRUNK_ID,
        name: 'History test trunk',
        provider: 'sipp',
        proxy_address: TRUNK_IP,
        proxy_port: providerPort,
        allowed_ips: [TRUNK_IP],
        ...RATE,
      },
    });
    expect(trunk.status).toBe(201);
    expect(trunk.body).toMatchObject(RATE);
    for (const body of [
      { number: DID_BOB, route_type: 'sip_user', target: bob.username },
      { number: DID_AI, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' }, recording_enabled: true },
    ]) {
      const created = await api('POST', '/api/numbers/', { role: 'operator', body });
      expect(created.status).toBe(201);
    }

    // 1. alice → bob, answered.
    let bobPhone = await phone(bob, uasScenario({ answer: 200 }));
    expectSippSuccess(
      await call({ from: alice, to: bob.username, expect: 200, holdMs: HOLD.userToUser, callId: `${ids.answered}-%u` }),
      'alice calls bob',
    );
    expectSippSuccess(await bobPhone.done, "bob's phone");
    // 2. alice → carol, busy.
    const carolPhone = await phone(carol, uasScenario({ answer: 486 }));
    expectSippSuccess(
      await call({ from: alice, to: carol.username, expect: 486, callId: `${ids.busy}-%u` }),
      'carol is busy',
    );
    expectSippSuccess(await carolPhone.done, "carol's phone");
    // 2b. alice → dave, whose phone says 480 Temporarily Unavailable.
    const davePhone = await phone(dave, uasScenario({ answer: 480 }));
    expectSippSuccess(
      await call({ from: alice, to: dave.username, expect: 480, callId: `${ids.noAnswer}-%u` }),
      'dave is unavailable',
    );
    expectSippSuccess(await davePhone.done, "dave's phone");
    // 2c. alice → a user who is not registered: 404.
    const nobody = await createUser();
    expectSippSuccess(
      await call({ from: alice, to: nobody.username, expect: 404, callId: `${ids.failed}-%u` }),
      'nobody is registered',
    );
    // 3. The trunk → bob's number.
    bobPhone = await phone(bob, uasScenario({ answer: 200 }));
    expectSippSuccess(
      await call({
        from: CALLER_IN,
        to: DID_BOB.slice(1),
        expect: 200,
        holdMs: HOLD.trunkToUser,
        callId: `${ids.trunkIn}-%u`,
      }),
      'the trunk calls bob',
    );
    expectSippSuccess(await bobPhone.done, "bob's phone (from the trunk)");
    // 4. alice → a number that is not ours: out through the trunk.
    expectSippSuccess(
      await call({ from: alice, to: DIALLED_OUT, expect: 200, holdMs: HOLD.out, callId: `${ids.out}-%u` }),
      'alice calls out',
    );
    // 5. The trunk → the AI number: the demo agent answers through a media gateway.
    expectSippSuccess(
      await call({ from: CALLER_AI, to: DID_AI.slice(1), expect: 200, holdMs: HOLD.ai, callId: `${ids.ai}-%u` }),
      'the trunk calls the AI',
    );

    // 6. The trunk → bob's number again; the caller gives up while bob's phone rings.
    const ringing = await phone(bob, RINGS_UNTIL_CANCEL);
    expectSippSuccess(
      await runSipp({
        scenario: CALLER_CANCELS,
        remote: proxy(),
        localIp: TRUNK_IP,
        keys: { user: CALLER_IN, callee: DID_BOB.slice(1), domain: testStack().config.sip.domain },
        timeoutSeconds: 20,
        extraArgs: ['-cid_str', `${ids.cancelled}-%u`],
      }),
      'the trunk gives up while bob rings',
    );
    expectSippSuccess(await ringing.done, "bob's phone rang until the CANCEL");

    // Kamailio writes a CDR and the gateway its row when each call ends.
    items = await waitFor(
      'eight calls in the history',
      async () => {
        const page = await history(`from=${encodeURIComponent(since)}&per_page=200`);
        const ai = page.items.find((i) => i.sip_call_id === `${ids.ai}-1`);
        return page.total === 8 && ai?.trunk === TRUNK_ID ? page.items : undefined;
      },
      15_000,
    );
  }, 120_000);

  afterAll(async () => {
    provider?.kill();
    await provider?.done;
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
  });

  test('one item per call, newest first, each as documented', () => {
    expect(items.map((i) => i.sip_call_id)).toEqual(
      [ids.cancelled, ids.ai, ids.out, ids.trunkIn, ids.failed, ids.noAnswer, ids.busy, ids.answered].map(
        (id) => `${id}-1`,
      ),
    );
    for (const item of items) expect(validItem(item) ? [] : validItem.errors).toEqual([]);
  });

  test('user to user, answered: internal, duration within 1 s, whole seconds billable, no cost', () => {
    const item = bySipId(ids.answered);
    expect(item).toMatchObject({
      kind: 'proxied',
      direction: 'internal',
      from: alice.username,
      to: bob.username,
      user: alice.username,
      trunk: null,
      disposition: 'answered',
      sip_status: 200,
      end_reason: 'bye',
      cost_estimate: null,
      links: { recording: null, transcript: null },
    });
    near(item.duration_seconds, HOLD.userToUser / 1000);
    expect(item.billable_seconds).toBe(Math.ceil(item.duration_seconds));
    expect(item.answered_at).not.toBeNull();
  });

  test('user to user, busy: 486, nothing billed', () => {
    expect(bySipId(ids.busy)).toMatchObject({
      kind: 'proxied',
      direction: 'internal',
      to: carol.username,
      disposition: 'busy',
      sip_status: 486,
      answered_at: null,
      duration_seconds: 0,
      billable_seconds: 0,
      cost_estimate: null,
    });
  });

  test('user to user, 480 and 404: no answer and failed, with the reason', () => {
    expect(bySipId(ids.noAnswer)).toMatchObject({
      direction: 'internal',
      to: dave.username,
      disposition: 'no_answer',
      sip_status: 480,
      end_reason: 'Refused By Test',
      billable_seconds: 0,
    });
    expect(bySipId(ids.failed)).toMatchObject({
      direction: 'internal',
      disposition: 'failed',
      sip_status: 404,
      end_reason: 'Not Found',
      billable_seconds: 0,
    });
  });

  test("trunk to user: inbound, the number's user, 4 s billed as 12 (minimum 10 in steps of 6) at 0.012 EUR/min", () => {
    const item = bySipId(ids.trunkIn);
    expect(item).toMatchObject({
      kind: 'proxied',
      direction: 'inbound',
      from: CALLER_IN,
      to: DID_BOB.slice(1),
      user: bob.username,
      trunk: TRUNK_ID,
      disposition: 'answered',
      billable_seconds: 12,
      cost_estimate: { amount: 0.0024, currency: 'EUR' },
    });
    near(item.duration_seconds, HOLD.trunkToUser / 1000);
  });

  test('user out through the trunk: outbound, 13 s billed as 18', () => {
    const item = bySipId(ids.out);
    expect(item).toMatchObject({
      direction: 'outbound',
      user: alice.username,
      trunk: TRUNK_ID,
      disposition: 'answered',
      billable_seconds: 18,
      cost_estimate: { amount: 0.0036, currency: 'EUR' },
    });
    near(item.duration_seconds, HOLD.out / 1000);
  });

  test("trunk to the demo agent: the AI call once (not its CDR too), with the CDR's trunk and links", () => {
    const item = bySipId(ids.ai);
    expect(item).toMatchObject({
      kind: 'ai',
      direction: 'inbound',
      from: CALLER_AI,
      to: DID_AI.slice(1),
      trunk: TRUNK_ID,
      disposition: 'answered',
      sip_status: 200,
      billable_seconds: 12,
      cost_estimate: { amount: 0.0024, currency: 'EUR' },
      links: { recording: `/api/calls/${item.id}/recording`, transcript: `/api/calls/${item.id}` },
    });
    expect(item.id).not.toMatch(/^cdr:/);
    near(item.duration_seconds, HOLD.ai / 1000);
  });

  test('trunk to user, the caller gives up while it rings: cancelled (487), nothing billed', () => {
    expect(bySipId(ids.cancelled)).toMatchObject({
      kind: 'proxied',
      direction: 'inbound',
      user: bob.username,
      trunk: TRUNK_ID,
      disposition: 'cancelled',
      sip_status: 487,
      answered_at: null,
      duration_seconds: 0,
      billable_seconds: 0,
      cost_estimate: { amount: 0, currency: 'EUR' },
    });
  });

  test('the links lead to the call and its recording', async () => {
    const item = bySipId(ids.ai);
    const detail = await api<{ sip_call_id: string }>('GET', item.links.transcript as string, { role: 'operator' });
    expect(detail.status).toBe(200);
    expect(detail.body.sip_call_id).toBe(item.sip_call_id);
    const res = await fetch(`${testStack().apiUrl}${item.links.recording as string}`, {
      headers: { authorization: `Bearer ${await token('operator')}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    await res.arrayBuffer();
  });

  test.each([
    [
      'number (either party, "+" encoded)',
      () => `number=${encodeURIComponent(DID_BOB)}`,
      () => [ids.cancelled, ids.trunkIn],
    ],
    ['number (digits, the caller)', () => `number=${CALLER_AI}`, () => [ids.ai]],
    ['number ("+" left unencoded)', () => `number=+${DIALLED_OUT.slice(1)}`, () => [ids.out]],
    [
      'user as callee or through a number',
      () => `user=${bob.username}`,
      () => [ids.cancelled, ids.trunkIn, ids.answered],
    ],
    [
      'user as caller',
      () => `user=${alice.username}`,
      () => [ids.out, ids.failed, ids.noAnswer, ids.busy, ids.answered],
    ],
    ['trunk', () => `trunk=${TRUNK_ID}`, () => [ids.cancelled, ids.ai, ids.out, ids.trunkIn]],
    ['direction internal', () => 'direction=internal', () => [ids.failed, ids.noAnswer, ids.busy, ids.answered]],
    ['direction inbound', () => 'direction=inbound', () => [ids.cancelled, ids.ai, ids.trunkIn]],
    ['direction outbound', () => 'direction=outbound', () => [ids.out]],
    ['disposition busy', () => 'disposition=busy', () => [ids.busy]],
    ['disposition cancelled', () => 'disposition=cancelled', () => [ids.cancelled]],
    ['disposition no_answer', () => 'disposition=no_answer', () => [ids.noAnswer]],
    ['disposition failed', () => 'disposition=failed', () => [ids.failed]],
    ['disposition answered', () => 'disposition=answered', () => [ids.ai, ids.out, ids.trunkIn, ids.answered]],
    ['kind ai', () => 'kind=ai', () => [ids.ai]],
    ['kind proxied, trunk', () => `kind=proxied&trunk=${TRUNK_ID}`, () => [ids.cancelled, ids.out, ids.trunkIn]],
  ])('filter: %s', async (_label, query, expected) => {
    const page = await history(`from=${encodeURIComponent(since)}&${query()}`);
    expect(page.items.map((i) => i.sip_call_id)).toEqual(expected().map((id) => `${id}-1`));
    expect(page.total).toBe(expected().length);
  });

  test('time range: to is exclusive, from inclusive', async () => {
    const outStart = bySipId(ids.out).started_at;
    const before = await history(`from=${encodeURIComponent(since)}&to=${encodeURIComponent(outStart)}`);
    expect(before.items.map((i) => i.sip_call_id)).toEqual(
      [ids.trunkIn, ids.failed, ids.noAnswer, ids.busy, ids.answered].map((id) => `${id}-1`),
    );
    const after = await history(`from=${encodeURIComponent(outStart)}`);
    expect(after.items.map((i) => i.sip_call_id)).toEqual([ids.cancelled, ids.ai, ids.out].map((id) => `${id}-1`));
  });

  test('pagination: pages of 3 cover the eight calls once, in order, each with the total', async () => {
    const pages = await Promise.all(
      [1, 2, 3, 4].map((p) => history(`from=${encodeURIComponent(since)}&per_page=3&page=${p}`)),
    );
    expect(pages.map((p) => p.items.length)).toEqual([3, 3, 2, 0]);
    expect(pages.every((p) => p.total === 8 && p.per_page === 3)).toBe(true);
    expect(pages.flatMap((p) => p.items.map((i) => i.id))).toEqual(items.map((i) => i.id));
  });

  test('the last page there can be is empty, not an error', async () => {
    const page = await history(`from=${encodeURIComponent(since)}&page=2147483647&per_page=200`);
    expect(page).toEqual({ items: [], total: 8, page: 2147483647, per_page: 200 });
  });

  test('a trunk rate changed later changes the estimates (they use the current rate)', async () => {
    const changed = await api('PUT', `/api/trunks/${TRUNK_ID}`, {
      role: 'operator',
      body: { rate_per_minute: 1.5, billing_increment_seconds: 60, minimum_billable_seconds: 0, currency: 'USD' },
    });
    expect(changed.status).toBe(200);
    const page = await history(`from=${encodeURIComponent(since)}&trunk=${TRUNK_ID}&direction=outbound`);
    expect(page.items[0]).toMatchObject({ billable_seconds: 60, cost_estimate: { amount: 1.5, currency: 'USD' } });
    await api('PUT', `/api/trunks/${TRUNK_ID}`, { role: 'operator', body: RATE });
  });

  test.each([
    ['per_page=0', 'per_page'],
    ['per_page=201', 'per_page'],
    ['page=0', 'page'],
    ['page=1e3', 'page'],
    ['page=99999999999999999999', 'page'],
    ['disposition=maybe', 'disposition'],
    ['direction=sideways', 'direction'],
    ['kind=human', 'kind'],
    ['number=abc', 'number'],
    ["number=1555' OR '1'='1", 'number'],
    ['number=15551234567%00', 'number'],
    ['user=a;DROP TABLE calls', 'user'],
    ['trunk=UPPER', 'trunk'],
    ['from=yesterday', 'from'],
    ['to=2026-13-01T00:00:00Z', 'to'],
    ['from=2026-12-07T00:00:00', 'from'],
    ['from=2026-12-07T10:00:00Z&to=2026-12-07T09:00:00Z', 'to'],
    ['state=ended', 'state'],
    ['number=<5000 digits>', 'number'],
  ])('hostile query %s → 400 ERR_VALIDATION naming %s', async (shown, field) => {
    const query = shown.replace('<5000 digits>', '1'.repeat(5000));
    const res = await api<ErrorBody>('GET', `/api/calls/history?${query}`, { role: 'operator' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    expect(JSON.stringify(res.body.error.fields ?? [])).toContain(field);
  });

  test('no token → 401', async () => {
    const res = await api<ErrorBody>('GET', '/api/calls/history');
    expect(res.status).toBe(401);
  });
});

describe('trunk rates in the trunks API', () => {
  const trunkId = `rates_${Date.now().toString(36)}`;
  afterAll(() => api('DELETE', `/api/trunks/${trunkId}`, { role: 'operator' }));

  test('defaults (0 USD per minute in whole minutes), then set and read back', async () => {
    const created = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: { trunk_id: trunkId, name: 'Rates', provider: 'test', proxy_address: '192.0.2.10' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      rate_per_minute: 0,
      billing_increment_seconds: 60,
      minimum_billable_seconds: 0,
      currency: 'USD',
    });
    const updated = await api('PUT', `/api/trunks/${trunkId}`, {
      role: 'operator',
      body: { rate_per_minute: 0.0125, billing_increment_seconds: 1, minimum_billable_seconds: 30, currency: 'GBP' },
    });
    expect(updated.status).toBe(200);
    const read = await api('GET', `/api/trunks/${trunkId}`, { role: 'operator' });
    expect(read.body).toMatchObject({
      rate_per_minute: 0.0125,
      billing_increment_seconds: 1,
      minimum_billable_seconds: 30,
      currency: 'GBP',
    });
  });

  test.each([
    [{ rate_per_minute: -0.01 }, 'rate_per_minute'],
    [{ rate_per_minute: 0.0000001 }, 'rate_per_minute'],
    [{ rate_per_minute: 1000000 }, 'rate_per_minute'],
    [{ rate_per_minute: '0.01' }, 'rate_per_minute'],
    [{ billing_increment_seconds: 0 }, 'billing_increment_seconds'],
    [{ billing_increment_seconds: 3601 }, 'billing_increment_seconds'],
    [{ billing_increment_seconds: 1.5 }, 'billing_increment_seconds'],
    [{ minimum_billable_seconds: -1 }, 'minimum_billable_seconds'],
    [{ currency: 'usd' }, 'currency'],
    [{ currency: 'EURO' }, 'currency'],
  ])('%p → 400 naming %s, the trunk unchanged', async (body, field) => {
    const res = await api<ErrorBody>('PUT', `/api/trunks/${trunkId}`, { role: 'operator', body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    expect(res.body.error.fields?.map((f) => f.field)).toContain(field);
    const read = await api('GET', `/api/trunks/${trunkId}`, { role: 'operator' });
    expect(read.body).toMatchObject({ rate_per_minute: 0.0125, currency: 'GBP' });
  });
});

/**
 * Outbound AI calls (POST /api/calls/initiate) as the gateway records them
 * (db/migrations/0047: answered_at, sip_status, disposition, trunk_id) with the CDR
 * Kamailio writes for the same Call-ID. The rows are written here, in a window of
 * their own, as the gateway and Kamailio write them.
 */
describe('outbound AI calls in the history', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  const tag = `out-${Date.now().toString(36)}`;
  const trunkId = `hist_out_${Date.now().toString(36)}`;
  const window = 'from=2024-03-01T10:00:00Z&to=2024-03-01T11:00:00Z';

  beforeAll(async () => {
    await db.connect();
    const trunk = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: trunkId,
        name: 'Outbound',
        provider: 'test',
        proxy_address: '192.0.2.20',
        rate_per_minute: 0.05,
        billing_increment_seconds: 30,
        minimum_billable_seconds: 0,
        currency: 'USD',
      },
    });
    expect(trunk.status).toBe(201);
    const insert = `INSERT INTO calls (call_id, sip_call_id, direction, from_number, to_number, route, state, gateway,
        started_at, answered_at, ended_at, end_reason, ended_by, sip_status, disposition, trunk_id)
      VALUES ($1, $2, 'outbound', '+15557770001', '+15551230001', '', 'ended', 'gw', $3, $4, $5, $6, $7, $8, $9, $10)`;
    await db.query(insert, [
      `${tag}-answered`,
      `${tag}-answered@gw`,
      '2024-03-01T10:00:00Z',
      '2024-03-01T10:00:05Z',
      '2024-03-01T10:01:07.250Z',
      'remote',
      'callee',
      200,
      'answered',
      trunkId,
    ]);
    await db.query(insert, [
      `${tag}-busy`,
      `${tag}-busy@gw`,
      '2024-03-01T10:05:00Z',
      null,
      '2024-03-01T10:05:02Z',
      'busy',
      'callee',
      486,
      'busy',
      trunkId,
    ]);
    // Kamailio's CDR of the answered one (same Call-ID): not a second item.
    await db.query(
      `INSERT INTO acc_cdrs (start_time, end_time, duration, callid, src_user, dst_user, trunk_id, end_reason)
       VALUES ('2024-03-01 10:00:05', '2024-03-01 10:01:07', 62.2, $1, '15557770001', '15551230001', $2, 'bye')`,
      [`${tag}-answered@gw`, trunkId],
    );
  });
  afterAll(async () => {
    await db.query('DELETE FROM acc_cdrs WHERE callid LIKE $1', [`${tag}%`]);
    await db.query('DELETE FROM calls WHERE call_id LIKE $1', [`${tag}%`]);
    await db.end();
    await api('DELETE', `/api/trunks/${trunkId}`, { role: 'operator' });
  });

  test('answered: duration from the answer, billed in 30 s steps; busy: 486, nothing billed', async () => {
    const page = await history(window);
    expect(page.total).toBe(2);
    expect(page.items.map((i) => [i.id, i.kind, i.direction, i.trunk, i.disposition, i.sip_status])).toEqual([
      [`${tag}-busy`, 'ai', 'outbound', trunkId, 'busy', 486],
      [`${tag}-answered`, 'ai', 'outbound', trunkId, 'answered', 200],
    ]);
    expect(page.items[1]).toMatchObject({
      answered_at: '2024-03-01T10:00:05.000Z',
      duration_seconds: 62.25,
      billable_seconds: 90,
      cost_estimate: { amount: 0.075, currency: 'USD' },
    });
    expect(page.items[0]).toMatchObject({ answered_at: null, duration_seconds: 0, billable_seconds: 0 });
    expect((await history(`${window}&disposition=busy`)).items.map((i) => i.id)).toEqual([`${tag}-busy`]);
    expect((await history(`${window}&direction=outbound&trunk=${trunkId}`)).total).toBe(2);
  });
});
