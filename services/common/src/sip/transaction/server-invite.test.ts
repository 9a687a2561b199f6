import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipError } from '../errors';
import type { SipRequest } from '../message/message';
import { parseMessage } from '../message/parser';
import { createResponse } from '../message/response';
import { MemoryTransport } from '../transport/memory';
import type { TransportTarget } from '../transport/transport';
import { ServerInviteTransaction } from './server-invite';
import { timerValues } from './timers';

const invite = parseMessage(
  readFileSync(join(__dirname, '..', 'message', 'fixtures', 'kam-uas-udp-00-received-invite.sip')),
) as SipRequest;
const ack = { ...invite, method: 'ACK', headers: invite.headers.clone().set('CSeq', '1 ACK') } as SipRequest;
const UDP: TransportTarget = { protocol: 'udp', address: '127.0.0.1', port: 25070 };
const TCP: TransportTarget = { protocol: 'tcp', address: '127.0.0.1', port: 40000, connectionId: 'tcp-1' };

function setup(target = UDP, timers = timerValues()): { txn: ServerInviteTransaction; transport: MemoryTransport } {
  const transport = new MemoryTransport();
  const txn = new ServerInviteTransaction(
    'k',
    invite,
    { protocol: target.protocol, address: target.address, port: target.port },
    target,
    transport,
    timers,
  );
  return { txn, transport };
}

describe('server INVITE transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  it('INVITE → 100 Trying at once, sent to the response target', () => {
    const { txn, transport } = setup();
    expect(transport.statuses()).toEqual([100]);
    expect(transport.sent[0]?.target).toEqual(UDP);
    txn.terminate();
  });

  it('retransmitted INVITE in proceeding → the latest provisional again', () => {
    const { txn, transport } = setup();
    txn.receive(invite);
    txn.respond(createResponse(invite, 180, { toTag: 'a' }));
    txn.receive(invite);
    expect(transport.statuses()).toEqual([100, 100, 180, 180]);
    txn.terminate();
  });

  it('486 over UDP, no ACK → Timer G resends at T1 doubling to T2, Timer H ends it at 64·T1 with timeout', () => {
    const { txn, transport } = setup();
    const timeout = jest.fn();
    const terminated = jest.fn();
    txn.on('timeout', timeout);
    txn.on('terminated', terminated);
    txn.respond(createResponse(invite, 486, { toTag: 'a' }));
    expect(txn.state).toBe('completed');
    const sendsAt = (ms: number): number => {
      jest.advanceTimersByTime(ms);
      return transport.statuses().filter((s) => s === 486).length;
    };
    expect(sendsAt(499)).toBe(1);
    expect(sendsAt(1)).toBe(2); // 500 ms
    expect(sendsAt(1000)).toBe(3); // 1.5 s
    expect(sendsAt(2000)).toBe(4); // 3.5 s
    expect(sendsAt(4000)).toBe(5); // 7.5 s (G capped at T2 = 4 s)
    expect(sendsAt(4000)).toBe(6); // 11.5 s
    expect(timeout).not.toHaveBeenCalled();
    jest.advanceTimersByTime(32_000 - 11_500 - 1);
    expect(txn.state).toBe('completed');
    jest.advanceTimersByTime(1);
    expect(timeout).toHaveBeenCalledTimes(1);
    expect(terminated).toHaveBeenCalledTimes(1);
    expect(txn.state).toBe('terminated');
  });

  it('486 then ACK → confirmed, retransmissions stop, Timer I (T4) ends it', () => {
    const { txn, transport } = setup();
    txn.respond(createResponse(invite, 486, { toTag: 'a' }));
    jest.advanceTimersByTime(500);
    expect(txn.receive(ack)).toBe(true);
    expect(txn.state).toBe('confirmed');
    const sent = transport.sent.length;
    txn.receive(invite);
    txn.receive(ack);
    jest.advanceTimersByTime(4999);
    expect(transport.sent.length).toBe(sent);
    expect(txn.state).toBe('confirmed');
    jest.advanceTimersByTime(1);
    expect(txn.state).toBe('terminated');
  });

  it('retransmitted INVITE in completed → the final response again', () => {
    const { txn, transport } = setup();
    txn.respond(createResponse(invite, 488, { toTag: 'a' }));
    txn.receive(invite);
    expect(transport.statuses()).toEqual([100, 488, 488]);
    txn.terminate();
  });

  it('2xx → accepted: INVITE retransmissions absorbed, TU 2xx resends pass, ACK goes to the TU, Timer L (64·T1) ends it', () => {
    const { txn, transport } = setup();
    const ok = createResponse(invite, 200, { toTag: 'a', body: 'v=0\r\n' });
    txn.respond(ok);
    expect(txn.state).toBe('accepted');
    txn.receive(invite);
    expect(transport.statuses()).toEqual([100, 200]);
    txn.respond(ok);
    expect(transport.statuses()).toEqual([100, 200, 200]);
    expect(txn.receive(ack)).toBe(false);
    jest.advanceTimersByTime(31_999);
    expect(txn.state).toBe('accepted');
    jest.advanceTimersByTime(1);
    expect(txn.state).toBe('terminated');
  });

  it('486 over TCP → no Timer G; ACK → terminated at once (Timer I = 0)', () => {
    const { txn, transport } = setup(TCP);
    txn.respond(createResponse(invite, 486, { toTag: 'a' }));
    jest.advanceTimersByTime(10_000);
    expect(transport.statuses()).toEqual([100, 486]);
    txn.receive(ack);
    expect(txn.state).toBe('terminated');
  });

  it('486 over TCP, no ACK → Timer H still ends it at 64·T1', () => {
    const { txn } = setup(TCP);
    const timeout = jest.fn();
    txn.on('timeout', timeout);
    txn.respond(createResponse(invite, 486, { toTag: 'a' }));
    jest.advanceTimersByTime(32_000);
    expect(timeout).toHaveBeenCalled();
    expect(txn.state).toBe('terminated');
  });

  it('T1 overridden to 100 ms → G first fires at 100 ms and H at 6.4 s', () => {
    const { txn, transport } = setup(UDP, timerValues({ t1: 100 }));
    txn.respond(createResponse(invite, 500));
    jest.advanceTimersByTime(100);
    expect(transport.statuses()).toEqual([100, 500, 500]);
    jest.advanceTimersByTime(6300);
    expect(txn.state).toBe('terminated');
  });

  it('transport failure while sending → terminated with transportError', async () => {
    const { txn, transport } = setup();
    const onError = jest.fn();
    txn.on('transportError', onError);
    transport.failure = new SipError('ERR_SIP_TRANSPORT', 'unreachable');
    txn.respond(createResponse(invite, 180, { toTag: 'a' }));
    await Promise.resolve();
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'ERR_SIP_TRANSPORT' }));
    expect(txn.state).toBe('terminated');
  });

  it('responses after terminated → ignored', () => {
    const { txn, transport } = setup();
    txn.terminate();
    txn.respond(createResponse(invite, 200, { toTag: 'a' }));
    expect(transport.statuses()).toEqual([100]);
  });
});
