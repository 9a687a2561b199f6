import { createResponse } from '../message/response';
import { parseVia, viaBranch } from '../message/via';
import type { SipMessage, SipRequest, SipResponse } from '../message/message';
import { SipError } from '../errors';
import { SILENT_LOGGER, type SipLogger } from '../logger';
import { MemoryTransport } from '../transport/memory';
import type { MessageSource } from '../transport/transport';
import { UserAgent, type UserAgentOptions } from '../user-agent';
import type { Dialog, TerminationReason } from './dialog';
import { MAX_FORKS, type InviteOptions, type OutgoingCall } from './outgoing-call';

// Kamailio, where the gateway sends its INVITEs (contract §2), and the callee's Contact behind it.
const KAMAILIO: MessageSource = { protocol: 'udp', address: '127.0.0.1', port: 25060 };
const OFFER =
  'v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';
const ANSWER = OFFER.replace('o=gw', 'o=callee').replace('7000', '8000');
const HOLD = OFFER.replace('o=gw 1 1', 'o=gw 1 2').replace('a=sendrecv', 'a=sendonly');
const RR = ['<sip:127.0.0.1:25060;lr;ftag=x;did=1>', '<sip:10.0.0.1:5060;lr;did=1>'];

const OPTIONS: InviteOptions = {
  requestUri: 'sip:+15551234567@127.0.0.1:25060',
  nextHop: { host: '127.0.0.1', port: 25060, transport: 'udp' },
  from: { user: '+15550000001', display: 'AI Agent' },
  sdp: OFFER,
  headers: { 'X-Bridge-Proof': '1700000000;abc' },
};

const flush = (): Promise<void> => jest.advanceTimersByTimeAsync(0);

interface Harness {
  readonly ua: UserAgent;
  readonly transport: MemoryTransport;
  requests(method?: string): SipRequest[];
  responses(): SipResponse[];
  last(): SipMessage;
}

async function harness(opts: Partial<UserAgentOptions> = {}): Promise<Harness> {
  const transport = new MemoryTransport();
  const ua = new UserAgent({ host: '127.0.0.1', port: 5090, transports: ['udp', 'tcp'], transport, ...opts });
  await ua.start();
  return {
    ua,
    transport,
    requests: (method) =>
      transport.sent.flatMap((s) =>
        s.msg.type === 'request' && (method === undefined || s.msg.method === method) ? [s.msg] : [],
      ),
    responses: () => transport.sent.flatMap((s) => (s.msg.type === 'response' ? [s.msg] : [])),
    last: () => transport.sent[transport.sent.length - 1]?.msg as SipMessage,
  };
}

/** The callee's response to our request, as Kamailio relays it. */
function answer(
  req: SipRequest,
  status: number,
  opts: { tag?: string; sdp?: string; rr?: readonly string[]; contact?: string } = {},
): SipResponse {
  const headers: Array<[string, string]> = [];
  if (status > 100 && status < 300 && req.method === 'INVITE') {
    for (const rr of opts.rr ?? RR) headers.push(['Record-Route', rr]);
    headers.push(['Contact', opts.contact ?? '<sip:callee@10.0.0.9:5062>']);
  }
  return createResponse(req, status, {
    toTag: opts.tag ?? 'callee1',
    headers,
    ...(opts.sdp === undefined ? {} : { body: opts.sdp }),
  });
}

/** A request from the callee inside the dialog (`ok`: the 2xx that made it), through Kamailio. */
function fromCallee(method: string, ok: SipResponse, cseq: number, extra: string[] = [], body = ''): string {
  const lines = [
    `${method} sip:gw@127.0.0.1:5090 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:25060;branch=z9hG4bK-k${method}${cseq}`,
    `Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK-c${method}${cseq}`,
    `From: ${ok.headers.get('To') as string}`,
    `To: ${ok.headers.get('From') as string}`,
    `Call-ID: ${ok.headers.get('Call-ID') as string}`,
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:callee@10.0.0.9:5062>',
    'Max-Forwards: 69',
    ...extra,
  ];
  if (body) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

/** Places a call and answers it 200 with RR; returns the call, its dialog and the INVITE and ACK. */
async function answered(
  h: Harness,
): Promise<{ call: OutgoingCall; dialog: Dialog; invite: SipRequest; ok: SipResponse }> {
  const call = h.ua.invite(OPTIONS);
  await flush();
  const invite = h.requests('INVITE').find((r) => r.headers.get('Call-ID') === call.callId) as SipRequest;
  const ok = answer(invite, 200, { sdp: ANSWER });
  h.transport.receive(ok, KAMAILIO);
  const result = await call.result;
  if (!result.ok) throw new Error(`not answered: ${result.status}`);
  await flush();
  return { call, dialog: result.dialog, invite, ok };
}

/** INVITE transactions sent (retransmissions by Timer A counted once). */
function invites(h: Harness): number {
  return new Set(h.requests('INVITE').map((r) => r.headers.get('CSeq'))).size;
}

function branchOf(msg: SipMessage): string | null {
  return viaBranch(parseVia(msg.headers.getAll('Via')[0] as string));
}

describe('UserAgent.invite → OutgoingCall (RFC 3261 §13.2 UAC)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function done(h: Harness): Promise<void> {
    const closing = h.ua.close();
    await jest.advanceTimersByTimeAsync(40_000);
    await closing;
    expect(jest.getTimerCount()).toBe(0);
  }

  it('INVITE → Request-URI, Via with a fresh branch and rport, Max-Forwards 70, From with display and tag, To = URI without params, Call-ID, CSeq, Contact, Allow, Supported, SDP, extra headers; to the next hop', async () => {
    const h = await harness();
    const call = h.ua.invite({ ...OPTIONS, requestUri: 'sip:+15551234567@127.0.0.1:25060;user=phone' });
    await flush();
    const inv = h.last() as SipRequest;
    expect(inv.method).toBe('INVITE');
    expect(inv.uri).toBe('sip:+15551234567@127.0.0.1:25060;user=phone');
    expect(inv.headers.get('Via')).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:5090;branch=z9hG4bK\S+;rport$/);
    expect(inv.headers.get('Max-Forwards')).toBe('70');
    expect(inv.headers.get('From')).toMatch(/^AI Agent <sip:\+15550000001@127\.0\.0\.1>;tag=[0-9a-f]{12}$/);
    expect(inv.headers.get('To')).toBe('<sip:+15551234567@127.0.0.1:25060>');
    expect(inv.headers.get('Call-ID')).toBe(call.callId);
    expect(inv.headers.get('CSeq')).toMatch(/^\d+ INVITE$/);
    expect(inv.headers.get('Contact')).toBe('<sip:gw@127.0.0.1:5090>');
    expect(inv.headers.get('Allow')).toContain('INVITE');
    expect(inv.headers.has('Supported')).toBe(true);
    expect(inv.headers.get('Content-Type')).toBe('application/sdp');
    expect(inv.headers.get('X-Bridge-Proof')).toBe('1700000000;abc');
    expect(inv.body.toString()).toBe(OFFER);
    expect(h.transport.sent[0]?.target).toEqual({ protocol: 'udp', address: '127.0.0.1', port: 25060 });
    expect(h.ua.activeCalls).toBe(1);
    await done(h);
  });

  it('without nextHop → sent where the Request-URI says (port, transport=tcp)', async () => {
    const h = await harness();
    h.ua.invite({ ...OPTIONS, nextHop: undefined, requestUri: 'sip:bob@127.0.0.2:5077;transport=tcp' });
    await flush();
    expect(h.transport.sent[0]?.target).toEqual({ protocol: 'tcp', address: '127.0.0.2', port: 5077 });
    expect(h.requests('INVITE')[0]?.headers.get('Contact')).toBe('<sip:gw@127.0.0.1:5090;transport=tcp>');
    await done(h);
  });

  it.each([
    ['a header with CRLF (injection)', { headers: { 'X-A': 'a\r\nVia: evil' } }],
    ['a header we build ourselves', { headers: { Via: 'SIP/2.0/UDP evil' } }],
    ['a From user with a space', { from: { user: 'a b' } }],
    ['a Request-URI that is not SIP', { requestUri: 'mailto:a@b' }],
    ['no SDP', { sdp: '' }],
  ])('%s → TypeError, nothing sent', async (_what, bad) => {
    const h = await harness();
    expect(() => h.ua.invite({ ...OPTIONS, ...bad })).toThrow(TypeError);
    await flush();
    expect(h.transport.sent).toEqual([]);
    await done(h);
  });

  it('100, 180, 183 with SDP → progress for 180 and 183 (with the early SDP); 200 → ACK (§13.2.2.4) and answered with a confirmed dialog', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    const progress: Array<[number, string | null]> = [];
    const answeredWith: string[] = [];
    call.on('progress', (status, _reason, sdp) => progress.push([status, sdp]));
    call.on('answered', (_dialog, sdp) => answeredWith.push(sdp));
    await flush();
    const inv = h.last() as SipRequest;
    h.transport.receive(answer(inv, 100), KAMAILIO);
    h.transport.receive(answer(inv, 180), KAMAILIO);
    h.transport.receive(answer(inv, 183, { sdp: ANSWER }), KAMAILIO);
    expect(progress).toEqual([
      [180, null],
      [183, ANSWER],
    ]);
    expect(call.state).toBe('proceeding');
    h.transport.receive(answer(inv, 200, { sdp: ANSWER }), KAMAILIO);
    const result = await call.result;
    await flush();
    expect(result).toMatchObject({ ok: true, answer: ANSWER });
    expect(answeredWith).toEqual([ANSWER]);
    const dialog = (result as { dialog: Dialog }).dialog;
    expect([dialog.state, dialog.remoteSdp, dialog.localSdp, dialog.role]).toEqual(['confirmed', ANSWER, OFFER, 'uac']);
    const ack = h.last() as SipRequest;
    expect(ack.method).toBe('ACK');
    // §12.1.2: remote target from Contact, route set = Record-Route reversed; loose routing keeps the Request-URI.
    expect(ack.uri).toBe('sip:callee@10.0.0.9:5062');
    expect(ack.headers.getAll('Route')).toEqual([RR[1], RR[0]]);
    expect(ack.headers.get('CSeq')).toBe(`${inv.headers.get('CSeq')?.split(' ')[0]} ACK`);
    expect(branchOf(ack)).not.toBe(branchOf(inv));
    expect(ack.headers.get('To')).toMatch(/;tag=callee1$/);
    expect(h.transport.sent[h.transport.sent.length - 1]?.target).toEqual({
      protocol: 'udp',
      address: '10.0.0.1',
      port: 5060,
    });
    expect(ack.body.length).toBe(0);
    await done(h);
  });

  it('200 retransmitted → the same ACK again (same branch); the transaction drops none of them', async () => {
    const h = await harness();
    const { ok } = await answered(h);
    h.transport.receive(ok, KAMAILIO);
    await flush();
    const acks = h.requests('ACK');
    expect(acks).toHaveLength(2);
    expect(branchOf(acks[1] as SipRequest)).toBe(branchOf(acks[0] as SipRequest));
    await done(h);
  });

  it('the callee BYEs → 200, dialog terminated by remote; our bye() → BYE to the Contact through the reversed route set', async () => {
    const h = await harness();
    const a = await answered(h);
    const ended: TerminationReason[] = [];
    a.dialog.on('terminated', (r) => ended.push(r));
    h.transport.receive(fromCallee('BYE', a.ok, 1), KAMAILIO);
    expect((h.last() as SipResponse).status).toBe(200);
    expect(ended).toEqual([{ by: 'remote' }]);

    const b = await answered(h);
    void b.dialog.bye();
    await flush();
    const bye = h.last() as SipRequest;
    expect([bye.method, bye.uri, bye.headers.getAll('Route')]).toEqual([
      'BYE',
      'sip:callee@10.0.0.9:5062',
      [RR[1], RR[0]],
    ]);
    expect(bye.headers.get('CSeq')).toBe(`${Number(b.invite.headers.get('CSeq')?.split(' ')[0]) + 1} BYE`);
    await done(h);
  });

  it('INFO and a re-INVITE from the callee reach the dialog (hold: our answer in the 200)', async () => {
    const h = await harness();
    const { dialog, ok } = await answered(h);
    const offers: Array<string | null> = [];
    dialog.on('reinvite', (offer, reply) => {
      offers.push(offer);
      reply(OFFER.replace('a=sendrecv', 'a=recvonly'));
    });
    const infos: string[] = [];
    dialog.on('info', (dtmf) => infos.push(dtmf?.digit ?? '?'));
    h.transport.receive(
      fromCallee('INFO', ok, 5, ['Content-Type: application/dtmf-relay']).replace(
        'Content-Length: 0\r\n\r\n',
        'Content-Length: 24\r\n\r\nSignal=5\r\nDuration=160\r\n',
      ),
      KAMAILIO,
    );
    h.transport.receive(fromCallee('INVITE', ok, 6, [], HOLD), KAMAILIO);
    expect(infos).toEqual(['5']);
    expect(offers).toEqual([HOLD]);
    expect(h.responses().map((r) => r.status)).toEqual([200, 100, 200]);
    await done(h);
  });

  it('486 → failed { 486 } and result { ok: false }; the transaction ACKs it', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    const failures: unknown[] = [];
    call.on('failed', (f) => failures.push(f));
    await flush();
    h.transport.receive(answer(h.last() as SipRequest, 486), KAMAILIO);
    await expect(call.result).resolves.toEqual({ ok: false, status: 486, reason: 'Busy Here' });
    expect(failures).toEqual([{ status: 486, reason: 'Busy Here' }]);
    expect(h.transport.methods()).toEqual(['INVITE', 'ACK']);
    expect(h.ua.activeCalls).toBe(0);
    await done(h);
  });

  it.each([401, 407])('%i (a challenge) → failed with that status; we do not answer challenges', async (status) => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    h.transport.receive(answer(h.last() as SipRequest, status), KAMAILIO);
    await expect(call.result).resolves.toMatchObject({ ok: false, status });
    expect(h.requests('INVITE')).toHaveLength(1);
    await done(h);
  });

  it('no response at all → Timer B: failed 408 after 64·T1', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await jest.advanceTimersByTimeAsync(31_999);
    expect(call.pending).toBe(true);
    await jest.advanceTimersByTimeAsync(1);
    await expect(call.result).resolves.toEqual({ ok: false, status: 408, reason: 'Request Timeout' });
    await done(h);
  });

  it('transport error → failed 503', async () => {
    const h = await harness();
    h.transport.failure = new SipError('ERR_SIP_TRANSPORT', 'connection refused');
    const call = h.ua.invite(OPTIONS);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 503 });
    await done(h);
  });

  it('cancel() after 180 → CANCEL at once (§9.1: same Request-URI, branch, Call-ID, From, To, CSeq number); 200 then 487 → failed 487', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    const inv = h.last() as SipRequest;
    h.transport.receive(answer(inv, 180), KAMAILIO);
    call.cancel();
    call.cancel();
    await flush();
    const cancels = h.requests('CANCEL');
    expect(cancels).toHaveLength(1);
    const cancel = cancels[0] as SipRequest;
    expect(cancel.uri).toBe(inv.uri);
    expect(branchOf(cancel)).toBe(branchOf(inv));
    for (const name of ['Call-ID', 'From', 'To']) expect(cancel.headers.get(name)).toBe(inv.headers.get(name));
    expect(cancel.headers.get('CSeq')).toBe(`${inv.headers.get('CSeq')?.split(' ')[0]} CANCEL`);
    expect(h.transport.sent[h.transport.sent.length - 1]?.target).toEqual(h.transport.sent[0]?.target);
    h.transport.receive(answer(cancel, 200), KAMAILIO);
    h.transport.receive(answer(inv, 487), KAMAILIO);
    await expect(call.result).resolves.toEqual({ ok: false, status: 487, reason: 'Request Terminated' });
    expect(h.transport.methods()).toEqual(['INVITE', 'CANCEL', 'ACK']);
    await done(h);
  });

  it('cancel() before any provisional → no CANCEL yet (§9.1); sent as soon as the 100 arrives', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    call.cancel();
    await jest.advanceTimersByTimeAsync(400);
    expect(h.transport.methods()).toEqual(['INVITE']);
    h.transport.receive(answer(h.requests('INVITE')[0] as SipRequest, 100), KAMAILIO);
    await flush();
    expect(h.transport.methods()).toEqual(['INVITE', 'CANCEL']);
    h.transport.receive(answer(h.requests('INVITE')[0] as SipRequest, 487), KAMAILIO);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 487 });
    await done(h);
  });

  it('cancel() before the INVITE left → nothing sent, failed 487', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    call.cancel();
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 487 });
    await flush();
    expect(h.transport.sent).toEqual([]);
    await done(h);
  });

  it('CANCEL and no final response within 64·T1 → failed 487 (§9.1), the INVITE transaction dropped', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    h.transport.receive(answer(h.last() as SipRequest, 180), KAMAILIO);
    call.cancel();
    await jest.advanceTimersByTimeAsync(64 * 500);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 487 });
    expect(h.ua.transactions.client).toBe(0);
    await done(h);
  });

  it('a 200 crossing our CANCEL → ACKed and BYEd (§9.1, §15), failed 487', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    const inv = h.last() as SipRequest;
    h.transport.receive(answer(inv, 180), KAMAILIO);
    call.cancel();
    h.transport.receive(answer(inv, 200, { sdp: ANSWER }), KAMAILIO);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 487 });
    await flush();
    expect(h.transport.methods()).toEqual(['INVITE', 'CANCEL', 'ACK', 'BYE']);
    await done(h);
  });

  it('forking: the first 2xx wins; a 2xx from another fork is ACKed and BYEd (§13.2.2.4)', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    const inv = h.last() as SipRequest;
    h.transport.receive(answer(inv, 180, { tag: 'a' }), KAMAILIO);
    h.transport.receive(answer(inv, 180, { tag: 'b' }), KAMAILIO);
    h.transport.receive(answer(inv, 200, { tag: 'a', sdp: ANSWER }), KAMAILIO);
    h.transport.receive(answer(inv, 200, { tag: 'b', sdp: ANSWER, contact: '<sip:other@10.0.0.8:5062>' }), KAMAILIO);
    const result = await call.result;
    await flush();
    expect(result.ok && result.dialog.remoteTag).toBe('a');
    const sent = h.requests().slice(1);
    expect(sent.map((r) => `${r.method} ${r.uri} ${r.headers.get('To')?.split('tag=')[1]}`)).toEqual([
      'ACK sip:callee@10.0.0.9:5062 a',
      'ACK sip:other@10.0.0.8:5062 b',
      'BYE sip:other@10.0.0.8:5062 b',
    ]);
    expect(result.ok && result.dialog.state).toBe('confirmed');
    await done(h);
  });

  it.each([
    ['no Contact', (r: SipResponse) => r.headers.delete('Contact')],
    ['a tel: Contact', (r: SipResponse) => r.headers.set('Contact', '<tel:+15551234567>')],
    ['a Record-Route that is no SIP URI', (r: SipResponse) => r.headers.set('Record-Route', '<http://evil>')],
  ])('a 2xx with %s → failed 502, logged; nothing sent to it', async (_what, spoil) => {
    const warnings: string[] = [];
    const logger = {
      ...SILENT_LOGGER,
      warn: (m: string) => void warnings.push(m),
    } as unknown as SipLogger;
    const h = await harness({ logger });
    const call = h.ua.invite(OPTIONS);
    await flush();
    const ok = answer(h.last() as SipRequest, 200, { sdp: ANSWER });
    spoil(ok);
    h.transport.receive(ok, KAMAILIO);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 502 });
    await flush();
    expect(h.transport.methods()).toEqual(['INVITE']);
    expect(warnings).toContain('unusable 2xx to our INVITE');
    await done(h);
  });

  it('cancel() and no response at all → failed 487 when Timer B fires (not 408)', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    call.cancel();
    await jest.advanceTimersByTimeAsync(64 * 500);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 487 });
    expect(h.transport.methods().filter((m) => m === 'CANCEL')).toEqual([]);
    await done(h);
  });

  it(`2xx from more than ${MAX_FORKS} other forks → the extra ones dropped (no ACK, no BYE), logged once`, async () => {
    const warnings: string[] = [];
    const logger = { ...SILENT_LOGGER, warn: (m: string) => void warnings.push(m) } as unknown as SipLogger;
    const h = await harness({ logger });
    const call = h.ua.invite(OPTIONS);
    await flush();
    const inv = h.last() as SipRequest;
    for (let i = 0; i <= MAX_FORKS + 3; i++)
      h.transport.receive(answer(inv, 200, { tag: `f${i}`, sdp: ANSWER }), KAMAILIO);
    await expect(call.result).resolves.toMatchObject({ ok: true });
    await flush();
    expect(h.requests('ACK')).toHaveLength(1 + MAX_FORKS);
    expect(h.requests('BYE')).toHaveLength(MAX_FORKS);
    expect(warnings.filter((w) => w === '2xx from too many forks, dropped')).toHaveLength(1);
    await done(h);
  });

  it('a 2xx without SDP (and none early) → ACKed, BYEd, failed 488', async () => {
    const h = await harness();
    const call = h.ua.invite(OPTIONS);
    await flush();
    h.transport.receive(answer(h.last() as SipRequest, 200), KAMAILIO);
    await expect(call.result).resolves.toMatchObject({ ok: false, status: 488 });
    await flush();
    expect(h.transport.methods()).toEqual(['INVITE', 'ACK', 'BYE']);
    await done(h);
  });

  it('close() with a call ringing → CANCEL; with a call answered → BYE', async () => {
    const h = await harness();
    const a = await answered(h);
    const ringing = h.ua.invite({ ...OPTIONS, callId: 'ringing-1' });
    await flush();
    const inv = h.last() as SipRequest;
    h.transport.receive(answer(inv, 180), KAMAILIO);
    const closing = h.ua.close();
    await flush();
    expect(h.requests('CANCEL').map((r) => r.headers.get('Call-ID'))).toEqual(['ringing-1']);
    expect(h.requests('BYE').map((r) => r.headers.get('Call-ID'))).toEqual([a.call.callId]);
    h.transport.receive(answer(inv, 487), KAMAILIO);
    await jest.advanceTimersByTimeAsync(40_000);
    await closing;
    await expect(ringing.result).resolves.toMatchObject({ ok: false, status: 487 });
    expect(jest.getTimerCount()).toBe(0);
  });

  describe('reinvite() (RFC 3261 §14.1)', () => {
    it('re-INVITE in the dialog (CSeq + 1, Contact, Route, our offer) → 200 → ACK; resolves with the answer', async () => {
      const h = await harness();
      const { dialog, invite } = await answered(h);
      const pending = dialog.reinvite(HOLD);
      await flush();
      const re = h.last() as SipRequest;
      expect([re.method, re.uri, re.headers.getAll('Route'), re.headers.get('Contact')]).toEqual([
        'INVITE',
        'sip:callee@10.0.0.9:5062',
        [RR[1], RR[0]],
        '<sip:gw@127.0.0.1:5090>',
      ]);
      const seq = Number(invite.headers.get('CSeq')?.split(' ')[0]) + 1;
      expect(re.headers.get('CSeq')).toBe(`${seq} INVITE`);
      expect(re.body.toString()).toBe(HOLD);
      const held = ANSWER.replace('a=sendrecv', 'a=recvonly');
      const ok = answer(re, 200, { sdp: held, contact: '<sip:callee@10.0.0.9:5064>' });
      h.transport.receive(ok, KAMAILIO);
      await expect(pending).resolves.toEqual({ status: 200, answer: held });
      await flush();
      const ack = h.last() as SipRequest;
      // §12.2.1.2: the 2xx to a target refresh request replaces the remote target.
      expect([ack.method, ack.uri, ack.headers.get('CSeq')]).toEqual(['ACK', 'sip:callee@10.0.0.9:5064', `${seq} ACK`]);
      expect([dialog.localSdp, dialog.remoteSdp]).toEqual([HOLD, held]);
      h.transport.receive(ok, KAMAILIO);
      await flush();
      expect(h.requests('ACK')).toHaveLength(3);
      await done(h);
    });

    it('488 → { status: 488, answer: null }; the session and dialog stay', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      const pending = dialog.reinvite(HOLD);
      await flush();
      h.transport.receive(answer(h.last() as SipRequest, 488), KAMAILIO);
      await expect(pending).resolves.toEqual({ status: 488, answer: null });
      expect([dialog.state, dialog.localSdp]).toEqual(['confirmed', OFFER]);
      await done(h);
    });

    it('491 → retried once after 2.1-4 s (we own the Call-ID); 200 the second time', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      const pending = dialog.reinvite(HOLD);
      await flush();
      h.transport.receive(answer(h.last() as SipRequest, 491), KAMAILIO);
      await jest.advanceTimersByTimeAsync(2_090);
      expect(invites(h)).toBe(2);
      await jest.advanceTimersByTimeAsync(4_000 - 2_090);
      expect(invites(h)).toBe(3);
      const retry = h.last() as SipRequest;
      h.transport.receive(answer(retry, 200, { sdp: ANSWER }), KAMAILIO);
      await expect(pending).resolves.toEqual({ status: 200, answer: ANSWER });
      await done(h);
    });

    it('491 twice → { status: 491 }, no third attempt', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      const pending = dialog.reinvite(HOLD);
      await flush();
      h.transport.receive(answer(h.last() as SipRequest, 491), KAMAILIO);
      await jest.advanceTimersByTimeAsync(4_000);
      h.transport.receive(answer(h.last() as SipRequest, 491), KAMAILIO);
      await expect(pending).resolves.toEqual({ status: 491, answer: null });
      await jest.advanceTimersByTimeAsync(10_000);
      expect(invites(h)).toBe(3);
      await done(h);
    });

    it('the callee re-INVITEs while ours is pending → 491 to theirs (§14.2)', async () => {
      const h = await harness();
      const { dialog, ok } = await answered(h);
      void dialog.reinvite(HOLD);
      await flush();
      h.transport.receive(fromCallee('INVITE', ok, 9, [], HOLD), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(491);
      await done(h);
    });

    it('a second reinvite() while one is pending → rejected (one INVITE at a time)', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      void dialog.reinvite(HOLD);
      await expect(dialog.reinvite(OFFER)).rejects.toMatchObject({ code: 'ERR_SIP_INVALID_STATE' });
      await done(h);
    });

    it('481 → dialog terminated without BYE (§12.2.1.2)', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      const ended: TerminationReason[] = [];
      dialog.on('terminated', (r) => ended.push(r));
      const pending = dialog.reinvite(HOLD);
      await flush();
      h.transport.receive(answer(h.last() as SipRequest, 481), KAMAILIO);
      await expect(pending).resolves.toEqual({ status: 481, answer: null });
      expect(dialog.state).toBe('terminated');
      expect(ended[0]).toMatchObject({ by: 'error', status: 481 });
      expect(h.requests('BYE')).toHaveLength(0);
      await done(h);
    });

    it('no answer (Timer B) → 408, BYE, dialog terminated', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      const pending = dialog.reinvite(HOLD);
      await jest.advanceTimersByTimeAsync(64 * 500);
      await expect(pending).resolves.toEqual({ status: 408, answer: null });
      expect(dialog.state).toBe('terminated');
      expect(h.requests('BYE')).toHaveLength(1);
      await done(h);
    });

    it('on a dialog we answered (UAS) → works the same; a 491 waits 0-2 s', async () => {
      const h = await harness();
      const calls: Array<import('./incoming-call').IncomingCall> = [];
      h.ua.on('invite', (c) => calls.push(c));
      h.transport.receive(
        [
          'INVITE sip:ai@127.0.0.1:5090 SIP/2.0',
          'Via: SIP/2.0/UDP 127.0.0.1:25060;branch=z9hG4bK-in1',
          'From: <sip:alice@127.0.0.1>;tag=al',
          'To: <sip:ai@127.0.0.1>',
          'Call-ID: in-1',
          'CSeq: 1 INVITE',
          'Contact: <sip:alice@127.0.0.1:25063>',
          'Content-Type: application/sdp',
          `Content-Length: ${OFFER.length}`,
          '',
          OFFER,
        ].join('\r\n'),
        KAMAILIO,
      );
      const dialog = await (calls[0] as import('./incoming-call').IncomingCall).accept(ANSWER);
      h.transport.receive(
        'ACK sip:gw@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:25060;branch=z9hG4bK-in2\r\n' +
          `From: <sip:alice@127.0.0.1>;tag=al\r\nTo: <sip:ai@127.0.0.1>;tag=${dialog.localTag}\r\nCall-ID: in-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
        KAMAILIO,
      );
      const pending = dialog.reinvite(HOLD);
      await flush();
      const re = h.last() as SipRequest;
      expect([re.method, re.uri]).toEqual(['INVITE', 'sip:alice@127.0.0.1:25063']);
      h.transport.receive(answer(re, 491, { tag: dialog.localTag }), KAMAILIO);
      await jest.advanceTimersByTimeAsync(2_000);
      expect(invites(h)).toBe(2);
      h.transport.receive(answer(h.last() as SipRequest, 200, { sdp: ANSWER }), KAMAILIO);
      await expect(pending).resolves.toEqual({ status: 200, answer: ANSWER });
      await done(h);
    });
  });
});
