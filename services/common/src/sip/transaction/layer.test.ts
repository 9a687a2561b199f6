import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SILENT_LOGGER } from '../logger';
import { SipHeaders } from '../message/headers';
import type { SipRequest, SipResponse } from '../message/message';
import { parseMessage } from '../message/parser';
import { createResponse } from '../message/response';
import { MemoryTransport } from '../transport/memory';
import type { MessageSource } from '../transport/transport';
import { newBranch, TransactionLayer, type ServerTransaction } from './layer';
import { timerValues } from './timers';

const fixture = (name: string): Buffer => readFileSync(join(__dirname, '..', 'message', 'fixtures', name));
const KAMAILIO: MessageSource = { protocol: 'udp', address: '127.0.0.1', port: 25070 };

function setup(): {
  layer: TransactionLayer;
  transport: MemoryTransport;
  requests: Array<[SipRequest, ServerTransaction]>;
  acks: SipRequest[];
} {
  const transport = new MemoryTransport();
  const requests: Array<[SipRequest, ServerTransaction]> = [];
  const acks: SipRequest[] = [];
  const layer = new TransactionLayer({
    transport,
    timers: timerValues(),
    logger: SILENT_LOGGER,
    tu: { onRequest: (req, txn) => requests.push([req, txn]), onAck: (req) => acks.push(req) },
  });
  return { layer, transport, requests, acks };
}

describe('TransactionLayer (RFC 3261 §17.1.3, §17.2.3)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  it('INVITE and its retransmission → the TU sees one request; the retransmission gets the 100 again', () => {
    const { layer, transport, requests } = setup();
    transport.receive(fixture('kam-uas-udp-00-received-invite.sip'), KAMAILIO);
    transport.receive(fixture('kam-uas-udp-00-received-invite.sip'), KAMAILIO);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.[1].kind).toBe('server-invite');
    expect(transport.statuses()).toEqual([100, 100]);
    layer.close();
  });

  it('ACK for a 2xx (its own branch) → to the TU; ACK for a 486 (same branch) → absorbed', () => {
    const { layer, transport, requests, acks } = setup();
    transport.receive(fixture('kam-uas-udp-00-received-invite.sip'), KAMAILIO);
    const [invite, txn] = requests[0] as [SipRequest, ServerTransaction];
    txn.respond(createResponse(invite, 200, { toTag: '18252SIPpTag011' }));
    transport.receive(fixture('kam-uas-udp-03-received-ack.sip'), KAMAILIO);
    expect(acks).toHaveLength(1);

    transport.receive(fixture('kam-uas-cancel-00-received-invite.sip'), KAMAILIO);
    const [invite2, txn2] = requests[1] as [SipRequest, ServerTransaction];
    txn2.respond(createResponse(invite2, 486, { toTag: '19857SIPpTag011' }));
    transport.receive(fixture('kam-uas-cancel-05-received-ack.sip'), KAMAILIO);
    expect(acks).toHaveLength(1);
    expect(txn2.state).toBe('confirmed');
    layer.close();
  });

  it('CANCEL → its own transaction, and findInvite returns the INVITE transaction it targets (§9.2)', () => {
    const { layer, transport, requests } = setup();
    transport.receive(fixture('kam-uas-cancel-00-received-invite.sip'), KAMAILIO);
    transport.receive(fixture('kam-uas-cancel-02-received-cancel.sip'), KAMAILIO);
    expect(requests.map(([r, t]) => [r.method, t.kind])).toEqual([
      ['INVITE', 'server-invite'],
      ['CANCEL', 'server-non-invite'],
    ]);
    expect(layer.findInvite(requests[1]?.[0] as SipRequest)).toBe(requests[0]?.[1]);
    layer.close();
  });

  it('request missing Call-ID → stateless 400 naming the problem, TU not called', () => {
    const { layer, transport, requests } = setup();
    const text = fixture('kam-options-00-received-options.sip')
      .toString()
      .replace(/^Call-ID:.*\r\n/m, '');
    transport.receive(text, KAMAILIO);
    expect(requests).toHaveLength(0);
    expect(transport.statuses()).toEqual([400]);
    expect((transport.sent[0]?.msg as SipResponse).reason).toMatch(/missing Call-ID/);
    layer.close();
  });

  it('requests without the magic cookie (RFC 2543) → retransmissions still matched', () => {
    const { layer, transport, requests } = setup();
    const text = fixture('kam-options-00-received-options.sip')
      .toString()
      .replace(/branch=z9hG4bK[^\r\n;]*/, 'branch=old1');
    transport.receive(text, KAMAILIO);
    transport.receive(text, KAMAILIO);
    expect(requests).toHaveLength(1);
    layer.close();
  });

  it('request() → sent on the next microtask; the matching response (branch + CSeq method) reaches it, a stray one is dropped', async () => {
    const { layer, transport } = setup();
    const branch = newBranch();
    const req: SipRequest = {
      type: 'request',
      method: 'OPTIONS',
      uri: 'sip:127.0.0.1:25070',
      headers: new SipHeaders([
        ['Via', `SIP/2.0/UDP 127.0.0.1:5099;branch=${branch}`],
        ['From', '<sip:gw@127.0.0.1>;tag=1'],
        ['To', '<sip:127.0.0.1:25070>'],
        ['Call-ID', 'opt1'],
        ['CSeq', '1 OPTIONS'],
      ]),
      body: Buffer.alloc(0),
    };
    const txn = layer.request(req, { protocol: 'udp', address: '127.0.0.1', port: 25070 });
    const statuses: number[] = [];
    txn.on('response', (r) => statuses.push(r.status));
    expect(transport.methods()).toEqual([]);
    await Promise.resolve();
    expect(transport.methods()).toEqual(['OPTIONS']);
    const stray = createResponse(req, 200);
    stray.headers.set('Via', 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKother');
    transport.receive(stray, KAMAILIO);
    transport.receive(createResponse(req, 200), KAMAILIO);
    expect(statuses).toEqual([200]);
    expect(layer.counts.client).toBe(1);
    layer.close();
    expect(layer.counts).toEqual({ server: 0, client: 0 });
  });

  it('close → every transaction terminated and its timers gone; later messages ignored', () => {
    const { layer, transport, requests } = setup();
    transport.receive(fixture('kam-uas-udp-00-received-invite.sip'), KAMAILIO);
    const [invite, txn] = requests[0] as [SipRequest, ServerTransaction];
    txn.respond(createResponse(invite, 486, { toTag: 't' }));
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    layer.close();
    expect(txn.state).toBe('terminated');
    transport.receive(fixture('kam-uas-udp-00-received-invite.sip'), KAMAILIO);
    expect(requests).toHaveLength(1);
  });

  it('INVITE through request() → TypeError (server-side UA: no client INVITE transactions)', () => {
    const { layer } = setup();
    const invite = parseMessage(fixture('kam-uac-udp-00-sent-invite.sip')) as SipRequest;
    expect(() => layer.request(invite, { protocol: 'udp', address: '127.0.0.1', port: 1 })).toThrow(TypeError);
    layer.close();
  });
});
