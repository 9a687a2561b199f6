import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dialog, TerminationReason } from './dialog/dialog';
import type { DtmfInfo } from './dialog/dtmf';
import type { IncomingCall } from './dialog/incoming-call';
import { toTagOf, type SipMessage, type SipRequest, type SipResponse } from './message/message';
import { parseNameAddr } from './message/name-addr';
import { parseVia, viaBranch } from './message/via';
import { MemoryTransport } from './transport/memory';
import type { MessageSource } from './transport/transport';
import { UserAgent, type RefusedRequest, type RequestAdmission, type UserAgentOptions } from './user-agent';

// The caller side as Kamailio forwards it (same shape as fixtures/kam-uas-udp-*).
const KAMAILIO: MessageSource = { protocol: 'udp', address: '127.0.0.1', port: 25070 };
const OFFER =
  'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';
const HOLD = OFFER.replace('o=alice 1 1', 'o=alice 1 2').replace('a=sendrecv', 'a=sendonly');
const ANSWER =
  'v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';

let branchCounter = 0;

interface RequestSpec {
  readonly cseq?: number;
  readonly toTag?: string | null;
  readonly body?: string;
  readonly contentType?: string;
  readonly headers?: string[];
  readonly branch?: string;
  readonly callId?: string;
  readonly uri?: string;
  readonly fromTag?: string;
}

/** A request from the caller, through Kamailio, as text. */
function request(method: string, spec: RequestSpec = {}): string {
  const branch = spec.branch ?? `z9hG4bK-k${++branchCounter}`;
  const lines = [
    `${method} ${spec.uri ?? (spec.toTag ? 'sip:gw@127.0.0.1:5090' : 'sip:ai@127.0.0.1:25070')} SIP/2.0`,
    ...(method === 'INVITE' && !spec.toTag ? ['Record-Route: <sip:127.0.0.1:25070;lr;ftag=caller1>'] : []),
    `Via: SIP/2.0/UDP 127.0.0.1:25070;branch=${branch}`,
    `Via: SIP/2.0/UDP 127.0.0.1:25063;received=127.0.0.1;rport=25063;branch=z9hG4bK-c-${branch}`,
    `From: "Alice" <sip:+15551230001@127.0.0.1>;tag=${spec.fromTag ?? 'caller1'}`,
    `To: <sip:ai@127.0.0.1>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId ?? 'call-1'}`,
    `CSeq: ${spec.cseq ?? 1} ${method === 'ACK' || method === 'CANCEL' ? method : method}`,
    'Contact: <sip:alice@127.0.0.1:25063>',
    'Max-Forwards: 69',
    'X-Route: ai:demo-echo',
    ...(spec.headers ?? []),
  ];
  const body = spec.body ?? '';
  if (body) lines.push(`Content-Type: ${spec.contentType ?? 'application/sdp'}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

const flush = (): Promise<void> => jest.advanceTimersByTimeAsync(0);

interface Harness {
  readonly ua: UserAgent;
  readonly transport: MemoryTransport;
  readonly calls: IncomingCall[];
  /** Responses we sent, in order. */
  responses(): SipResponse[];
  /** Requests we sent, in order. */
  requests(): SipRequest[];
  last(): SipMessage;
}

async function harness(opts: Partial<UserAgentOptions> = {}, listen = true): Promise<Harness> {
  const transport = new MemoryTransport();
  const ua = new UserAgent({ host: '127.0.0.1', port: 5090, transports: ['udp', 'tcp'], transport, ...opts });
  const calls: IncomingCall[] = [];
  if (listen) ua.on('invite', (c) => calls.push(c));
  await ua.start();
  return {
    ua,
    transport,
    calls,
    responses: () => transport.sent.flatMap((s) => (s.msg.type === 'response' ? [s.msg] : [])),
    requests: () => transport.sent.flatMap((s) => (s.msg.type === 'request' ? [s.msg] : [])),
    last: () => transport.sent[transport.sent.length - 1]?.msg as SipMessage,
  };
}

/** Sends an INVITE and accepts it; returns the dialog and our To tag. */
async function answered(
  h: Harness,
  offer: string | null = OFFER,
): Promise<{ dialog: Dialog; tag: string; call: IncomingCall }> {
  h.transport.receive(request('INVITE', offer === null ? {} : { body: offer }), KAMAILIO);
  const call = h.calls[h.calls.length - 1] as IncomingCall;
  const dialog = await call.accept(ANSWER);
  const ok = h.responses().find((r) => r.status === 200) as SipResponse;
  return { dialog, tag: toTagOf(ok) as string, call };
}

describe('UserAgent (UAS core, RFC 3261 §8.2)', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    branchCounter = 0;
  });
  afterEach(() => jest.useRealTimers());

  async function done(h: Harness): Promise<void> {
    const closing = h.ua.close();
    await jest.advanceTimersByTimeAsync(40_000);
    await closing;
    expect(jest.getTimerCount()).toBe(0);
  }

  describe('outside a dialog', () => {
    it('OPTIONS (the dispatcher probe) → 200 with Allow and Accept', async () => {
      const h = await harness();
      h.transport.receive(request('OPTIONS'), KAMAILIO);
      const res = h.last() as SipResponse;
      expect(res.status).toBe(200);
      expect(res.headers.getAll('Allow')).toEqual(['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'NOTIFY']);
      expect(res.headers.get('Accept')).toMatch(/application\/sdp/);
      expect(toTagOf(res)).not.toBeNull();
      await done(h);
    });

    it('Max-Forwards 0 → 483', async () => {
      const h = await harness();
      h.transport.receive(request('OPTIONS').replace('Max-Forwards: 69', 'Max-Forwards: 0'), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(483);
      await done(h);
    });

    it.each([
      ['MESSAGE', 405],
      ['SUBSCRIBE', 405],
      ['FOO', 501],
    ])('%s → %i with Allow', async (method, status) => {
      const h = await harness();
      h.transport.receive(request(method), KAMAILIO);
      const res = h.last() as SipResponse;
      expect(res.status).toBe(status);
      expect(res.headers.get('Allow')).toBe('INVITE');
      await done(h);
    });

    it('INVITE with Require: 100rel → 420 with Unsupported (§8.2.2.3)', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER, headers: ['Require: 100rel'] }), KAMAILIO);
      const res = h.last() as SipResponse;
      expect([res.status, res.headers.get('Unsupported')]).toEqual([420, '100rel']);
      await done(h);
    });

    it('Request-URI with an unknown scheme → 416', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER, uri: 'im:alice@example.com' }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(416);
      await done(h);
    });

    it('INVITE with no invite listener → 100 then 503 with Retry-After', async () => {
      const h = await harness({ retryAfterSeconds: 7 }, false);
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      expect(h.responses().map((r) => r.status)).toEqual([100, 503]);
      expect(h.responses()[1]?.headers.get('Retry-After')).toBe('7');
      await done(h);
    });

    it('INVITE over the concurrent-call cap → 503 with Retry-After; under it → offered', async () => {
      const h = await harness({ maxCalls: 1 });
      h.transport.receive(request('INVITE', { body: OFFER, callId: 'a' }), KAMAILIO);
      h.transport.receive(request('INVITE', { body: OFFER, callId: 'b' }), KAMAILIO);
      expect(h.calls.map((c) => c.callId)).toEqual(['a']);
      expect(h.responses().map((r) => r.status)).toEqual([100, 100, 503]);
      expect(h.ua.activeCalls).toBe(1);
      await done(h);
    });

    it('INVITE with a non-SDP body → 415 with Accept: application/sdp', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: '<xml/>', contentType: 'application/xml' }), KAMAILIO);
      const res = h.last() as SipResponse;
      expect([res.status, res.headers.get('Accept')]).toEqual([415, 'application/sdp']);
      await done(h);
    });

    it('INVITE without Contact → 400', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER }).replace(/^Contact:.*\r\n/m, ''), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(400);
      await done(h);
    });

    it('same Call-ID, From tag and CSeq on another branch while the first is in progress → 482 (§8.2.2.2)', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER, branch: 'z9hG4bK-one' }), KAMAILIO);
      h.transport.receive(request('INVITE', { body: OFFER, branch: 'z9hG4bK-two' }), KAMAILIO);
      expect(h.calls).toHaveLength(1);
      expect(h.responses().map((r) => r.status)).toEqual([100, 100, 482]);
      await done(h);
    });

    it.each(['BYE', 'INFO', 'NOTIFY'])('%s for no dialog → 481', async (method) => {
      const h = await harness();
      h.transport.receive(request(method, { toTag: 'nosuch', cseq: 2 }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(481);
      await done(h);
    });

    it('CANCEL matching nothing → 481', async () => {
      const h = await harness();
      h.transport.receive(request('CANCEL'), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(481);
      await done(h);
    });
  });

  describe('an incoming call', () => {
    it('INVITE → the call carries Call-ID, From, To, Request-URI, headers and the offer', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      const call = h.calls[0] as IncomingCall;
      expect(call.callId).toBe('call-1');
      expect(call.from).toEqual({
        displayName: 'Alice',
        uri: 'sip:+15551230001@127.0.0.1',
        params: [['tag', 'caller1']],
      });
      expect(call.to.uri).toBe('sip:ai@127.0.0.1');
      expect(call.requestUri).toBe('sip:ai@127.0.0.1:25070');
      expect(call.headers.get('x-route')).toEqual(['ai:demo-echo']);
      expect(call.offer).toBe(OFFER);
      await done(h);
    });

    it('progress(180) then accept → 180 and 200 with one To tag, Contact, the Record-Route copied, the answer as SDP', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      const call = h.calls[0] as IncomingCall;
      call.progress(180);
      const dialog = await call.accept(ANSWER);
      const [trying, ringing, ok] = h.responses() as [SipResponse, SipResponse, SipResponse];
      expect([trying.status, ringing.status, ok.status]).toEqual([100, 180, 200]);
      expect(toTagOf(trying)).toBeNull();
      expect(toTagOf(ringing)).toBe(toTagOf(ok));
      for (const r of [ringing, ok]) {
        expect(r.headers.get('Record-Route')).toBe('<sip:127.0.0.1:25070;lr;ftag=caller1>');
        expect(r.headers.get('Contact')).toBe('<sip:gw@127.0.0.1:5090>');
      }
      expect(ok.headers.get('Content-Type')).toBe('application/sdp');
      expect(ok.body.toString()).toBe(ANSWER);
      expect(h.transport.sent.every((s) => s.target.address === '127.0.0.1' && s.target.port === 25070)).toBe(true);
      expect([dialog.state, dialog.callId, dialog.remoteSdp, dialog.localSdp]).toEqual([
        'confirmed',
        'call-1',
        OFFER,
        ANSWER,
      ]);
      await done(h);
    });

    it('200 without ACK → resent at 0.5, 1.5, 3.5 s…; the ACK stops it', async () => {
      const h = await harness();
      const { tag, dialog } = await answered(h);
      const acked = jest.fn();
      dialog.on('ack', acked);
      const oks = (): number => h.responses().filter((r) => r.status === 200).length;
      await jest.advanceTimersByTimeAsync(500);
      expect(oks()).toBe(2);
      await jest.advanceTimersByTimeAsync(1000);
      expect(oks()).toBe(3);
      await jest.advanceTimersByTimeAsync(2000);
      expect(oks()).toBe(4);
      h.transport.receive(request('ACK', { toTag: tag }), KAMAILIO);
      expect(acked).toHaveBeenCalledWith(null);
      await jest.advanceTimersByTimeAsync(20_000);
      expect(oks()).toBe(4);
      await done(h);
    });

    it('200 never ACKed → after 64·T1 a BYE and terminated by timeout (§13.3.1.4)', async () => {
      const h = await harness();
      const { dialog } = await answered(h);
      const ended = jest.fn();
      dialog.on('terminated', ended);
      await jest.advanceTimersByTimeAsync(32_000);
      expect(ended).toHaveBeenCalledWith({ by: 'timeout', reason: 'no ACK' });
      expect(h.requests().map((r) => r.method)).toEqual(['BYE']);
      await done(h);
    });

    it('CANCEL before the answer → 200 to CANCEL, 487 to INVITE, cancel event; accept afterwards rejects ERR_SIP_CALL_GONE', async () => {
      const h = await harness();
      const branch = 'z9hG4bK-inv';
      h.transport.receive(request('INVITE', { body: OFFER, branch }), KAMAILIO);
      const call = h.calls[0] as IncomingCall;
      const cancelled = jest.fn();
      call.on('cancel', cancelled);
      call.progress(180);
      h.transport.receive(request('CANCEL', { branch }), KAMAILIO);
      const statuses = h.responses().map((r) => `${r.status} ${r.headers.get('CSeq')}`);
      expect(statuses).toEqual(['100 1 INVITE', '180 1 INVITE', '200 1 CANCEL', '487 1 INVITE']);
      expect(toTagOf(h.responses()[2] as SipResponse)).toBe(toTagOf(h.responses()[3] as SipResponse));
      expect(cancelled).toHaveBeenCalledTimes(1);
      expect(call.state).toBe('cancelled');
      await expect(call.accept(ANSWER)).rejects.toMatchObject({ code: 'ERR_SIP_CALL_GONE' });
      expect(h.ua.activeCalls).toBe(0);
      await done(h);
    });

    it('reject(488) → 488, retransmitted until the ACK, which is absorbed', async () => {
      const h = await harness();
      const branch = 'z9hG4bK-rej';
      h.transport.receive(request('INVITE', { body: OFFER, branch }), KAMAILIO);
      (h.calls[0] as IncomingCall).reject(488);
      await jest.advanceTimersByTimeAsync(500);
      const tag = toTagOf(h.last()) as string;
      h.transport.receive(request('ACK', { branch, toTag: tag }), KAMAILIO);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(h.responses().map((r) => r.status)).toEqual([100, 488, 488]);
      expect(h.ua.activeCalls).toBe(0);
      await done(h);
    });

    it('reject with a 2xx → TypeError', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      expect(() => (h.calls[0] as IncomingCall).reject(200)).toThrow(TypeError);
      await done(h);
    });

    it('BYE on the early dialog → 200 to BYE, 487 to INVITE, cancel event (§15.1.2)', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      const call = h.calls[0] as IncomingCall;
      const cancelled = jest.fn();
      call.on('cancel', cancelled);
      call.progress(183, ANSWER);
      const tag = toTagOf(h.last()) as string;
      h.transport.receive(request('BYE', { toTag: tag, cseq: 2 }), KAMAILIO);
      expect(h.responses().map((r) => `${r.status} ${r.headers.get('CSeq')}`)).toEqual([
        '100 1 INVITE',
        '183 1 INVITE',
        '200 2 BYE',
        '487 1 INVITE',
      ]);
      expect(cancelled).toHaveBeenCalled();
      await done(h);
    });

    it('nobody answers within the ring timeout → 480 and cancel', async () => {
      const h = await harness({ ringTimeoutMs: 10_000 });
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      const cancelled = jest.fn();
      (h.calls[0] as IncomingCall).on('cancel', cancelled);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(h.responses().map((r) => r.status)).toEqual([100, 480]);
      expect(cancelled).toHaveBeenCalled();
      await done(h);
    });

    it('INVITE without SDP → offer null; our 200 carries the offer; the ACK brings the answer', async () => {
      const h = await harness();
      const { dialog, tag, call } = await answered(h, null);
      expect(call.offer).toBeNull();
      const acks: Array<string | null> = [];
      dialog.on('ack', (sdp) => acks.push(sdp));
      h.transport.receive(request('ACK', { toTag: tag, body: OFFER }), KAMAILIO);
      expect(acks).toEqual([OFFER]);
      expect(dialog.remoteSdp).toBe(OFFER);
      await done(h);
    });

    it('an invite listener that throws → 500, and the UA keeps working', async () => {
      const h = await harness({}, false);
      h.ua.on('invite', () => {
        throw new Error('application bug');
      });
      h.transport.receive(request('INVITE', { body: OFFER }), KAMAILIO);
      expect(h.responses().map((r) => r.status)).toEqual([100, 500]);
      h.transport.receive(request('OPTIONS'), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(200);
      await done(h);
    });
  });

  describe('inside a dialog', () => {
    async function confirmed(h: Harness): Promise<{ dialog: Dialog; tag: string }> {
      const { dialog, tag } = await answered(h);
      h.transport.receive(request('ACK', { toTag: tag }), KAMAILIO);
      return { dialog, tag };
    }

    it('BYE from the caller → 200 and terminated by remote', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      const ended: TerminationReason[] = [];
      dialog.on('terminated', (r) => ended.push(r));
      h.transport.receive(request('BYE', { toTag: tag, cseq: 2 }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(200);
      expect(ended).toEqual([{ by: 'remote' }]);
      expect(dialog.state).toBe('terminated');
      expect(h.ua.activeCalls).toBe(0);
      h.transport.receive(request('INFO', { toTag: tag, cseq: 3 }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(481);
      await done(h);
    });

    it('bye() → BYE built per §12.2.1.1 (Route from Record-Route, Request-URI = remote Contact, tags swapped, fresh CSeq), terminated by local', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      const ended: TerminationReason[] = [];
      dialog.on('terminated', (r) => ended.push(r));
      const bye = dialog.bye();
      await flush();
      const req = h.last() as SipRequest;
      expect(req.method).toBe('BYE');
      expect(req.uri).toBe('sip:alice@127.0.0.1:25063');
      expect(req.headers.getAll('Route')).toEqual(['<sip:127.0.0.1:25070;lr;ftag=caller1>']);
      expect(parseNameAddr(req.headers.get('From') as string).params).toContainEqual(['tag', tag]);
      expect(parseNameAddr(req.headers.get('To') as string).params).toContainEqual(['tag', 'caller1']);
      expect(req.headers.get('Call-ID')).toBe('call-1');
      const via = parseVia(req.headers.get('Via') as string);
      expect([via.transport, via.host, via.port]).toEqual(['UDP', '127.0.0.1', 5090]);
      expect(h.transport.sent[h.transport.sent.length - 1]?.target).toEqual({
        protocol: 'udp',
        address: '127.0.0.1',
        port: 25070,
      });
      expect(ended).toEqual([{ by: 'local' }]);
      const ok = `SIP/2.0 200 OK\r\nVia: ${req.headers.get('Via')}\r\nFrom: ${req.headers.get('From')}\r\nTo: ${req.headers.get('To')}\r\nCall-ID: call-1\r\nCSeq: ${req.headers.get('CSeq')}\r\nContent-Length: 0\r\n\r\n`;
      h.transport.receive(ok, KAMAILIO);
      await expect(bye).resolves.toBeUndefined();
      await expect(dialog.bye()).resolves.toBeUndefined();
      expect(h.requests().filter((r) => r.method === 'BYE')).toHaveLength(1);
      await done(h);
    });

    it('Record-Route without lr (a strict router) → BYE to the router URI, the remote target last in Route (§12.2.1.1)', async () => {
      const h = await harness();
      h.transport.receive(request('INVITE', { body: OFFER }).replace(';lr;ftag=caller1', ';ftag=caller1'), KAMAILIO);
      const dialog = await (h.calls[0] as IncomingCall).accept(ANSWER);
      h.transport.receive(request('ACK', { toTag: toTagOf(h.last()) as string }), KAMAILIO);
      void dialog.bye();
      await flush();
      const bye = h.last() as SipRequest;
      expect(bye.uri).toBe('sip:127.0.0.1:25070;ftag=caller1');
      expect(bye.headers.getAll('Route')).toEqual(['<sip:alice@127.0.0.1:25063>']);
      expect(h.transport.sent[h.transport.sent.length - 1]?.target).toMatchObject({
        address: '127.0.0.1',
        port: 25070,
      });
      await done(h);
    });

    it('bye() before the ACK → waits for the ACK, then sends BYE (§15)', async () => {
      const h = await harness();
      const { dialog, tag } = await answered(h);
      void dialog.bye();
      await flush();
      expect(h.requests()).toHaveLength(0);
      h.transport.receive(request('ACK', { toTag: tag }), KAMAILIO);
      await flush();
      expect(h.requests().map((r) => r.method)).toEqual(['BYE']);
      await done(h);
    });

    it('re-INVITE with sendonly (hold) → reinvite event with the offer; reply → 200 with the answer until ACK; remote SDP updated', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      const offers: Array<string | null> = [];
      dialog.on('reinvite', (offer, reply) => {
        offers.push(offer);
        reply(ANSWER.replace('a=sendrecv', 'a=recvonly'));
      });
      h.transport.receive(request('INVITE', { toTag: tag, cseq: 2, body: HOLD }), KAMAILIO);
      expect(offers).toEqual([HOLD]);
      const ok = h.last() as SipResponse;
      expect([ok.status, ok.headers.get('CSeq')]).toEqual([200, '2 INVITE']);
      expect(ok.body.toString()).toMatch(/a=recvonly/);
      expect(ok.headers.get('Contact')).toBe('<sip:gw@127.0.0.1:5090>');
      expect(dialog.remoteSdp).toBe(HOLD);
      await jest.advanceTimersByTimeAsync(500);
      expect(h.responses().filter((r) => r.headers.get('CSeq') === '2 INVITE' && r.status === 200)).toHaveLength(2);
      h.transport.receive(request('ACK', { toTag: tag, cseq: 2 }), KAMAILIO);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(h.responses().filter((r) => r.headers.get('CSeq') === '2 INVITE' && r.status === 200)).toHaveLength(2);
      expect(dialog.state).toBe('confirmed');
      await done(h);
    });

    it('re-INVITE the application rejects → 488; the dialog carries on', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      dialog.on('reinvite', (_offer, _reply, reject) => reject());
      h.transport.receive(request('INVITE', { toTag: tag, cseq: 2, body: HOLD }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(488);
      expect([dialog.state, dialog.remoteSdp]).toEqual(['confirmed', OFFER]);
      await done(h);
    });

    it('re-INVITE with no reinvite listener (session refresh) → 200 with our last SDP', async () => {
      const h = await harness();
      const { tag } = await confirmed(h);
      h.transport.receive(request('INVITE', { toTag: tag, cseq: 2, body: OFFER }), KAMAILIO);
      const ok = h.last() as SipResponse;
      expect([ok.status, ok.body.toString()]).toEqual([200, ANSWER]);
      await done(h);
    });

    it('second re-INVITE while the first is unanswered → 500 with Retry-After (§14.2)', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      dialog.on('reinvite', () => undefined);
      h.transport.receive(request('INVITE', { toTag: tag, cseq: 2, body: HOLD }), KAMAILIO);
      h.transport.receive(request('INVITE', { toTag: tag, cseq: 3, body: OFFER }), KAMAILIO);
      const res = h.last() as SipResponse;
      expect(res.status).toBe(500);
      expect(Number(res.headers.get('Retry-After'))).toBeLessThanOrEqual(10);
      await done(h);
    });

    it('BYE while a re-INVITE is unanswered → 200 to BYE and 487 to the re-INVITE', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      dialog.on('reinvite', () => undefined);
      h.transport.receive(request('INVITE', { toTag: tag, cseq: 2, body: HOLD }), KAMAILIO);
      h.transport.receive(request('BYE', { toTag: tag, cseq: 3 }), KAMAILIO);
      expect(
        h
          .responses()
          .slice(-2)
          .map((r) => `${r.status} ${r.headers.get('CSeq')}`),
      ).toEqual(['200 3 BYE', '487 2 INVITE']);
      await done(h);
    });

    it('INFO application/dtmf-relay → 200 and info { digit, durationMs }', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      const seen: Array<DtmfInfo | null> = [];
      dialog.on('info', (dtmf) => seen.push(dtmf));
      h.transport.receive(
        request('INFO', {
          toTag: tag,
          cseq: 2,
          body: 'Signal=5\r\nDuration=160\r\n',
          contentType: 'application/dtmf-relay',
        }),
        KAMAILIO,
      );
      h.transport.receive(
        request('INFO', { toTag: tag, cseq: 3, body: '#', contentType: 'application/dtmf' }),
        KAMAILIO,
      );
      expect(
        h
          .responses()
          .slice(-2)
          .map((r) => r.status),
      ).toEqual([200, 200]);
      expect(seen).toEqual([
        { digit: '5', durationMs: 160 },
        { digit: '#', durationMs: 250 },
      ]);
      await done(h);
    });

    it('an info listener that throws → the INFO is still answered 200', async () => {
      const h = await harness();
      const { dialog, tag } = await confirmed(h);
      dialog.on('info', () => {
        throw new Error('boom');
      });
      h.transport.receive(
        request('INFO', { toTag: tag, cseq: 2, body: 'Signal=1', contentType: 'application/dtmf-relay' }),
        KAMAILIO,
      );
      expect((h.last() as SipResponse).status).toBe(200);
      await done(h);
    });

    it('OPTIONS inside the dialog → 200 with Allow', async () => {
      const h = await harness();
      const { tag } = await confirmed(h);
      h.transport.receive(request('OPTIONS', { toTag: tag, cseq: 2 }), KAMAILIO);
      const res = h.last() as SipResponse;
      expect([res.status, res.headers.get('Allow')]).toEqual([200, 'INVITE']);
      await done(h);
    });

    it('CSeq lower than the last one → 500 (§12.2.2)', async () => {
      const h = await harness();
      const { tag } = await confirmed(h);
      h.transport.receive(request('INFO', { toTag: tag, cseq: 5 }), KAMAILIO);
      h.transport.receive(request('INFO', { toTag: tag, cseq: 4 }), KAMAILIO);
      expect(
        h
          .responses()
          .slice(-2)
          .map((r) => r.status),
      ).toEqual([200, 500]);
      await done(h);
    });

    it('request() INFO → sent in the dialog; resolves with the final response', async () => {
      const h = await harness();
      const { dialog } = await confirmed(h);
      const pending = dialog.request('INFO', {
        body: 'Signal=9\r\nDuration=100\r\n',
        contentType: 'application/dtmf-relay',
      });
      await flush();
      const req = h.last() as SipRequest;
      expect([req.method, req.headers.get('Content-Type')]).toEqual(['INFO', 'application/dtmf-relay']);
      h.transport.receive(answer(req, 200), KAMAILIO);
      await expect(pending).resolves.toMatchObject({ status: 200 });
      await done(h);
    });

    describe('refer() (RFC 3515)', () => {
      function notify(tag: string, cseq: number, frag: string, state = 'active;expires=60'): string {
        return request('NOTIFY', {
          toTag: tag,
          cseq,
          body: frag,
          contentType: 'message/sipfrag',
          headers: ['Event: refer', `Subscription-State: ${state}`],
        });
      }

      it('202 then NOTIFY 100 and NOTIFY 200 → { status: 202 }, outcome 200; each NOTIFY answered 200', async () => {
        const h = await harness();
        const { dialog, tag } = await confirmed(h);
        const result = dialog.refer('sip:+15557654321@example.com');
        await flush();
        const refer = h.last() as SipRequest;
        expect(refer.method).toBe('REFER');
        expect(refer.headers.get('Refer-To')).toBe('<sip:+15557654321@example.com>');
        expect(refer.headers.get('Contact')).toBe('<sip:gw@127.0.0.1:5090>');
        h.transport.receive(answer(refer, 202), KAMAILIO);
        const { status, outcome } = await result;
        expect(status).toBe(202);
        h.transport.receive(notify(tag, 2, 'SIP/2.0 100 Trying\r\n'), KAMAILIO);
        h.transport.receive(notify(tag, 3, 'SIP/2.0 200 OK\r\n', 'terminated;reason=noresource'), KAMAILIO);
        await expect(outcome).resolves.toBe(200);
        expect(
          h
            .responses()
            .slice(-2)
            .map((r) => `${r.status} ${r.headers.get('CSeq')}`),
        ).toEqual(['200 2 NOTIFY', '200 3 NOTIFY']);
        await done(h);
      });

      it('with replaces → the Replaces value escaped into the Refer-To URI (RFC 3891 §3)', async () => {
        const h = await harness();
        const { dialog } = await confirmed(h);
        void dialog.refer('sip:bob@example.com', { replaces: 'abc@host;to-tag=t1;from-tag=f1' });
        await flush();
        expect((h.last() as SipRequest).headers.get('Refer-To')).toBe(
          '<sip:bob@example.com?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>',
        );
        await done(h);
      });

      it('REFER refused with 603 → { status: 603 } and no outcome', async () => {
        const h = await harness();
        const { dialog } = await confirmed(h);
        const result = dialog.refer('sip:bob@example.com');
        await flush();
        h.transport.receive(answer(h.last() as SipRequest, 603), KAMAILIO);
        await expect(result).resolves.toEqual({ status: 603 });
        await done(h);
      });

      it('NOTIFY with the final outcome after the caller hung up → still answered and reported', async () => {
        const h = await harness();
        const { dialog, tag } = await confirmed(h);
        const result = dialog.refer('sip:bob@example.com');
        await flush();
        h.transport.receive(answer(h.last() as SipRequest, 202), KAMAILIO);
        const { outcome } = await result;
        h.transport.receive(request('BYE', { toTag: tag, cseq: 2 }), KAMAILIO);
        h.transport.receive(notify(tag, 3, 'SIP/2.0 486 Busy Here\r\n', 'terminated'), KAMAILIO);
        await expect(outcome).resolves.toBe(486);
        expect((h.last() as SipResponse).status).toBe(200);
        await done(h);
      });

      it("NOTIFY 200 before the REFER's 202 (reordered) → outcome 200", async () => {
        const h = await harness();
        const { dialog, tag } = await confirmed(h);
        const result = dialog.refer('sip:bob@example.com');
        await flush();
        const refer = h.last() as SipRequest;
        h.transport.receive(notify(tag, 2, 'SIP/2.0 200 OK\r\n', 'terminated'), KAMAILIO);
        h.transport.receive(answer(refer, 202), KAMAILIO);
        const { status, outcome } = await result;
        expect(status).toBe(202);
        await expect(outcome).resolves.toBe(200);
        await done(h);
      });

      it('202 and no final NOTIFY within the refer timeout → outcome 408', async () => {
        const h = await harness({ referTimeoutMs: 5_000 });
        const { dialog, tag } = await confirmed(h);
        const result = dialog.refer('sip:bob@example.com');
        await flush();
        h.transport.receive(answer(h.last() as SipRequest, 202), KAMAILIO);
        const { outcome } = await result;
        h.transport.receive(notify(tag, 2, 'SIP/2.0 180 Ringing\r\n'), KAMAILIO);
        await jest.advanceTimersByTimeAsync(5_000);
        await expect(outcome).resolves.toBe(408);
        await done(h);
      });

      it('subscription terminated without a final status → outcome = the last status reported', async () => {
        const h = await harness();
        const { dialog, tag } = await confirmed(h);
        const result = dialog.refer('sip:bob@example.com');
        await flush();
        h.transport.receive(answer(h.last() as SipRequest, 202), KAMAILIO);
        const { outcome } = await result;
        h.transport.receive(notify(tag, 2, 'SIP/2.0 100 Trying\r\n', 'terminated;reason=timeout'), KAMAILIO);
        await expect(outcome).resolves.toBe(100);
        await done(h);
      });

      it('REFER with no answer (Timer F) → { status: 408 }', async () => {
        const h = await harness();
        const { dialog } = await confirmed(h);
        const result = dialog.refer('sip:bob@example.com');
        await jest.advanceTimersByTimeAsync(64 * 500);
        await expect(result).resolves.toEqual({ status: 408 });
        await done(h);
      });
    });
  });

  describe('with a real Kamailio INVITE over TCP (double Record-Route, fixtures/kam-uas-tcp-00)', () => {
    const fixture = readFileSync(join(__dirname, 'message', 'fixtures', 'kam-uas-tcp-00-received-invite.sip'));
    const FLOW: MessageSource = { protocol: 'tcp', address: '127.0.0.1', port: 41234, connectionId: 'tcp-9' };

    it('200 → both Record-Route lines in order and a transport=tcp Contact, on the connection the INVITE came on', async () => {
      const h = await harness();
      h.transport.receive(fixture, FLOW);
      await (h.calls[0] as IncomingCall).accept(ANSWER);
      const ok = h.last() as SipResponse;
      expect(ok.headers.getAll('Record-Route')).toEqual([
        expect.stringMatching(/^<sip:127\.0\.0\.1:25070;transport=tcp;r2=on;lr;ftag=/),
        expect.stringMatching(/^<sip:127\.0\.0\.1:25070;r2=on;lr;ftag=/),
      ]);
      expect(ok.headers.get('Contact')).toBe('<sip:gw@127.0.0.1:5090;transport=tcp>');
      expect(h.transport.sent[h.transport.sent.length - 1]?.target).toEqual({
        protocol: 'tcp',
        address: '127.0.0.1',
        port: 25070,
        connectionId: 'tcp-9',
      });
      expect(h.calls[0]?.headers.get('x-route')).toEqual(['ai:demo-echo']);
      await done(h);
    });

    it('bye() → Route = both Record-Route URIs, Request-URI = the caller Contact, sent over TCP to the first hop reusing the connection', async () => {
      const h = await harness();
      h.transport.receive(fixture, FLOW);
      const dialog = await (h.calls[0] as IncomingCall).accept(ANSWER);
      const tag = toTagOf(h.last()) as string;
      const ack = fixture
        .toString()
        .replace(/^INVITE \S+/, 'ACK sip:gw@127.0.0.1:5090;transport=tcp')
        .replace('CSeq: 1 INVITE', 'CSeq: 1 ACK')
        .replace(/^To: (.*)$/m, `To: $1;tag=${tag}`)
        .replace(/branch=z9hG4bK[^;\r\n]*/, 'branch=z9hG4bKack1')
        .replace(/^Content-Type:.*\r\n/m, '')
        .replace(/\r\n\r\n[\s\S]*$/, '\r\n\r\n')
        .replace(/Content-Length:\s*\d+/, 'Content-Length: 0');
      h.transport.receive(ack, FLOW);
      void dialog.bye();
      await flush();
      const bye = h.last() as SipRequest;
      expect(bye.method).toBe('BYE');
      expect(bye.uri).toBe('sip:alice@127.0.0.1:25064;transport=UDP');
      expect(bye.headers.getAll('Route')).toEqual([
        expect.stringMatching(/^<sip:127\.0\.0\.1:25070;transport=tcp;r2=on;lr;ftag=/),
        expect.stringMatching(/^<sip:127\.0\.0\.1:25070;r2=on;lr;ftag=/),
      ]);
      expect(parseVia(bye.headers.get('Via') as string).transport).toBe('TCP');
      expect(h.transport.sent[h.transport.sent.length - 1]?.target).toEqual({
        protocol: 'tcp',
        address: '127.0.0.1',
        port: 25070,
        connectionId: 'tcp-9',
      });
      await done(h);
    });
  });

  describe('admission (only what came through Kamailio)', () => {
    const PROOF = 'X-Proof: ok';
    const admission: RequestAdmission = {
      admit: (req) => (req.headers.get('X-Proof') === 'ok' ? { ok: true } : { ok: false, reason: 'no_proof' }),
      refusalReason: 'Forbidden - Not Through The Proxy',
    };
    const ATTACKER: MessageSource = { protocol: 'udp', address: '127.0.0.7', port: 5060 };

    it('INVITE without the proof → 403 with the reason, no call, a refused event naming the source', async () => {
      const h = await harness({ admission });
      const refused: RefusedRequest[] = [];
      h.ua.on('refused', (r) => refused.push(r));
      h.transport.receive(request('INVITE', { body: OFFER }), ATTACKER);
      const res = h.last() as SipResponse;
      expect([res.status, res.reason]).toEqual([403, 'Forbidden - Not Through The Proxy']);
      expect(h.calls).toHaveLength(0);
      expect(refused).toEqual([{ method: 'INVITE', callId: 'call-1', reason: 'no_proof', source: ATTACKER }]);
      await done(h);
    });

    it('INVITE with the proof → a call; OPTIONS without it → 200 (the dispatcher probe)', async () => {
      const h = await harness({ admission });
      h.transport.receive(request('INVITE', { body: OFFER, headers: [PROOF] }), KAMAILIO);
      expect(h.calls).toHaveLength(1);
      h.transport.receive(request('OPTIONS', { callId: 'probe' }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(200);
      await done(h);
    });

    it('in-dialog BYE without the proof → 403 and the dialog lives; ACK without it is dropped', async () => {
      const h = await harness({ admission });
      h.transport.receive(request('INVITE', { body: OFFER, headers: [PROOF] }), KAMAILIO);
      const dialog = await (h.calls[0] as IncomingCall).accept(ANSWER);
      const tag = toTagOf(h.responses().find((r) => r.status === 200) as SipResponse) as string;
      const acked = jest.fn();
      dialog.on('ack', acked);
      h.transport.receive(request('ACK', { toTag: tag }), ATTACKER);
      expect(acked).not.toHaveBeenCalled();
      h.transport.receive(request('ACK', { toTag: tag, headers: [PROOF] }), KAMAILIO);
      expect(acked).toHaveBeenCalledTimes(1);
      h.transport.receive(request('BYE', { toTag: tag, cseq: 2 }), ATTACKER);
      expect((h.last() as SipResponse).status).toBe(403);
      expect(dialog.state).toBe('confirmed');
      h.transport.receive(request('BYE', { toTag: tag, cseq: 3, headers: [PROOF] }), KAMAILIO);
      expect((h.last() as SipResponse).status).toBe(200);
      await done(h);
    });

    it('CANCEL from another address than its INVITE → 403 and the call rings on; from the same → 487', async () => {
      const h = await harness({ admission });
      const refused: RefusedRequest[] = [];
      h.ua.on('refused', (r) => refused.push(r));
      h.transport.receive(request('INVITE', { body: OFFER, branch: 'z9hG4bK-a', headers: [PROOF] }), KAMAILIO);
      h.transport.receive(request('CANCEL', { branch: 'z9hG4bK-a' }), ATTACKER);
      expect((h.last() as SipResponse).status).toBe(403);
      expect((h.calls[0] as IncomingCall).state).not.toBe('cancelled');
      expect(refused.map((r) => r.reason)).toEqual(['foreign_cancel']);
      h.transport.receive(
        request('INVITE', { body: OFFER, branch: 'z9hG4bK-b', callId: 'call-2', headers: [PROOF] }),
        KAMAILIO,
      );
      h.transport.receive(request('CANCEL', { branch: 'z9hG4bK-b', callId: 'call-2' }), KAMAILIO);
      expect(
        h
          .responses()
          .map((r) => r.status)
          .slice(-2),
      ).toEqual([200, 487]);
      expect((h.calls[1] as IncomingCall).state).toBe('cancelled');
      await done(h);
    });
  });

  describe('close()', () => {
    it('sends BYE on every confirmed dialog, 503 to ringing calls, then stops; twice is once', async () => {
      const h = await harness();
      const { tag } = await (async () => {
        const a = await answered(h);
        h.transport.receive(request('ACK', { toTag: a.tag }), KAMAILIO);
        return a;
      })();
      h.transport.receive(request('INVITE', { body: OFFER, callId: 'ringing' }), KAMAILIO);
      const ringing = h.calls[1] as IncomingCall;
      const cancelled = jest.fn();
      ringing.on('cancel', cancelled);
      const closing = Promise.all([h.ua.close(), h.ua.close()]);
      await flush();
      const bye = h.requests().find((r) => r.method === 'BYE') as SipRequest;
      expect(parseNameAddr(bye.headers.get('From') as string).params).toContainEqual(['tag', tag]);
      expect(
        h
          .responses()
          .find((r) => r.headers.get('Call-ID') === 'ringing' && r.status === 503)
          ?.headers.get('Retry-After'),
      ).toBe('5');
      expect(cancelled).toHaveBeenCalled();
      h.transport.receive(answer(bye, 200), KAMAILIO);
      await jest.advanceTimersByTimeAsync(0);
      await closing;
      expect(jest.getTimerCount()).toBe(0);
      expect(h.ua.activeCalls).toBe(0);
    });

    it('a peer that never answers the BYE → close still finishes within 64·T1', async () => {
      const h = await harness();
      const a = await answered(h);
      h.transport.receive(request('ACK', { toTag: a.tag }), KAMAILIO);
      const closing = h.ua.close();
      await jest.advanceTimersByTimeAsync(32_000);
      await closing;
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});

/** A response from the caller side to a request we sent. */
function answer(req: SipRequest, status: number): string {
  const branch = viaBranch(parseVia(req.headers.get('Via') as string));
  return [
    `SIP/2.0 ${status} Whatever`,
    `Via: ${req.headers.get('Via')}`,
    `From: ${req.headers.get('From')}`,
    `To: ${req.headers.get('To')}`,
    `Call-ID: ${req.headers.get('Call-ID')}`,
    `CSeq: ${req.headers.get('CSeq')}`,
    `X-Branch: ${branch}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
