import { api, createUser } from '../support/api';
import {
  eventually,
  messageCount,
  messagesReceived,
  sendSms,
  smsHistory,
  smsProvider,
  smsUserSenderScenario,
  stop,
  userInboxScenario,
  type SmsItem,
} from '../support/sms';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { runSipp, startSipp } from '../../harness/sipp';
import { testStack } from '../support/stack';

// The provider (a trunk) is SIPp on 127.0.0.5; 127.0.0.9 is a stranger.
const PROVIDER = '127.0.0.5';
const STRANGER = '127.0.0.9';
const AI_NUMBER = '+15557770200';
const OUR_NUMBER = '+15557770201';
const CUSTOMER = '+14155550123';

async function createTrunk(port: number, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await api('POST', '/api/trunks/', {
    role: 'operator',
    body: {
      trunk_id: 'sms_trunk',
      name: 'SMS provider',
      provider: 'test',
      proxy_address: PROVIDER,
      proxy_port: port,
      transport: 'UDP',
      priority: 10,
      ...extra,
    },
  });
  if (res.status !== 201) throw new Error(`trunk: ${res.status} ${JSON.stringify(res.body)}`);
}

async function deleteTrunk(): Promise<void> {
  await api('DELETE', '/api/trunks/sms_trunk', { role: 'operator' });
}

function send(body: Record<string, unknown>, headers?: Record<string, string>) {
  return api<SmsItem & { error?: { code: string } }>('POST', '/api/sms/send', {
    role: 'operator',
    body,
    ...(headers ? { headers } : {}),
  });
}

async function finalStatus(
  id: string,
): Promise<SmsItem & { history: Array<{ status: string; sip_status: number | null; attempt: number }> }> {
  return eventually(`message ${id} to settle`, async () => {
    const res = await api<SmsItem & { history: Array<{ status: string; sip_status: number | null; attempt: number }> }>(
      'GET',
      `/api/sms/${id}`,
      { role: 'operator' },
    );
    return ['sent', 'failed', 'delivered', 'undelivered'].includes(res.body.status) ? res.body : undefined;
  });
}

describe('SMS over SIP MESSAGE', () => {
  beforeAll(async () => {
    for (const body of [
      { number: AI_NUMBER, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
      { number: OUR_NUMBER, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
    ]) {
      const res = await api('POST', '/api/numbers/', { role: 'operator', body });
      expect(res.status).toBe(201);
    }
  });
  afterEach(deleteTrunk);
  afterAll(async () => {
    for (const n of [AI_NUMBER, OUR_NUMBER])
      await api('DELETE', `/api/numbers/${encodeURIComponent(n)}`, { role: 'operator' });
  });

  test('a MESSAGE from a trunk reaches the AI, and its reply comes back to the provider as a MESSAGE', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    expectSippSuccess(
      await sendSms(PROVIDER, CUSTOMER, AI_NUMBER, 'hello from the test', 202),
      'inbound MESSAGE accepted',
    );
    const reply = await eventually('the AI reply to be sent', async () => {
      const out = await smsHistory(`number=${encodeURIComponent(CUSTOMER)}&direction=outbound`);
      return out.find((m) => m.status === 'sent');
    });
    const run = await stop(provider);
    const received = messagesReceived(run);
    expect(received).toHaveLength(1);
    const msg = received[0] as string;
    expect(msg).toMatch(new RegExp(`^MESSAGE sip:\\${CUSTOMER}@${PROVIDER.replace(/\./g, '\\.')}`));
    expect(msg).toMatch(new RegExp(`^From: <sip:\\${AI_NUMBER}@`, 'm'));
    expect(msg).toMatch(new RegExp(`^To: <sip:\\${CUSTOMER}@`, 'm'));
    expect(msg).toContain('Demo agent got your message: hello from the test');

    const inbound = await smsHistory(`number=${encodeURIComponent(CUSTOMER)}&direction=inbound`);
    expect(inbound).toHaveLength(1);
    expect(inbound[0]).toMatchObject({
      from_number: CUSTOMER,
      to_number: AI_NUMBER,
      message: 'hello from the test',
      status: 'delivered',
      trunk_id: 'sms_trunk',
    });
    expect(reply).toMatchObject({
      from_number: AI_NUMBER,
      to_number: CUSTOMER,
      in_reply_to: inbound[0]?.message_id,
      last_sip_status: 200,
    });
  });

  test("POST /api/sms/send: the seed's +0987654321 is a 400 naming to_number; a real number reaches the provider", async () => {
    const bad = await send({ from_number: OUR_NUMBER, to_number: '+0987654321', message: 'Hello from SIP server!' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('ERR_VALIDATION');
    expect(JSON.stringify(bad.body)).toContain('to_number');
    const notOurs = await send({ from_number: '+14155550100', to_number: CUSTOMER, message: 'x' });
    expect(notOurs.status).toBe(400);
    expect(notOurs.body.error?.code).toBe('ERR_SMS_FROM_NOT_OURS');

    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const ok = await send({ from_number: OUR_NUMBER, to_number: '+14155550124', message: 'Hello from SIP server!' });
    expect(ok.status).toBe(202);
    expect(ok.body).toMatchObject({ status: 'queued', segments: 1, encoding: 'gsm7' });
    const done = await finalStatus(ok.body.message_id);
    expect(done).toMatchObject({ status: 'sent', attempts: 1, last_sip_status: 200, trunk_id: 'sms_trunk' });
    expect(done.history.map((h) => h.status)).toEqual(['queued', 'sending', 'sent']);
    const run = await stop(provider);
    expect(messagesReceived(run).join('\n')).toContain('Hello from SIP server!');
  });

  test('503 twice then 200: sent after three attempts; 403: failed after one', async () => {
    const provider = await smsProvider(PROVIDER, ['503 Service Unavailable', '503 Service Unavailable', '200 OK']);
    await createTrunk(provider.localPort);
    const res = await send({ from_number: OUR_NUMBER, to_number: '+14155550125', message: 'retry me' });
    const done = await finalStatus(res.body.message_id);
    expect(done).toMatchObject({ status: 'sent', attempts: 3, last_sip_status: 200 });
    // Kamailio relays a provider's 503 upstream as 500 (RFC 3261 §16.7: a proxy does not forward 503).
    expect(done.history.filter((h) => h.sip_status === 500)).toHaveLength(2);
    expect(messageCount(await stop(provider))).toBe(3);

    await deleteTrunk();
    const refusing = await smsProvider(PROVIDER, ['403 Forbidden']);
    await createTrunk(refusing.localPort);
    const res2 = await send({ from_number: OUR_NUMBER, to_number: '+14155550126', message: 'refuse me' });
    const failed = await finalStatus(res2.body.message_id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, last_sip_status: 403 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(messageCount(await stop(refusing))).toBe(1);
  });

  test('an idempotency key repeated sends one MESSAGE; the same key with another body is a 409', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const body = { from_number: OUR_NUMBER, to_number: '+14155550127', message: 'only once' };
    const first = await send(body, { 'Idempotency-Key': 'order-42-confirmation' });
    const again = await send(body, { 'Idempotency-Key': 'order-42-confirmation' });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.message_id).toBe(first.body.message_id);
    const other = await send({ ...body, message: 'something else' }, { 'Idempotency-Key': 'order-42-confirmation' });
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe('ERR_IDEMPOTENCY_KEY_REUSED');
    await finalStatus(first.body.message_id);
    await new Promise((r) => setTimeout(r, 500));
    expect(messageCount(await stop(provider))).toBe(1);
  });

  test('a 400-character GSM-7 text is 3 segments, 100 emoji are 4, and a splitting trunk gets one MESSAGE per segment', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort, { sms_split_segments: true });
    const gsm = 'The quick brown fox jumps over the lazy dog. '.repeat(9).slice(0, 400);
    const emoji = '😀'.repeat(100);
    const a = await send({ from_number: OUR_NUMBER, to_number: '+14155550128', message: gsm });
    const b = await send({ from_number: OUR_NUMBER, to_number: '+14155550129', message: emoji });
    expect(a.body).toMatchObject({ encoding: 'gsm7', segments: 3 });
    expect(b.body).toMatchObject({ encoding: 'ucs2', segments: 4 });
    await finalStatus(a.body.message_id);
    await finalStatus(b.body.message_id);
    const got = messagesReceived(await stop(provider));
    expect(got).toHaveLength(7);
    const partsOf = (to: string): string[] => got.filter((m) => m.startsWith(`MESSAGE sip:${to}@`));
    const gsmParts = partsOf('+14155550128');
    expect(gsmParts.map((m) => /^X-SMS-Part: (.*)$/m.exec(m)?.[1]?.replace(/ref=\d+; /, ''))).toEqual([
      'seq=1; total=3',
      'seq=2; total=3',
      'seq=3; total=3',
    ]);
    // The parts' bodies, in order, are the text (SIPp's trace ends each body with a line break).
    const bodies = gsmParts.map((m) =>
      m
        .slice(m.search(/\r?\n\r?\n/))
        .replace(/^\r?\n\r?\n/, '')
        .replace(/\r?\n$/, ''),
    );
    expect(bodies.join('')).toBe(gsm);
    expect(partsOf('+14155550129')).toHaveLength(4);
  });

  test('concatenated inbound parts (X-SMS-Part) reach the AI as one message', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const from = '+14155550130';
    // Out of order, as networks deliver them.
    for (const [seq, text] of [
      [2, 'second part, '],
      [1, 'First part, '],
      [3, 'third part.'],
    ] as const) {
      expectSippSuccess(
        await sendSms(PROVIDER, from, AI_NUMBER, text, 202, `ref=77; seq=${seq}; total=3`),
        `part ${seq}`,
      );
    }
    const whole = await eventually('the reassembled message', async () => {
      const items = await smsHistory(`number=${encodeURIComponent(from)}&direction=inbound`);
      return items.find((m) => m.status === 'delivered');
    });
    expect(whole.message).toBe('First part, second part, third part.');
    expect(whole.segments).toBe(3);
    const detail = await api<{ parts: Array<{ seq: number }> }>('GET', `/api/sms/${whole.message_id}`, {
      role: 'operator',
    });
    expect(detail.body.parts.map((p) => p.seq)).toEqual([1, 2, 3]);
    await eventually('the reply', async () =>
      (await smsHistory(`number=${encodeURIComponent(from)}&direction=outbound`)).find((m) => m.status === 'sent'),
    );
    const got = messagesReceived(await stop(provider));
    expect(got).toHaveLength(1);
    expect(got[0]).toContain('Demo agent got your message: First part, second part, third part.');
  });

  test('parts that never complete are delivered after SMS_PART_TIMEOUT_SECONDS, the gap marked', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const from = '+14155550133';
    expectSippSuccess(await sendSms(PROVIDER, from, AI_NUMBER, 'Begin, ', 202, 'ref=78; seq=1; total=3'), 'part 1');
    expectSippSuccess(await sendSms(PROVIDER, from, AI_NUMBER, 'end.', 202, 'ref=78; seq=3; total=3'), 'part 3');
    // The test stack waits 4 s (SMS_PART_TIMEOUT_SECONDS) for a missing part.
    const whole = await eventually(
      'the incomplete message',
      async () =>
        (await smsHistory(`number=${encodeURIComponent(from)}&direction=inbound`)).find(
          (m) => m.status === 'delivered',
        ),
      20_000,
    );
    expect(whole.message).toBe('Begin, [part 2 of 3 missing]end.');
    const detail = await api<{ history: Array<{ status: string; detail: string | null }> }>(
      'GET',
      `/api/sms/${whole.message_id}`,
      { role: 'operator' },
    );
    expect(detail.body.history[0]).toMatchObject({ status: 'received', detail: '1 of 3 parts never arrived' });
    await stop(provider);
  });

  test('blocked numbers and strangers can neither send nor receive', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const spammer = '+14155550666';
    expect(
      (await api('POST', '/api/numbers/block', { role: 'operator', body: { number: spammer, reason: 'SMS spam' } }))
        .status,
    ).toBe(201);
    try {
      expectSippSuccess(await sendSms(PROVIDER, spammer, AI_NUMBER, 'buy now', 403), 'blocked sender refused');
      const out = await send({ from_number: OUR_NUMBER, to_number: spammer, message: 'hi' });
      expect(out.status).toBe(403);
      expect(out.body.error?.code).toBe('ERR_NUMBER_BLOCKED');
      // Not an allowlisted trunk and no credentials: challenged, never stored.
      expectSippSuccess(await sendSms(STRANGER, '+14155550777', AI_NUMBER, 'let me in', 407), 'stranger challenged');
      expect(await smsHistory(`number=${encodeURIComponent(spammer)}`)).toEqual([]);
      expect(await smsHistory(`number=${encodeURIComponent('+14155550777')}`)).toEqual([]);
    } finally {
      await api('DELETE', `/api/numbers/block/${encodeURIComponent(spammer)}`, { role: 'operator' });
    }
    expect(messageCount(await stop(provider))).toBe(0);
  });

  test("a provider's delivery report (RFC 5438 IMDN in a MESSAGE) moves a sent message to delivered", async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const res = await send({ from_number: OUR_NUMBER, to_number: '+14155550131', message: 'report back' });
    expect((await finalStatus(res.body.message_id)).status).toBe('sent');
    const imdn =
      '<?xml version="1.0" encoding="UTF-8"?><imdn xmlns="urn:ietf:params:xml:ns:imdn">' +
      `<message-id>${res.body.message_id}</message-id><datetime>2026-11-25T10:00:00Z</datetime>` +
      '<delivery-notification><status><delivered/></status></delivery-notification></imdn>';
    expectSippSuccess(
      await sendSms(PROVIDER, '+14155550131', OUR_NUMBER, imdn, 200, undefined, 'message/imdn+xml'),
      'delivery report accepted',
    );
    const done = await api<SmsItem & { history: Array<{ status: string; detail: string | null }> }>(
      'GET',
      `/api/sms/${res.body.message_id}`,
      { role: 'operator' },
    );
    expect(done.body.status).toBe('delivered');
    expect(done.body.history.map((h) => h.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);
    expect(done.body.history.at(-1)?.detail).toBe('delivery report: delivered');
    // A report about a message we never sent is refused, and stored as nothing.
    expectSippSuccess(
      await sendSms(
        PROVIDER,
        '+14155550131',
        OUR_NUMBER,
        imdn.replace(res.body.message_id, 'sms_000000000000000000000000'),
        404,
        undefined,
        'message/imdn+xml',
      ),
      'unknown report',
    );
    await stop(provider);
  });

  test('a message for a number routed to a user who is offline waits, and reaches the phone once it registers', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    await createTrunk(provider.localPort);
    const bob = await createUser();
    const did = '+15557770202';
    expect(
      (
        await api('POST', '/api/numbers/', {
          role: 'operator',
          body: { number: did, route_type: 'sip_user', target: bob.username },
        })
      ).status,
    ).toBe(201);
    try {
      expectSippSuccess(await sendSms(PROVIDER, '+14155550132', did, 'are you there, bob?', 202), 'stored for bob');
      const waiting = await eventually('the message to wait for bob', async () => {
        const items = await smsHistory(`number=${encodeURIComponent(did)}`);
        return items.find((m) => m.status === 'received' && m.last_sip_status === 404);
      });
      expect(waiting.error).toContain('kept until the user registers');
      const inbox = await startSipp({
        scenario: userInboxScenario(),
        remote: proxy(),
        serverMode: true,
        timeoutSeconds: 15,
      });
      expectSippSuccess(
        await register(bob.username, bob.password, { first: 401, final: 200, contactPort: inbox.localPort }),
        'bob registers',
      );
      const run = await inbox.done;
      expectSippSuccess(run, 'bob registers and gets the message');
      expect(run.messages).toContain('are you there, bob?');
      const delivered = await eventually('delivered', async () =>
        (await smsHistory(`number=${encodeURIComponent(did)}`)).find((m) => m.status === 'delivered'),
      );
      expect(delivered.message_id).toBe(waiting.message_id);
    } finally {
      await api('DELETE', `/api/numbers/${encodeURIComponent(did)}`, { role: 'operator' });
      await stop(provider);
    }
  });

  test("a registered user texts the AI number; the reply comes back to the user's phone", async () => {
    const alice = await createUser();
    const inbox = await startSipp({
      scenario: userInboxScenario(),
      remote: proxy(),
      serverMode: true,
      timeoutSeconds: 15,
    });
    expectSippSuccess(
      await register(alice.username, alice.password, { first: 401, final: 200, contactPort: inbox.localPort }),
      'alice registers',
    );
    const sent = await runSipp({
      scenario: smsUserSenderScenario(202),
      remote: proxy(),
      keys: { user: alice.username, to: AI_NUMBER, text: 'hi from my phone', domain: testStack().config.sip.domain },
      auth: { user: alice.username, password: alice.password },
      timeoutSeconds: 10,
    });
    expectSippSuccess(sent, "alice's MESSAGE accepted");
    const run = await inbox.done;
    expectSippSuccess(run, 'the reply reaches alice');
    expect(run.messages).toContain('Demo agent got your message: hi from my phone');
    const inbound = await eventually('the inbound message to be marked delivered', async () =>
      (await smsHistory(`number=${encodeURIComponent(alice.username)}&direction=inbound`)).find(
        (m) => m.status === 'delivered',
      ),
    );
    expect(inbound).toMatchObject({ from_number: alice.username, to_number: AI_NUMBER, status: 'delivered' });
  });

  test('/metrics shows the queue and the outcomes', async () => {
    const res = await fetch(`${testStack().apiUrl}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/^sms_queue_depth\{state="waiting"\} \d+/m);
    expect(text).toMatch(/^sms_queue_oldest_age_seconds \d/m);
    expect(text).toMatch(/^sms_outcomes_total\{direction="outbound",status="sent"\} [1-9]/m);
    expect(text).toMatch(/^sms_received_total\{status="202"\} [1-9]/m);
  });
});
