/**
 * The media gateway's SIP user agent placing calls (UAC) against a real SIP peer:
 * SIPp 3.6 on loopback as the callee, over UDP and TCP, first directly, then through
 * a stateful Kamailio 5.6 that record-routes (the shared test stack is not needed:
 * run with TEST_STACK=running). SIPp answers with a Record-Route pointing at itself
 * too, so every in-dialog request of the gateway has to loose-route (Route headers,
 * Request-URI = the callee's Contact).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  UserAgent,
  type Dialog,
  type InviteOptions,
  type OutgoingCall,
  type TerminationReason,
} from '../../services/common/src/sip';
import { startSipp, tracedMessages, type RunningSipp, type SippRun } from '../../harness/sipp';
import { SCENARIOS } from '../support/sipp-scenarios';
import { freeSipPort, portFree } from '../../services/common/src/net/ports';

type Transport = 'udp' | 'tcp';

/** SIPp (the callee) listens in 45000-45039, Kamailio in 45040-45049, our UA in 45050-45099. */
const SIPP_PORTS = { from: 45000, span: 40 };
const KAMAILIO_PORTS = { from: 45040, span: 10 };
const UA_PORTS = { from: 45050, span: 50 };

function offer(direction: 'sendrecv' | 'sendonly', version: number): string {
  return [
    'v=0',
    `o=gw 4242 ${version} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 40000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

async function startUa(): Promise<UserAgent> {
  for (;;) {
    const ua = new UserAgent({
      host: '127.0.0.1',
      port: await freeSipPort(UA_PORTS.from, UA_PORTS.span),
      transports: ['udp', 'tcp'],
      userAgent: 'sip-uac test',
    });
    try {
      await ua.start();
      return ua;
    } catch (err) {
      await ua.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

/** SIPp succeeded (exit 0); otherwise the failure shows SIPp's own account of it. */
function expectSuccess(run: SippRun): void {
  const why =
    run.code === 0
      ? ''
      : `--- stderr\n${run.stderr}\n--- errors\n${run.errors.slice(-3000)}\n--- messages (tail)\n${run.messages.slice(-4000)}`;
  expect({ code: run.code, why }).toEqual({ code: 0, why: '' });
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

/** What SIPp received, one request or response per entry, in order. */
function received(run: SippRun): string[] {
  return tracedMessages(run)
    .filter((m) => m.direction === 'received')
    .map((m) => m.text);
}

/** Starts SIPp as the callee with `scenario`, ready to take an INVITE. */
async function startCallee(
  scenario: string,
  transport: Transport,
  more: { calls?: number; timeoutSeconds?: number; args?: string[] } = {},
): Promise<RunningSipp> {
  for (;;) {
    const port = await freeSipPort(SIPP_PORTS.from, SIPP_PORTS.span);
    const run = await startSipp({
      scenario: join(SCENARIOS, scenario),
      remote: '',
      serverMode: true,
      localPort: port,
      transport: transport === 'udp' ? 'u1' : 't1',
      calls: more.calls ?? 1,
      timeoutSeconds: more.timeoutSeconds ?? 20,
      ...(more.args ? { extraArgs: more.args } : {}),
    });
    // Listening once the port is taken; a port lost to a race: try another.
    if (await taken(transport, port)) return run;
    run.kill();
    await run.done;
  }
}

/** Whether something binds `port` within 3 s. */
async function taken(transport: Transport, port: number): Promise<boolean> {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && (await portFree(transport, '127.0.0.1', port)))
    await new Promise((r) => setTimeout(r, 25));
  return !(await portFree(transport, '127.0.0.1', port));
}

async function answered(c: OutgoingCall): Promise<Dialog> {
  const result = await c.result;
  if (!result.ok) throw new Error(`call not answered: ${result.status} ${result.reason}`);
  return result.dialog;
}

/**
 * Messages SIPp dropped on purpose (-lost), summed from the Lost column of its final
 * statistics. As a server, SIPp writes `<---------- 200` for what it sends and
 * `----------> ACK` for what it receives.
 */
function lostBySipp(stdout: string): number {
  let lost = 0;
  for (const line of stdout.split('\n')) {
    const m = /^\s*(---------->|<----------) \S+((?:\s+\d+)+)\s*$/.exec(line);
    if (!m) continue;
    const numbers = (m[2] as string).trim().split(/\s+/).map(Number);
    // Sent rows: messages, retrans, timeout[, lost]; received rows: messages, retrans, timeout, unexpected[, lost].
    const columns = m[1] === '<----------' ? 3 : 4;
    if (numbers.length > columns) lost += numbers[columns] as number;
  }
  return lost;
}

describe.each<Transport>(['udp', 'tcp'])('media-gateway SIP UA placing calls ↔ SIPp (callee) over %s', (transport) => {
  let ua: UserAgent;
  let sipp: RunningSipp | undefined;

  beforeEach(async () => {
    ua = await startUa();
  });

  afterEach(async () => {
    sipp?.kill();
    sipp = undefined;
    await ua.close();
  });

  async function callee(scenario: string): Promise<RunningSipp> {
    sipp = await startCallee(scenario, transport);
    return sipp;
  }

  function call(peer: RunningSipp, extra: Partial<InviteOptions> = {}): OutgoingCall {
    return ua.invite({
      requestUri: `sip:+15551234567@127.0.0.1:${peer.localPort}${transport === 'tcp' ? ';transport=tcp' : ''}`,
      from: { user: '+15550000001', display: 'AI Agent' },
      sdp: offer('sendrecv', 1),
      headers: { 'X-Test': 'uac' },
      ...extra,
    });
  }

  it('180 then 200 → ACK to the Contact through the recorded route; our re-INVITE (hold) → 200 recvonly + ACK; their re-INVITE → answered; our BYE → 200', async () => {
    const peer = await callee('uac-peer-reinvite.xml');
    const c = call(peer);
    const progress: number[] = [];
    c.on('progress', (status) => progress.push(status));
    const dialog = await answered(c);
    expect(progress).toEqual([180]);
    expect(dialog.remoteSdp).toMatch(/a=sendrecv/);

    const hold = await dialog.reinvite(offer('sendonly', 2));
    expect(hold.status).toBe(200);
    expect(hold.answer).toMatch(/a=recvonly/);
    expect(dialog.localSdp).toMatch(/a=sendonly/);

    const theirs: Array<string | null> = [];
    const acked = new Promise<void>((resolve) => dialog.once('ack', () => resolve()));
    dialog.on('reinvite', (o, reply) => {
      theirs.push(o);
      reply(offer('sendrecv', 3));
    });
    await acked;
    expect(theirs).toHaveLength(1);
    expect(theirs[0]).toMatch(/a=sendrecv/);

    const ended: TerminationReason[] = [];
    dialog.on('terminated', (r) => ended.push(r));
    await dialog.bye();
    const run = await peer.done;
    expectSuccess(run);
    expect(ended).toEqual([{ by: 'local' }]);
    const got = received(run);
    expect(got.filter((m) => !m.startsWith('SIP/2.0')).map((m) => m.split(' ')[0])).toEqual([
      'INVITE',
      'ACK',
      'INVITE',
      'ACK',
      'BYE',
    ]);
    expect(got.filter((m) => m.startsWith('SIP/2.0 200 OK'))).toHaveLength(1);
    // §12.2.1.1 with a loose router first: Request-URI = remote target, Route = the recorded route.
    for (const m of got.filter((t) => /^(ACK|INVITE|BYE) sip:sipp@/.test(t)))
      expect(m).toMatch(
        new RegExp(
          `^Route: <sip:127\\.0\\.0\\.1:${peer.localPort};transport=${transport.toUpperCase()};lr;sipp=rr>`,
          'im',
        ),
      );
    expect(got[0]).toMatch(/^X-Test: uac$/m);
    expect(ua.activeCalls).toBe(0);
  });

  it('the callee hangs up → its BYE gets 200, the dialog ends by remote', async () => {
    const peer = await callee('uac-peer-bye.xml');
    const dialog = await answered(call(peer));
    const ended: TerminationReason[] = [];
    dialog.on('terminated', (r) => ended.push(r));
    const run = await peer.done;
    expectSuccess(run);
    await until(() => ended.length > 0);
    expect(ended).toEqual([{ by: 'remote' }]);
    expect(ua.activeCalls).toBe(0);
  });

  it('486 Busy Here → failed { 486 }; the INVITE transaction ACKs it', async () => {
    const peer = await callee('uac-peer-busy.xml');
    const c = call(peer);
    const failures: Array<{ status: number }> = [];
    c.on('failed', (f) => failures.push(f));
    await expect(c.result).resolves.toEqual({ ok: false, status: 486, reason: 'Busy Here' });
    const run = await peer.done;
    expectSuccess(run);
    expect(failures).toEqual([{ status: 486, reason: 'Busy Here' }]);
    expect(received(run).map((m) => m.split(' ')[0])).toEqual(['INVITE', 'ACK']);
    expect(ua.activeCalls).toBe(0);
  });

  it('180 then cancel() → CANCEL, 200 to it, 487 to the INVITE (ACKed) → failed { 487 }', async () => {
    const peer = await callee('uac-peer-cancel.xml');
    const c = call(peer);
    c.once('progress', () => c.cancel());
    const started = Date.now();
    await expect(c.result).resolves.toEqual({ ok: false, status: 487, reason: 'Request Terminated' });
    expect(Date.now() - started).toBeLessThan(5000);
    const run = await peer.done;
    expectSuccess(run);
    expect(received(run).map((m) => m.split(' ')[0])).toEqual(['INVITE', 'CANCEL', 'ACK']);
    expect(ua.activeCalls).toBe(0);
  });

  it('REFER with Replaces → 202, then the NOTIFY outcome 200 (RFC 3515 §2.4.5); the transferee hangs up', async () => {
    const peer = await callee('uac-peer-refer.xml');
    const dialog = await answered(call(peer));
    const ended: TerminationReason[] = [];
    dialog.on('terminated', (r) => ended.push(r));
    const { status, outcome } = await dialog.refer('sip:bob@127.0.0.1', {
      replaces: 'abc@127.0.0.1;to-tag=t1;from-tag=f1',
    });
    expect(status).toBe(202);
    await expect(outcome).resolves.toBe(200);
    const run = await peer.done;
    expectSuccess(run);
    await until(() => ended.length > 0);
    expect(ended).toEqual([{ by: 'remote' }]);
    expect(received(run).find((m) => m.startsWith('REFER '))).toMatch(
      /^Refer-To: <sip:bob@127\.0\.0\.1\?Replaces=abc%40127\.0\.0\.1%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>$/m,
    );
  });

  it('two forks answer → the first is kept; the second is ACKed and BYEd (RFC 3261 §13.2.2.4)', async () => {
    const peer = await callee('uac-peer-fork.xml');
    const dialog = await answered(call(peer));
    // The losing fork's ACK and BYE go out on their own.
    await new Promise((r) => setTimeout(r, 300));
    expect(dialog.state).toBe('confirmed');
    await dialog.bye();
    const run = await peer.done;
    expectSuccess(run);
    expect(received(run).map((m) => m.split(' ').slice(0, 2).join(' ').replace(/@.*/, ''))).toEqual([
      'INVITE sip:+15551234567',
      'ACK sip:sipp',
      'ACK sip:fork2',
      'BYE sip:fork2',
      'BYE sip:sipp',
    ]);
  });
});

describe('media-gateway SIP UA placing calls ↔ SIPp (callee) over lossy UDP', () => {
  let ua: UserAgent;

  beforeAll(async () => {
    ua = await startUa();
  });

  afterAll(async () => {
    await ua.close();
  });

  it('SIPp dropping 10 % of messages (-lost 10) → Timer A, 2xx re-ACKs and BYE retransmissions complete all 20 calls', async () => {
    const peer = await startCallee('uac-peer-bye.xml', 'udp', { calls: 20, timeoutSeconds: 90, args: ['-lost', '10'] });
    const ended: TerminationReason[] = [];
    const results: boolean[] = [];
    // Four at a time: a few calls overlap without the peer's -lost turning into a flood of retransmissions.
    for (let batch = 0; batch < 5; batch++) {
      const calls = Array.from({ length: 4 }, () => {
        const c = ua.invite({
          requestUri: `sip:+15551234567@127.0.0.1:${peer.localPort}`,
          from: { user: '+15550000001' },
          sdp: offer('sendrecv', 1),
        });
        // At once: the callee hangs up 300 ms after its ACK, maybe before this batch's last call is answered.
        c.on('answered', (dialog) => dialog.on('terminated', (r) => ended.push(r)));
        return c;
      });
      for (const c of calls) results.push((await c.result).ok);
    }
    const run = await peer.done;
    expectSuccess(run);
    expect(results).toEqual(Array(20).fill(true));
    await until(() => ended.length === 20, 30_000);
    expect(ended).toEqual(Array(20).fill({ by: 'remote' }));
    // SIPp really dropped messages, so the retransmissions were needed.
    expect(run.stdout).toMatch(/Successful call\s+\|\s+\d+\s+\|\s+20/);
    expect(lostBySipp(run.stdout)).toBeGreaterThan(0);
    expect(ua.activeCalls).toBe(0);
  }, 120_000);
});

/**
 * A stateful Kamailio 5.6 proxy between the gateway and the callee, routing as the
 * bridge's Kamailio does for a call in a dialog: record_route on the INVITE (two
 * Record-Route values when it changes transport), loose_route for what follows.
 */
function kamailioConfig(port: number): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:${port}
listen=tcp:127.0.0.1:${port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 1)

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	force_rport();
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
	t_check_trans();
	remove_hf("Route");
	if (is_method("INVITE")) record_route();
	t_relay();
}
`;
}

interface Kamailio {
  readonly port: number;
  stop(): Promise<void>;
}

async function startKamailio(): Promise<Kamailio> {
  for (;;) {
    const port = await freeSipPort(KAMAILIO_PORTS.from, KAMAILIO_PORTS.span);
    const dir = mkdtempSync(join(tmpdir(), 'uac-kamailio-'));
    writeFileSync(join(dir, 'kamailio.cfg'), kamailioConfig(port));
    const proc: ChildProcess = spawn(
      'kamailio',
      ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-Y', dir, '-m', '32', '-M', '8'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    };
    if ((await taken('udp', port)) && (await taken('tcp', port))) return { port, stop };
    await stop();
    if (!/Address already in use/i.test(log)) throw new Error(`kamailio did not start:\n${log}`);
  }
}

describe.each<Transport>(['udp', 'tcp'])(
  'media-gateway SIP UA placing calls through Kamailio (record_route, loose routing) to SIPp over %s',
  (calleeTransport) => {
    let kamailio: Kamailio;
    let ua: UserAgent;
    let sipp: RunningSipp | undefined;

    beforeAll(async () => {
      kamailio = await startKamailio();
    });

    afterAll(async () => {
      await kamailio.stop();
    });

    beforeEach(async () => {
      ua = await startUa();
    });

    afterEach(async () => {
      sipp?.kill();
      sipp = undefined;
      await ua.close();
    });

    function call(peer: RunningSipp): OutgoingCall {
      return ua.invite({
        requestUri: `sip:+15551234567@127.0.0.1:${peer.localPort}${calleeTransport === 'tcp' ? ';transport=tcp' : ''}`,
        nextHop: { host: '127.0.0.1', port: kamailio.port, transport: 'udp' },
        from: { user: '+15550000001' },
        sdp: offer('sendrecv', 1),
      });
    }

    it('answer, re-INVITE both ways, our BYE: every in-dialog request goes to Kamailio with its Route values first', async () => {
      sipp = await startCallee('uac-peer-reinvite.xml', calleeTransport);
      const peer = sipp;
      const dialog = await answered(call(peer));
      expect((await dialog.reinvite(offer('sendonly', 2))).answer).toMatch(/a=recvonly/);
      const acked = new Promise<void>((resolve) => dialog.once('ack', () => resolve()));
      const theirs: Array<string | null> = [];
      dialog.on('reinvite', (o, reply) => {
        theirs.push(o);
        reply(offer('sendrecv', 3));
      });
      await acked;
      expect(theirs).toHaveLength(1);
      await dialog.bye();
      const run = await peer.done;
      expectSuccess(run);
      const requests = received(run).filter((m) => !m.startsWith('SIP/2.0'));
      expect(requests.map((m) => m.split(' ')[0])).toEqual(['INVITE', 'ACK', 'INVITE', 'ACK', 'BYE']);
      for (const m of requests) {
        // Relayed by Kamailio: its Via on top of ours.
        expect(m).toMatch(
          new RegExp(`^Via: SIP/2\\.0/${calleeTransport.toUpperCase()} 127\\.0\\.0\\.1:${kamailio.port};`, 'm'),
        );
      }
      for (const m of requests.slice(1)) {
        // Kamailio consumed its own Route values (loose_route); the callee's is left, Request-URI = its Contact.
        expect(m).toMatch(/^(ACK|INVITE|BYE) sip:sipp@127\.0\.0\.1:\d+;transport=(UDP|TCP) SIP\/2\.0/);
        expect(m.match(/^Route: .*$/gm)).toEqual([expect.stringMatching(/;lr;sipp=rr>$/)]);
      }
    });

    it('the callee hangs up: its BYE comes through Kamailio and ends the dialog', async () => {
      sipp = await startCallee('uac-peer-bye.xml', calleeTransport);
      const peer = sipp;
      const dialog = await answered(call(peer));
      const ended: TerminationReason[] = [];
      dialog.on('terminated', (r) => ended.push(r));
      const run = await peer.done;
      expectSuccess(run);
      await until(() => ended.length > 0);
      expect(ended).toEqual([{ by: 'remote' }]);
    });

    it('180 then cancel(): CANCEL hop by hop, 487 relayed → failed { 487 }', async () => {
      sipp = await startCallee('uac-peer-cancel.xml', calleeTransport);
      const peer = sipp;
      const c = call(peer);
      c.once('progress', () => c.cancel());
      const started = Date.now();
      await expect(c.result).resolves.toEqual({ ok: false, status: 487, reason: 'Request Terminated' });
      // The callee's 487, not our own give-up 64·T1 after the CANCEL (§9.1).
      expect(Date.now() - started).toBeLessThan(5000);
      expectSuccess(await peer.done);
    });

    it('20 calls, 5 at a time, through Kamailio → all answered (setup under 1 s each) and ended by the callee', async () => {
      sipp = await startCallee('uac-peer-bye.xml', calleeTransport, { calls: 20, timeoutSeconds: 60 });
      const peer = sipp;
      const setupMs: number[] = [];
      const ended: TerminationReason[] = [];
      for (let batch = 0; batch < 4; batch++) {
        await Promise.all(
          Array.from({ length: 5 }, async () => {
            const started = performance.now();
            const dialog = await answered(call(peer));
            setupMs.push(performance.now() - started);
            dialog.on('terminated', (r) => ended.push(r));
          }),
        );
      }
      expectSuccess(await peer.done);
      await until(() => ended.length === 20, 10_000);
      expect(ended).toHaveLength(20);
      setupMs.sort((a, b) => a - b);
      // INVITE → 100/180/200 → ACK through Kamailio on loopback; the bound leaves room for a busy machine.
      expect(setupMs[setupMs.length - 1]).toBeLessThan(1000);
      if (process.env.SIP_UAC_FIGURES)
        console.log(`setup ms over ${calleeTransport}: p50 ${setupMs[9]?.toFixed(1)} max ${setupMs[19]?.toFixed(1)}`);
      expect(ua.activeCalls).toBe(0);
    });

    it('REFER through Kamailio → 202 and the NOTIFY outcome 200', async () => {
      sipp = await startCallee('uac-peer-refer.xml', calleeTransport);
      const peer = sipp;
      const dialog = await answered(call(peer));
      const { status, outcome } = await dialog.refer('sip:bob@127.0.0.1', { replaces: 'x@h;to-tag=a;from-tag=b' });
      expect(status).toBe(202);
      await expect(outcome).resolves.toBe(200);
      expectSuccess(await peer.done);
    });
  },
);
