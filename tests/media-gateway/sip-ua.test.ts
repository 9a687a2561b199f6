/**
 * The media gateway's SIP user agent against a real SIP peer: SIPp 3.6 on loopback,
 * over UDP and TCP, calling the UA directly (no Kamailio needed). A small test
 * application behind the UA answers according to the Request-URI user.
 */
import { join } from 'node:path';
import {
  parseUri,
  UserAgent,
  type Dialog,
  type DtmfInfo,
  type IncomingCall,
  type TerminationReason,
} from '../../services/common/src/sip';
import { runSipp, type SippRun } from '../../harness/sipp';
import { SCENARIOS } from '../support/sipp-scenarios';
import { freeSipPort } from '../../services/common/src/net/ports';

type Transport = 'udp' | 'tcp';

/** An SDP answer mirroring the offer's direction (RFC 3264 §6.1); null when it offers no G.711. */
function answerFor(offer: string | null, version = 1): string | null {
  if (offer !== null && !/^m=audio \d+ RTP\/AVP( \d+)*? (0|8)( |\r?$)/m.test(offer)) return null;
  const direction = /a=(sendonly|recvonly|inactive|sendrecv)/.exec(offer ?? '')?.[1] ?? 'sendrecv';
  const mirrored = (
    { sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive', sendrecv: 'sendrecv' } as Record<string, string>
  )[direction];
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
    `a=${mirrored}`,
    '',
  ].join('\r\n');
}

/** What the test application saw, per call. */
interface Seen {
  readonly calls: IncomingCall[];
  readonly cancelled: string[];
  readonly dtmf: DtmfInfo[];
  readonly reinvites: Array<string | null>;
  readonly terminated: Array<{ callId: string; reason: TerminationReason }>;
}

function application(ua: UserAgent): Seen {
  const seen: Seen = { calls: [], cancelled: [], dtmf: [], reinvites: [], terminated: [] };
  const track = (call: IncomingCall, dialog: Dialog): void => {
    dialog.on('terminated', (reason) => seen.terminated.push({ callId: call.callId, reason }));
  };
  ua.on('invite', (call) => {
    seen.calls.push(call);
    call.on('cancel', () => seen.cancelled.push(call.callId));
    const service = parseUri(call.requestUri).user ?? '';
    const answer = answerFor(call.offer);
    if (service === 'reject' || answer === null) {
      call.reject(488);
      return;
    }
    call.progress(180);
    if (service === 'cancel') return;
    void call.accept(answer).then((dialog) => {
      track(call, dialog);
      let version = 1;
      dialog.on('reinvite', (offer, reply, reject) => {
        seen.reinvites.push(offer);
        const a = answerFor(offer, ++version);
        if (a === null) reject(488);
        else reply(a);
      });
      dialog.on('info', (dtmf) => {
        if (dtmf) seen.dtmf.push(dtmf);
      });
      if (service === 'uabye') dialog.once('ack', () => setTimeout(() => void dialog.bye(), 100));
    });
  });
  return seen;
}

/**
 * A port outside the ranges the other local stacks use (SIP 5060, 15060-16081,
 * 35060-38448; HTTP; relays and their RTP ranges): 46000-59999, free now for UDP and TCP.
 */
function quietPort(): Promise<number> {
  return freeSipPort(46000, 14000);
}

/** A started UA on a quiet port (another process may take the port between the check and the bind: retry). */
async function startUa(transports: Transport[], setup: (ua: UserAgent) => void): Promise<UserAgent> {
  for (;;) {
    const ua = new UserAgent({ host: '127.0.0.1', port: await quietPort(), transports, userAgent: 'sip-ua test' });
    setup(ua);
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

/** Messages SIPp dropped on purpose, summed from the Lost column of its final statistics. */
function lostBySipp(stdout: string): number {
  let lost = 0;
  for (const line of stdout.split('\n')) {
    const m = /^\s*\S+ (---------->|<----------)(?:\s+E-RTD\d)?((?:\s+\d+)+)\s*$/.exec(line);
    if (!m) continue;
    const numbers = (m[2] as string).trim().split(/\s+/).map(Number);
    // Sent rows: messages, retrans, timeout[, lost]; received rows: messages, retrans, timeout, unexpected[, lost].
    const columns = m[1] === '---------->' ? 3 : 4;
    if (numbers.length > columns) lost += numbers[columns] as number;
  }
  return lost;
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe.each<Transport>(['udp', 'tcp'])('media-gateway SIP UA ↔ SIPp over %s', (transport) => {
  let ua: UserAgent;
  let seen: Seen;

  beforeEach(async () => {
    ua = await startUa(['udp', 'tcp'], (u) => (seen = application(u)));
  });

  afterEach(async () => {
    await ua.close();
  });

  const sipp = async (
    scenario: string,
    service: string,
    extra: { calls?: number; rate?: number; limit?: number; args?: string[]; timeoutSeconds?: number } = {},
  ): Promise<SippRun> =>
    runSipp({
      scenario: join(SCENARIOS, scenario),
      localPort: await quietPort(),
      remote: `127.0.0.1:${ua.port}`,
      transport: transport === 'udp' ? 'u1' : 't1',
      calls: extra.calls ?? 1,
      rate: extra.rate ?? 10,
      limit: extra.limit ?? extra.calls ?? 1,
      timeoutSeconds: extra.timeoutSeconds ?? 20,
      extraArgs: ['-s', service, ...(extra.args ?? [])],
    });

  it('OPTIONS probe → 200 with Allow', async () => {
    const run = await sipp('gw-options.xml', 'ping');
    expectSuccess(run);
    expect(run.messages).toMatch(/SIP\/2\.0 200 OK[\s\S]*Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY/);
  });

  it('INVITE → 100/180/200 → ACK → BYE from SIPp → 200; the dialog ends by remote', async () => {
    const run = await sipp('gw-call.xml', 'call');
    expectSuccess(run);
    expect(run.messages).toMatch(/SIP\/2\.0 180 Ringing/);
    expect(run.messages).toContain(transport === 'tcp' ? 'Contact: <sip:gw@127.0.0.1:' : 'Contact: <sip:gw@127.0.0.1:');
    if (transport === 'tcp') expect(run.messages).toMatch(/Contact: <sip:gw@127\.0\.0\.1:\d+;transport=tcp>/);
    await until(() => seen.terminated.length === 1);
    expect(seen.terminated.map((t) => t.reason)).toEqual([{ by: 'remote' }]);
    expect(seen.calls[0]?.headers.get('x-route')).toEqual(['ai:demo-echo']);
    expect(ua.activeCalls).toBe(0);
  });

  it('INVITE → 200 → ACK → BYE from the UA → 200; the dialog ends by local', async () => {
    const run = await sipp('gw-ua-bye.xml', 'uabye');
    expectSuccess(run);
    expect(run.messages).toMatch(/BYE sip:sipp@127\.0\.0\.1:\d+;transport=(UDP|TCP) SIP\/2\.0/);
    await until(() => seen.terminated.length === 1);
    expect(seen.terminated.map((t) => t.reason.by)).toEqual(['local']);
  });

  it('CANCEL before answer → 200 to CANCEL, 487 to INVITE, the application hears cancel', async () => {
    const run = await sipp('gw-cancel.xml', 'cancel');
    expectSuccess(run);
    expect(run.messages).toMatch(/SIP\/2\.0 487 Request Terminated/);
    expect(seen.cancelled).toEqual([seen.calls[0]?.callId]);
    expect(ua.activeCalls).toBe(0);
  });

  it('re-INVITE sendonly (hold) → 200 recvonly; re-INVITE sendrecv (resume) → 200 sendrecv', async () => {
    const run = await sipp('gw-hold.xml', 'hold');
    expectSuccess(run);
    expect(seen.reinvites.map((o) => /a=(sendonly|sendrecv)/.exec(o ?? '')?.[1])).toEqual(['sendonly', 'sendrecv']);
    await until(() => seen.terminated.length === 1);
    expect(seen.terminated[0]?.reason.by).toBe('remote');
  });

  it('INFO application/dtmf-relay and application/dtmf → 200 each, digits reach the application', async () => {
    const run = await sipp('gw-info.xml', 'info');
    expectSuccess(run);
    expect(seen.dtmf).toEqual([
      { digit: '5', durationMs: 160 },
      { digit: '#', durationMs: 250 },
    ]);
  });

  it('an offer the application cannot take (G.729 only) → 488, ACK absorbed', async () => {
    const run = await sipp('gw-reject.xml', 'call');
    expectSuccess(run);
    expect(run.messages).toMatch(/SIP\/2\.0 488 Not Acceptable Here/);
    expect(ua.activeCalls).toBe(0);
  });

  it('20 calls, 10 at a time → all complete', async () => {
    const run = await sipp('gw-call.xml', 'call', { calls: 20, rate: 20, limit: 10 });
    expectSuccess(run);
    expect(seen.calls).toHaveLength(20);
    await until(() => seen.terminated.length === 20);
    expect(ua.activeCalls).toBe(0);
  });
});

describe('media-gateway SIP UA ↔ SIPp over lossy UDP', () => {
  let ua: UserAgent;
  let seen: Seen;

  beforeAll(async () => {
    ua = await startUa(['udp'], (u) => (seen = application(u)));
  });

  afterAll(async () => {
    await ua.close();
  });

  it('SIPp dropping 10 % of messages (-lost 10) → retransmissions on both sides complete every call', async () => {
    const run = await runSipp({
      scenario: join(SCENARIOS, 'gw-call.xml'),
      localPort: await quietPort(),
      remote: `127.0.0.1:${ua.port}`,
      transport: 'u1',
      calls: 30,
      rate: 10,
      limit: 10,
      timeoutSeconds: 90,
      extraArgs: ['-s', 'call', '-lost', '10'],
    });
    expectSuccess(run);
    expect(run.stdout).toMatch(/Successful call\s+\|\s+\d+\s+\|\s+30/);
    expect(lostBySipp(run.stdout)).toBeGreaterThan(0);
    expect(seen.calls).toHaveLength(30);
    // Every call ended by SIPp's BYE reaching us (none by our ACK timeout): loss was recovered on both sides.
    await until(() => seen.terminated.length === 30);
    expect(seen.terminated.map((t) => t.reason.by)).toEqual(Array(30).fill('remote'));
    expect(ua.activeCalls).toBe(0);
  }, 120_000);
});
