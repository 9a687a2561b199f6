import { SipError } from '../errors';
import { SipHeaders } from '../message/headers';
import type { SipRequest, SipResponse } from '../message/message';
import { createResponse } from '../message/response';
import { MemoryTransport } from '../transport/memory';
import type { MessageSource, TransportTarget } from '../transport/transport';
import { ClientInviteTransaction, TIMER_D_UNRELIABLE_MS } from './client-invite';
import { timerValues } from './timers';

const invite: SipRequest = {
  type: 'request',
  method: 'INVITE',
  uri: 'sip:+15551234567@127.0.0.1:25070',
  headers: new SipHeaders([
    ['Via', 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKinv1;rport'],
    ['Max-Forwards', '70'],
    ['From', '<sip:+15550000001@127.0.0.1>;tag=gw1'],
    ['To', '<sip:+15551234567@127.0.0.1:25070>'],
    ['Call-ID', 'c1'],
    ['CSeq', '17 INVITE'],
    ['Route', '<sip:127.0.0.1:25070;lr>'],
    ['Contact', '<sip:gw@127.0.0.1:5099>'],
  ]),
  body: Buffer.from('v=0\r\n'),
};
const UDP: TransportTarget = { protocol: 'udp', address: '127.0.0.1', port: 25070 };
const TCP: TransportTarget = { protocol: 'tcp', address: '127.0.0.1', port: 25070 };
const FROM: MessageSource = { protocol: 'udp', address: '127.0.0.1', port: 25070 };

function reply(status: number, tag = 'callee1'): SipResponse {
  return createResponse(invite, status, status > 100 ? { toTag: tag } : {});
}

function setup(target = UDP): {
  txn: ClientInviteTransaction;
  transport: MemoryTransport;
  responses: SipResponse[];
  failures: SipError[];
  terminated: () => boolean;
} {
  const transport = new MemoryTransport();
  const txn = new ClientInviteTransaction('k', invite, target, transport, timerValues());
  const responses: SipResponse[] = [];
  const failures: SipError[] = [];
  let ended = false;
  txn.on('response', (r) => responses.push(r));
  txn.on('failed', (e) => failures.push(e));
  txn.on('terminated', () => (ended = true));
  txn.start();
  return { txn, transport, responses, failures, terminated: () => ended };
}

describe('client INVITE transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  it('no answer over UDP → Timer A resends at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B fails it at 64·T1 with 408', () => {
    const { transport, failures, txn } = setup();
    const sendsAt = (ms: number): number => {
      jest.advanceTimersByTime(ms);
      return transport.methods().length;
    };
    expect(sendsAt(0)).toBe(1);
    expect(sendsAt(500)).toBe(2);
    expect(sendsAt(1000)).toBe(3);
    expect(sendsAt(2000)).toBe(4);
    expect(sendsAt(4000)).toBe(5);
    expect(sendsAt(8000)).toBe(6);
    expect(sendsAt(16000)).toBe(7);
    expect(failures).toEqual([]);
    jest.advanceTimersByTime(32_000 - 31_500);
    expect(failures).toHaveLength(1);
    expect([failures[0]?.code, failures[0]?.status]).toEqual(['ERR_SIP_TIMEOUT', 408]);
    expect(txn.state).toBe('terminated');
    expect(transport.methods()).toEqual(Array(7).fill('INVITE'));
  });

  it('over TCP → no Timer A; Timer B still fails it at 64·T1', () => {
    const { transport, failures } = setup(TCP);
    jest.advanceTimersByTime(31_999);
    expect(transport.methods()).toEqual(['INVITE']);
    expect(failures).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(failures).toHaveLength(1);
  });

  it('1xx → proceeding: Timers A and B stop (the TU decides how long to ring), the 1xx goes up', () => {
    const { transport, failures, responses, txn } = setup();
    txn.receive(reply(100), FROM);
    txn.receive(reply(180), FROM);
    jest.advanceTimersByTime(120_000);
    expect([txn.state, transport.methods(), failures]).toEqual(['proceeding', ['INVITE'], []]);
    expect(responses.map((r) => r.status)).toEqual([100, 180]);
    txn.terminate();
  });

  it('486 → ACK from the transaction (§17.1.1.3: same branch, Route, To with the tag), 486 up once; retransmitted 486 → same ACK, not up; Timer D 32 s', () => {
    const { transport, responses, txn, terminated } = setup();
    txn.receive(reply(180), FROM);
    txn.receive(reply(486), FROM);
    txn.receive(reply(486), FROM);
    expect(responses.map((r) => r.status)).toEqual([180, 486]);
    expect(transport.methods()).toEqual(['INVITE', 'ACK', 'ACK']);
    const ack = transport.sent[1]?.msg as SipRequest;
    expect(ack.uri).toBe(invite.uri);
    expect(ack.headers.getAll('Via')).toEqual(['SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKinv1;rport']);
    expect(ack.headers.get('CSeq')).toBe('17 ACK');
    expect(ack.headers.get('To')).toBe('<sip:+15551234567@127.0.0.1:25070>;tag=callee1');
    expect(ack.headers.get('From')).toBe(invite.headers.get('From'));
    expect(ack.headers.getAll('Route')).toEqual(['<sip:127.0.0.1:25070;lr>']);
    expect(ack.body.length).toBe(0);
    expect(txn.state).toBe('completed');
    jest.advanceTimersByTime(TIMER_D_UNRELIABLE_MS - 1);
    expect(terminated()).toBe(false);
    jest.advanceTimersByTime(1);
    expect(terminated()).toBe(true);
  });

  it('486 over TCP → ACK and terminated at once (Timer D = 0)', () => {
    const { transport, txn } = setup(TCP);
    txn.receive(reply(486), FROM);
    expect([transport.methods(), txn.state]).toEqual([['INVITE', 'ACK'], 'terminated']);
  });

  it('2xx → accepted: no ACK from the transaction (the TU ACKs); 2xx retransmissions and forked 2xx go up; 1xx and non-2xx then dropped; Timer M 64·T1', () => {
    const { transport, responses, txn, terminated } = setup();
    txn.receive(reply(200, 'a'), FROM);
    txn.receive(reply(200, 'a'), FROM);
    txn.receive(reply(200, 'b'), FROM);
    txn.receive(reply(180, 'c'), FROM);
    txn.receive(reply(486, 'c'), FROM);
    expect(transport.methods()).toEqual(['INVITE']);
    expect(responses.map((r) => `${r.status}/${r.headers.get('To')?.split('tag=')[1]}`)).toEqual([
      '200/a',
      '200/a',
      '200/b',
    ]);
    expect(txn.state).toBe('accepted');
    jest.advanceTimersByTime(64 * 500 - 1);
    expect(terminated()).toBe(false);
    jest.advanceTimersByTime(1);
    expect(terminated()).toBe(true);
  });

  it('transport error → failed (503 family) and terminated', async () => {
    const transport = new MemoryTransport();
    transport.failure = new SipError('ERR_SIP_TRANSPORT', 'connection refused');
    const txn = new ClientInviteTransaction('k', invite, TCP, transport, timerValues());
    const failures: SipError[] = [];
    txn.on('failed', (e) => failures.push(e));
    txn.start();
    await Promise.resolve();
    expect(failures.map((e) => e.code)).toEqual(['ERR_SIP_TRANSPORT']);
    expect(txn.state).toBe('terminated');
  });
});
