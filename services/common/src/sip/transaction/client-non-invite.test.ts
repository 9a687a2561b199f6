import { SipError } from '../errors';
import { SipHeaders } from '../message/headers';
import type { SipRequest, SipResponse } from '../message/message';
import { createResponse } from '../message/response';
import { MemoryTransport } from '../transport/memory';
import type { TransportTarget } from '../transport/transport';
import { ClientNonInviteTransaction } from './client-non-invite';
import { timerValues } from './timers';

const bye: SipRequest = {
  type: 'request',
  method: 'BYE',
  uri: 'sip:alice@127.0.0.1:25063',
  headers: new SipHeaders([
    ['Via', 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKclient1;rport'],
    ['From', '<sip:gw@127.0.0.1>;tag=gw1'],
    ['To', '<sip:alice@127.0.0.1>;tag=al1'],
    ['Call-ID', 'c1'],
    ['CSeq', '7 BYE'],
    ['Max-Forwards', '70'],
  ]),
  body: Buffer.alloc(0),
};
const UDP: TransportTarget = { protocol: 'udp', address: '127.0.0.1', port: 25070 };
const TCP: TransportTarget = { protocol: 'tcp', address: '127.0.0.1', port: 25070 };

function setup(target = UDP): {
  txn: ClientNonInviteTransaction;
  transport: MemoryTransport;
  responses: SipResponse[];
  failures: SipError[];
} {
  const transport = new MemoryTransport();
  const txn = new ClientNonInviteTransaction('k', bye, target, transport, timerValues());
  const responses: SipResponse[] = [];
  const failures: SipError[] = [];
  txn.on('response', (r) => responses.push(r));
  txn.on('failed', (e) => failures.push(e));
  txn.start();
  return { txn, transport, responses, failures };
}

describe('client non-INVITE transaction (RFC 3261 §17.1.2)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  it('no answer over UDP → Timer E resends at 0.5, 1.5, 3.5, 7.5, 11.5 s…; Timer F fails it at 64·T1 with 408', () => {
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
    expect(sendsAt(4000)).toBe(6);
    expect(failures).toHaveLength(0);
    jest.advanceTimersByTime(32_000 - 11_500);
    expect(failures).toEqual([expect.objectContaining({ code: 'ERR_SIP_TIMEOUT', status: 408 })]);
    expect(txn.state).toBe('terminated');
  });

  it('1xx → proceeding: the TU sees it and Timer E resends every T2', () => {
    const { txn, transport, responses } = setup();
    txn.receive(createResponse(bye, 100));
    expect(txn.state).toBe('proceeding');
    expect(responses.map((r) => r.status)).toEqual([100]);
    jest.advanceTimersByTime(500);
    expect(transport.methods()).toHaveLength(2);
    jest.advanceTimersByTime(3999);
    expect(transport.methods()).toHaveLength(2);
    jest.advanceTimersByTime(1);
    expect(transport.methods()).toHaveLength(3);
    txn.terminate();
  });

  it('200 over UDP → completed: reported once, retransmissions stop, Timer K (T4) ends it', () => {
    const { txn, transport, responses, failures } = setup();
    txn.receive(createResponse(bye, 200));
    txn.receive(createResponse(bye, 200));
    expect(responses.map((r) => r.status)).toEqual([200]);
    jest.advanceTimersByTime(4999);
    expect(transport.methods()).toHaveLength(1);
    expect(txn.state).toBe('completed');
    jest.advanceTimersByTime(1);
    expect(txn.state).toBe('terminated');
    expect(failures).toHaveLength(0);
  });

  it('over TCP → no Timer E; a final response ends it at once (K = 0)', () => {
    const { txn, transport } = setup(TCP);
    jest.advanceTimersByTime(10_000);
    expect(transport.methods()).toHaveLength(1);
    txn.receive(createResponse(bye, 481));
    expect(txn.state).toBe('terminated');
  });

  it('over TCP, no answer → Timer F still fails it at 64·T1', () => {
    const { failures } = setup(TCP);
    jest.advanceTimersByTime(32_000);
    expect(failures.map((f) => f.status)).toEqual([408]);
  });

  it('transport failure → failed with ERR_SIP_TRANSPORT', async () => {
    const transport = new MemoryTransport();
    transport.failure = new SipError('ERR_SIP_TRANSPORT', 'refused', 503);
    const txn = new ClientNonInviteTransaction('k', bye, TCP, transport, timerValues());
    const failed = new Promise<SipError>((resolve) => txn.once('failed', resolve));
    txn.start();
    await expect(failed).resolves.toMatchObject({ code: 'ERR_SIP_TRANSPORT' });
    expect(txn.state).toBe('terminated');
  });
});
