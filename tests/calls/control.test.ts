import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { SupervisedChild, waitUntilReady } from '../../scripts/stack/processes';
import {
  freeMediaPort,
  freeUdpPort,
  G711A_PCAP,
  responsesSent,
  startSipp,
  tracedMessages,
  uacMediaScenario,
  waitForAnswer,
  type RunningSipp,
} from '../../harness/sipp';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import { api, createUser, type CreatedUser } from '../support/api';
import { waitFor } from '../support/calls';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { SCENARIOS } from '../support/sipp-scenarios';
import { stackView, testStack, type TestStack } from '../support/stack';

/**
 * Call control on the real stack (Kamailio, rtpengine, the media gateway, PostgreSQL)
 * through two control-plane processes: the stack's own and a second one on its own
 * port, so a command issued on one replica reaches the gateway that owns the call.
 * The far ends are SIPp: each must receive the BYE the hangup causes.
 */
const SLOT = Number(process.env['TEST_STACK_SLOT'] || '0');
const SECOND_API_PORT = 20_000 + (SLOT || 0) * 1000 + 86;
const SECOND_SMS_PORT = 20_000 + (SLOT || 0) * 1000 + 96;

interface ActiveItem {
  call_id: string;
  kind: 'ai' | 'proxied';
  sip_call_id: string;
  direction: string;
  state: string;
  from_number: string;
  to_number: string;
  on_hold: boolean | null;
  duration_seconds: number;
}
interface ActivePage {
  items: ActiveItem[];
  total: number;
  kamailio: string;
}
interface ErrorBody {
  error: { code: string; message: string; fields?: { field: string }[] };
}

describe('call control: hangup of AI and proxied calls from any control-plane replica, and the live call list', () => {
  let second: TestStack;
  let secondProcess: SupervisedChild;
  let db: Client;

  beforeAll(async () => {
    const first = testStack();
    second = stackView({ ...first.env, API_PORT: String(SECOND_API_PORT), SMS_SIP_PORT: String(SECOND_SMS_PORT) });
    secondProcess = new SupervisedChild(
      {
        name: 'control-plane-2',
        command: process.execPath,
        args: [join(__dirname, '..', '..', 'dist', 'services', 'control-plane', 'src', 'main.js')],
        env: { ...second.env },
      },
      join(first.config.stateDir, 'logs', 'control-plane-2.log'),
    );
    await waitUntilReady(
      secondProcess,
      async () => {
        const res = await fetch(`${second.apiUrl}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.status !== 200) throw new Error(`health answered ${res.status}`);
      },
      30_000,
    );
    db = new Client({ connectionString: first.config.databaseUrl });
    await db.connect();
  }, 60_000);

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await secondProcess?.stop();
  }, 30_000);

  const op = <T>(method: string, path: string, body?: unknown, stack: TestStack = testStack()) =>
    api<T>(method, path, { role: 'operator', stack, ...(body === undefined ? {} : { body }) });

  /** An AI number answered by the demo agent (echo). */
  async function aiNumber(): Promise<string> {
    const number = `+1555779${String((Date.now() + Math.floor(Math.random() * 1000)) % 10000).padStart(4, '0')}`;
    const res = await op('POST', '/api/numbers/', {
      number,
      route_type: 'ai',
      ai_dialect: 'olib',
      ai_options: { mode: 'echo' },
    });
    expect(res.status).toBe(201);
    return number;
  }

  /** SIPp calls the AI number and waits (up to 30 s) for the far end's BYE. */
  async function aiCall(
    caller: CreatedUser,
    number: string,
    callId: string,
  ): Promise<{ sipp: RunningSipp; peer: RtpPeer }> {
    const peer = await RtpPeer.open();
    const sipp = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 30_000, remoteHangup: true }),
      remote: proxy(),
      keys: {
        user: caller.username,
        callee: number.slice(1),
        domain: testStack().config.sip.domain,
        rtp_port: peer.port,
      },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 40,
      extraArgs: ['-cid_str', callId],
    });
    const relay = await waitForAnswer(sipp);
    void peer.send(pcapRtp(G711A_PCAP, 8), relay).catch(() => undefined);
    return { sipp, peer };
  }

  /** `callee` registered at a SIPp UAS (answers, waits for BYE); `caller` calls it and waits for BYE too. */
  async function userCall(
    caller: CreatedUser,
    callee: CreatedUser,
    callId: string,
  ): Promise<{ uac: RunningSipp; uas: RunningSipp }> {
    const uasPort = await freeUdpPort();
    expectSippSuccess(
      await register(callee.username, callee.password, { first: 401, final: 200, contactPort: uasPort }),
      'callee registers',
    );
    const uas = await startSipp({
      scenario: `${SCENARIOS}/uas-answer.xml`,
      remote: proxy(),
      serverMode: true,
      localPort: uasPort,
      rtpEcho: true,
      mediaPort: await freeMediaPort(),
      timeoutSeconds: 40,
    });
    const peer = await freeMediaPort();
    const uac = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 30_000, remoteHangup: true }),
      remote: proxy(),
      keys: { user: caller.username, callee: callee.username, domain: testStack().config.sip.domain, rtp_port: peer },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 40,
      extraArgs: ['-cid_str', callId],
    });
    await waitForAnswer(uac);
    return { uac, uas };
  }

  const byesReceived = (messages: string): number =>
    tracedMessages({ messages } as never).filter((m) => m.direction === 'received' && m.text.startsWith('BYE ')).length;

  test('an AI call and a user-to-user call: /active lists each once; hold of a proxied call → 409 unsupported; hangup through the second replica ends the AI call (the caller gets the BYE) and through the first ends the proxied call (both parties get a BYE)', async () => {
    const number = await aiNumber();
    const [caller, alice, bob] = [await createUser(), await createUser(), await createUser()];
    const aiCallId = `ai-${randomUUID()}`;
    const userCallId = `uu-${randomUUID()}`;
    const ai = await aiCall(caller, number, aiCallId);
    const users = await userCall(alice, bob, userCallId);
    try {
      // Both calls, each once (the AI call's Kamailio dialog is the AI call), through either replica.
      const listed = await waitFor('both calls in /api/calls/active', async () => {
        const page = await op<ActivePage>('GET', '/api/calls/active?per_page=200', undefined, second);
        const mine = page.body.items.filter((c) => c.sip_call_id === aiCallId || c.sip_call_id === userCallId);
        return mine.length === 2 && mine.every((c) => c.state === 'active') ? page.body : undefined;
      });
      expect(listed.kamailio).toBe('ok');
      const aiItem = listed.items.find((c) => c.sip_call_id === aiCallId)!;
      const userItem = listed.items.find((c) => c.sip_call_id === userCallId)!;
      expect(listed.items.filter((c) => c.sip_call_id === aiCallId)).toHaveLength(1);
      expect(aiItem).toMatchObject({ kind: 'ai', direction: 'inbound', to_number: number.slice(1), on_hold: false });
      expect(userItem).toMatchObject({
        kind: 'proxied',
        direction: 'internal',
        from_number: alice.username,
        to_number: bob.username,
        on_hold: null,
      });
      expect(userItem.call_id).toMatch(/^kd-[0-9]+-[0-9]+$/);

      // Only hangup applies to a call Kamailio proxies.
      const proxiedHold = await op<ErrorBody>('POST', `/api/calls/${userItem.call_id}/hold`);
      expect([proxiedHold.status, proxiedHold.body.error.code]).toEqual([409, 'ERR_CALL_COMMAND_UNSUPPORTED']);

      const t0 = performance.now();
      const hangup = await op<Record<string, unknown>>(
        'POST',
        `/api/calls/${aiItem.call_id}/hangup`,
        { reason: 'test over' },
        second,
      );
      const tookMs = performance.now() - t0;
      expect([hangup.status, hangup.body]).toEqual([
        200,
        expect.objectContaining({ ok: true, call_id: aiItem.call_id, command: 'hangup', ended: true }),
      ]);
      const aiRun = await ai.sipp.done;
      expectSippSuccess(aiRun, 'the AI caller receives the BYE');
      expect(byesReceived(aiRun.messages)).toBe(1);
      const row = await db.query<{ state: string; end_reason: string; ended_by: string }>(
        'SELECT state, end_reason, ended_by FROM calls WHERE call_id = $1',
        [aiItem.call_id],
      );
      expect(row.rows[0]).toEqual({ state: 'ended', end_reason: 'api hangup: test over', ended_by: 'api' });
      console.log(
        `[control] AI call hung up through the second control-plane in ${tookMs.toFixed(0)} ms (request → 200)`,
      );

      const again = await op<ErrorBody>('POST', `/api/calls/${aiItem.call_id}/hangup`, {});
      expect([again.status, again.body.error.code]).toEqual([409, 'ERR_CALL_NOT_ACTIVE']);

      const proxied = await op<Record<string, unknown>>('POST', `/api/calls/${userItem.call_id}/hangup`, {});
      expect([proxied.status, proxied.body]).toEqual([200, expect.objectContaining({ ok: true, ended: true })]);
      const [uacRun, uasRun] = await Promise.all([users.uac.done, users.uas.done]);
      expectSippSuccess(uacRun, 'the caller receives the BYE');
      expectSippSuccess(uasRun, 'the callee receives the BYE');
      // The callee's BYE comes from the control-plane before dlg.end_dlg's, which may also
      // reach it (and find no dialog): each party answers one BYE with 200.
      expect([
        byesReceived(uacRun.messages),
        responsesSent(uacRun, 200, 'BYE'),
        responsesSent(uasRun, 200, 'BYE'),
      ]).toEqual([1, 1, 1]);

      const gone = await op<ErrorBody>('POST', `/api/calls/${userItem.call_id}/hangup`, {});
      expect([gone.status, gone.body.error.code]).toEqual([404, 'ERR_CALL_NOT_FOUND']);
      const after = await op<ActivePage>('GET', '/api/calls/active?per_page=200');
      expect(after.body.items.filter((c) => c.sip_call_id === aiCallId || c.sip_call_id === userCallId)).toEqual([]);
    } finally {
      ai.peer.close();
      ai.sipp.kill();
      users.uac.kill();
      users.uas.kill();
    }
  }, 90_000);

  test('unknown ids → 404; malformed ids and hostile bodies → 400 naming the field; operators only', async () => {
    for (const id of [randomUUID(), 'kd-1-999999', 'no-such-call']) {
      const res = await op<ErrorBody>('POST', `/api/calls/${id}/hangup`, {});
      expect([id, res.status, res.body.error.code]).toEqual([id, 404, 'ERR_CALL_NOT_FOUND']);
    }
    const cases: [string, unknown, string][] = [
      [`/api/calls/${encodeURIComponent('../../etc/passwd')}/hangup`, {}, 'call_id'],
      [`/api/calls/${'a'.repeat(65)}/hangup`, {}, 'call_id'],
      [`/api/calls/${randomUUID()}/hangup`, { reason: 'x'.repeat(101) }, 'reason'],
      [`/api/calls/${randomUUID()}/hangup`, { reason: 'line\r\nBreak: injected' }, 'reason'],
      [`/api/calls/${randomUUID()}/hangup`, { reason: 'ok', extra: 1 }, 'extra'],
      [`/api/calls/${randomUUID()}/transfer`, { target: 'sip:evil@x;lr' }, 'target'],
      [`/api/calls/${randomUUID()}/transfer`, { target: 'bob', mode: 'teleport' }, 'mode'],
      [`/api/calls/${randomUUID()}/hangup?wait=maybe`, {}, 'wait'],
    ];
    for (const [path, body, field] of cases) {
      const res = await op<ErrorBody>('POST', path, body);
      expect([path, res.status, res.body.error.code]).toEqual([path, 400, 'ERR_VALIDATION']);
      expect((res.body.error.fields ?? []).map((f) => f.field)).toContain(field);
    }
    const anonymous = await api<ErrorBody>('POST', `/api/calls/${randomUUID()}/hangup`, { body: {} });
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, 'ERR_UNAUTHENTICATED']);
  });

  test('POST /api/calls/initiate: caller ID not ours → 400 ERR_CALLER_ID_NOT_ALLOWED; ours → 201, the call initiated, its originate command and initiated webhook event written together', async () => {
    const number = await aiNumber();
    const user = await createUser();
    const refused: [Record<string, unknown>, string][] = [
      [{ from_number: '+14155550000', to_number: '+14155550123' }, 'ERR_CALLER_ID_NOT_ALLOWED'],
      [{ from_number: user.username, to_number: '+14155550123' }, 'ERR_CALLER_ID_NOT_ALLOWED'],
      [
        { from_number: 'someone-else', from_user: user.username, to_number: '+14155550123' },
        'ERR_CALLER_ID_NOT_ALLOWED',
      ],
      [{ from_number: number, to_number: '12345' }, 'ERR_VALIDATION'],
      [{ from_number: number }, 'ERR_VALIDATION'],
      [{ from_number: number, to_number: '+14155550123', to_user: user.username }, 'ERR_VALIDATION'],
      [{ from_number: number, to_user: 'nobody-here' }, 'ERR_VALIDATION'],
      [{ from_number: number, to_number: '+14155550123', ring_timeout_seconds: 121 }, 'ERR_VALIDATION'],
      [{ from_number: number, to_number: '+14155550123', webhook_url: 'file:///etc/passwd' }, 'ERR_VALIDATION'],
      [{ from_number: number, to_number: '+14155550123', ai: { url: 'http://not-a-websocket' } }, 'ERR_VALIDATION'],
    ];
    // The webhook URL check (docs/security.md): no credentials in the URL.
    refused.push([
      { from_number: number, to_number: '+14155550123', webhook_url: 'https://user:secret@hooks.example.com/x' },
      'ERR_WEBHOOK_URL_INVALID',
    ]);
    for (const [body, code] of refused) {
      const res = await op<ErrorBody>('POST', '/api/calls/initiate', body);
      expect([body, res.status, res.body.error.code]).toEqual([body, 400, code]);
    }
    const before = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM calls WHERE direction = 'outbound'");

    const res = await op<Record<string, unknown>>(
      'POST',
      '/api/calls/initiate',
      {
        from_number: number,
        to_number: '+1 415 555 0123',
        webhook_url: 'https://hooks.example.com/calls',
        custom_parameters: { campaign: 'test' },
        ring_timeout_seconds: 20,
      },
      second,
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      state: 'initiated',
      direction: 'outbound',
      from_number: number,
      to_number: '+14155550123',
      ring_timeout_seconds: 20,
    });
    const callId = res.body['call_id'] as string;
    const call = await db.query('SELECT state, direction, gateway, webhook_url FROM calls WHERE call_id = $1', [
      callId,
    ]);
    expect(call.rows[0]).toMatchObject({ direction: 'outbound', webhook_url: 'https://hooks.example.com/calls' });
    const command = await db.query<{ command: string; gateway: string | null; args: Record<string, unknown> }>(
      'SELECT command, gateway, args FROM call_commands WHERE call_id = $1',
      [callId],
    );
    expect(command.rows).toEqual([
      {
        command: 'originate',
        gateway: null,
        args: expect.objectContaining({
          from: number,
          to: '+14155550123',
          ring_timeout_seconds: 20,
          ai: expect.objectContaining({ custom_parameters: { campaign: 'test' } }),
        }),
      },
    ]);
    // No gateway here places it (no originate handler, or no trunk to +1415…): it ends failed, never stays initiated.
    const ended = await waitFor(
      'the call to end',
      async () => {
        const r = await db.query<{ state: string; disposition: string }>(
          'SELECT state, disposition FROM calls WHERE call_id = $1',
          [callId],
        );
        return r.rows[0]?.state === 'ended' ? r.rows[0] : undefined;
      },
      15_000,
    );
    expect(ended.disposition).toBe('failed');
    const events = await db.query<{ event: string }>(
      'SELECT event FROM webhook_outbox WHERE call_id = $1 ORDER BY seq',
      [callId],
    );
    expect(events.rows.map((e) => e.event)[0]).toBe('initiated');
    expect(events.rows.map((e) => e.event).at(-1)).toBe('failed');
    const after = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM calls WHERE direction = 'outbound'");
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n + 1);
  });
});
