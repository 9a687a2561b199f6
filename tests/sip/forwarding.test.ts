/**
 * Call forwarding with an AI fallback, done in Kamailio (issue 14 §5): a number routed
 * `forward` to a registered user rings that user for forward_timeout_seconds; with
 * forward_fallback 'ai' a user who does not answer, or is busy, hands the call to the
 * AI gateway with the number's own AI settings (here the demo agent's echo), and the
 * caller hears it through the relay; with 'none' the caller gets the failure.
 * SIPp plays the caller (an authenticated user) and the forward target's phone; the
 * caller's media is a socket of the test's own.
 */
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { api, createUser, type CreatedUser } from '../support/api';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import { expectSippSuccess, proxy, register } from '../support/sip';
import {
  freeUdpPort,
  G711A_PCAP,
  OPTIONS_OK,
  requestsReceived,
  runSipp,
  startSipp,
  tracedMessages,
  uacInviteScenario,
  uacMediaScenario,
  uasScenario,
  waitForAnswer,
  writeScenario,
  type RunningSipp,
} from '../../harness/sipp';
import { testStack } from '../support/stack';

const stack = testStack();
let serial = 0;
/** A fresh number of the 555 test range for each forward. */
function nextNumber(): string {
  serial++;
  return `+1555779${String((Date.now() + serial * 37) % 10000).padStart(4, '0')}`;
}

/**
 * A phone that rings (180) and never answers; it takes the proxy's CANCEL (200, then
 * 487). `provider`: it also answers Kamailio's OPTIONS probes (run it with a large -m).
 */
const ringsForever = (provider: boolean): string =>
  writeScenario(
    'uas-rings-forever',
    `${provider ? '\n  <recv request="OPTIONS" optional="true" next="options"/>' : ''}
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
  <recv request="CANCEL" timeout="130000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
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
      CSeq: [last_cseq_number] INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>${provider ? `\n  <nop hide="true" next="end"/>${OPTIONS_OK}` : ''}`,
  );
const RINGS_FOREVER = ringsForever(false);

/** Milliseconds from the caller's authenticated INVITE (CSeq 2) to the 200 OK for it, from SIPp's timestamped trace. */
function inviteToAnswerMs(trace: string): number {
  const at = (re: RegExp): number => {
    for (const block of trace.split(/^(?=-{20,} )/m)) {
      const stamp = /^-{20,} (\S+ \S+)/.exec(block);
      if (stamp?.[1] && re.test(block)) return Date.parse(stamp[1].replace(' ', 'T').slice(0, 23) + 'Z');
    }
    throw new Error(`no ${re} in the caller's trace`);
  };
  return (
    at(/message received[\s\S]*^SIP\/2\.0 200 OK[\s\S]*^CSeq: 2 INVITE/m) -
    at(/message sent[\s\S]*^INVITE [\s\S]*^CSeq: 2 INVITE/m)
  );
}

/** `target` registers its contact at a SIPp playing `scenario`. */
async function targetPhone(target: CreatedUser, scenario: string): Promise<RunningSipp> {
  const port = await freeUdpPort();
  expectSippSuccess(
    await register(target.username, target.password, { first: 401, final: 200, contactPort: port }),
    `${target.username} registers`,
  );
  return startSipp({ scenario, remote: proxy(), serverMode: true, localPort: port, timeoutSeconds: 40 });
}

async function forwardNumber(target: string, fields: Record<string, unknown>): Promise<string> {
  const number = nextNumber();
  await api('DELETE', `/api/numbers/${number.slice(1)}`, { role: 'operator' });
  const res = await api('POST', '/api/numbers/', {
    role: 'operator',
    body: { number, route_type: 'forward', target, ...fields },
  });
  if (res.status !== 201) throw new Error(`forward number: ${res.status} ${JSON.stringify(res.body)}`);
  return number;
}

/**
 * `caller` calls `number` with g711a.pcap as its audio (sent once the call is
 * answered); resolves with how long the answer took and what came back.
 */
async function callAndListen(
  caller: CreatedUser,
  number: string,
): Promise<{ answerMs: number; sent: number; back: number; loud: number; relayAddress: string }> {
  const audio = pcapRtp(G711A_PCAP, 8).slice(0, 150);
  const peer = await RtpPeer.open();
  try {
    const sipp = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs: audio.length * 20 + 1500 }),
      remote: proxy(),
      keys: { user: caller.username, callee: number.slice(1), domain: stack.config.sip.domain, rtp_port: peer.port },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 45,
    });
    const relay = await waitForAnswer(sipp, 40_000);
    await peer.send(audio, relay);
    const run = await sipp.done;
    expectSippSuccess(run, 'the caller');
    const answerMs = inviteToAnswerMs(run.messages);
    const back = peer.received.filter((r) => r.packet.payloadType === 8);
    // The echo carries the caller's audio, not comfort silence (A-law 0xd5/0x55).
    const loud = back.filter((r) => r.packet.payload.some((b) => b !== 0xd5 && b !== 0x55)).length;
    return { answerMs, sent: audio.length, back: back.length, loud, relayAddress: relay.address };
  } finally {
    peer.close();
  }
}

describe('forwarding a number to a user, with a fallback to the AI', () => {
  let caller: CreatedUser;
  beforeAll(async () => {
    caller = await createUser();
  });

  test('the user rings and never answers → after forward_timeout_seconds the AI answers and the caller hears it through the relay', async () => {
    const bob = await createUser();
    const phone = await targetPhone(bob, RINGS_FOREVER);
    const number = await forwardNumber(bob.username, {
      forward_timeout_seconds: 5,
      forward_fallback: 'ai',
      ai_options: { mode: 'echo' },
    });
    const heard = await callAndListen(caller, number);
    const bobRun = await phone.done;
    console.log(
      `forward to a user who does not answer (forward_timeout_seconds 5): the AI answered after ${heard.answerMs} ms; ` +
        `of ${heard.sent} packets sent, ${heard.loud} came back with sound (${heard.back} received in all)`,
    );
    expect(requestsReceived(bobRun, 'INVITE')).toBe(1);
    expect(requestsReceived(bobRun, 'CANCEL')).toBe(1);
    // Kamailio's timers tick every 62.5 ms (1/16 s): the ring time may end up to a tick early.
    expect(heard.answerMs).toBeGreaterThanOrEqual(5000 - 63);
    expect(heard.answerMs).toBeLessThan(7000);
    expect(heard.relayAddress).toBe(stack.config.relay.address);
    expect(heard.loud).toBeGreaterThanOrEqual(Math.floor(heard.sent * 0.8));
  });

  test('the user is busy (486) → the AI answers at once', async () => {
    const bob = await createUser();
    const phone = await targetPhone(bob, uasScenario({ answer: 486 }));
    const number = await forwardNumber(bob.username, {
      forward_timeout_seconds: 30,
      forward_fallback: 'ai',
      ai_options: { mode: 'echo' },
    });
    const heard = await callAndListen(caller, number);
    phone.kill();
    const bobRun = await phone.done;
    console.log(`forward to a busy user: the AI answered after ${heard.answerMs} ms`);
    expect(tracedMessages(bobRun).some((m) => m.direction === 'sent' && m.text.startsWith('SIP/2.0 486'))).toBe(true);
    expect(heard.answerMs).toBeLessThan(2000);
    expect(heard.loud).toBeGreaterThanOrEqual(Math.floor(heard.sent * 0.8));
  });

  test('the user is offline → the AI answers at once', async () => {
    const carol = await createUser();
    const number = await forwardNumber(carol.username, { forward_fallback: 'ai', ai_options: { mode: 'echo' } });
    const heard = await callAndListen(caller, number);
    expect(heard.answerMs).toBeLessThan(2000);
    expect(heard.loud).toBeGreaterThanOrEqual(Math.floor(heard.sent * 0.8));
  });

  test('fallback none: the user is busy → the caller gets the 486', async () => {
    const bob = await createUser();
    const phone = await targetPhone(bob, uasScenario({ answer: 486 }));
    const number = await forwardNumber(bob.username, { forward_fallback: 'none' });
    const run = await runSipp({
      scenario: uacInviteScenario({ expect: 486, authenticate: true }),
      remote: proxy(),
      keys: { user: caller.username, callee: number.slice(1), domain: stack.config.sip.domain },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 15,
    });
    phone.kill();
    expectSippSuccess(run, 'the caller gets 486');
    expect(requestsReceived(await phone.done, 'INVITE')).toBe(1);
  });
});

describe('forwarding a number to an external number, with a fallback to the AI', () => {
  const PROVIDER_IP = '127.0.0.3';
  const TRUNK_ID = 'forwarding_trunk';
  let caller: CreatedUser;
  let provider: RunningSipp | undefined;

  async function trunkTo(scenario: string, extra: Record<string, unknown> = {}): Promise<void> {
    provider = await startSipp({
      scenario,
      remote: proxy(),
      serverMode: true,
      localIp: PROVIDER_IP,
      localPort: await freeUdpPort(PROVIDER_IP),
      calls: 100_000,
      limit: 100,
      timeoutSeconds: 60,
    });
    const res = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: TRUNK_ID,
        name: 'Forwarding test trunk',
        provider: 'sipp',
        proxy_address: PROVIDER_IP,
        proxy_port: provider.localPort,
        transport: 'UDP',
        supports_inbound: false,
        supports_outbound: true,
        ...extra,
      },
    });
    if (res.status !== 201) throw new Error(`trunk: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async function providerRun(): Promise<Awaited<RunningSipp['done']>> {
    provider?.kill();
    return (provider as RunningSipp).done;
  }

  beforeAll(async () => {
    caller = await createUser();
  });
  afterEach(async () => {
    provider?.kill();
    provider = undefined;
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
  });

  test('the far end is busy (486 through the trunk) → the AI answers at once', async () => {
    await trunkTo(uasScenario({ answer: 486 }));
    const number = await forwardNumber('+15551230090', { forward_fallback: 'ai', ai_options: { mode: 'echo' } });
    const heard = await callAndListen(caller, number);
    const run = await providerRun();
    expect(run.messages).toMatch(/INVITE sip:\+15551230090@127\.0\.0\.3/);
    expect(heard.answerMs).toBeLessThan(2000);
    expect(heard.loud).toBeGreaterThanOrEqual(Math.floor(heard.sent * 0.8));
  });

  test('the far end rings out → the AI answers after forward_timeout_seconds, and the trunk stays active', async () => {
    await trunkTo(ringsForever(true));
    const number = await forwardNumber('+15551230091', {
      forward_timeout_seconds: 5,
      forward_fallback: 'ai',
      ai_options: { mode: 'echo' },
    });
    const heard = await callAndListen(caller, number);
    console.log(`forward to an external number that rings out (5 s): the AI answered after ${heard.answerMs} ms`);
    // Kamailio's timers tick every 62.5 ms (1/16 s): the ring time may end up to a tick early.
    expect(heard.answerMs).toBeGreaterThanOrEqual(5000 - 63);
    expect(heard.answerMs).toBeLessThan(7000);
    expect(heard.loud).toBeGreaterThanOrEqual(Math.floor(heard.sent * 0.8));
    // A callee who did not answer says nothing about the trunk: it is not marked down.
    const sets = await kamailioRpcFromConfig(stack.config).call<unknown>('dispatcher.list');
    const dest = JSON.stringify(sets).match(new RegExp(`"URI":"sip:${PROVIDER_IP.replace(/\./g, '\\.')}:\\d+[^}]*`));
    expect(dest?.[0]).toMatch(/"FLAGS":"A/);
    const run = await providerRun();
    expect(requestsReceived(run, 'CANCEL')).toBe(1);
  });

  test('every trunk is at its call limit → the AI answers at once instead of 503', async () => {
    await trunkTo(uasScenario({ answer: 200 }), { max_concurrent_calls: 1 });
    const number = await forwardNumber('+15551230092', { forward_fallback: 'ai', ai_options: { mode: 'echo' } });
    // One call holds the trunk's only slot meanwhile.
    const holder = await startSipp({
      scenario: uacInviteScenario({ expect: 200, authenticate: true, holdMs: 8000 }),
      remote: proxy(),
      keys: { user: caller.username, callee: '+15551230093', domain: stack.config.sip.domain },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 20,
    });
    await waitForAnswer(holder, 5000).catch(() => undefined);
    const heard = await callAndListen(caller, number);
    expectSippSuccess(await holder.done, 'the call holding the trunk');
    const run = await providerRun();
    expect(requestsReceived(run, 'INVITE')).toBe(1);
    expect(run.messages).not.toMatch(/INVITE sip:\+15551230092/);
    expect(heard.answerMs).toBeLessThan(2000);
    expect(heard.loud).toBeGreaterThanOrEqual(Math.floor(heard.sent * 0.8));
  });
});
