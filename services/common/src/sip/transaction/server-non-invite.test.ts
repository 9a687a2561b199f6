import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SipRequest } from '../message/message';
import { parseMessage } from '../message/parser';
import { createResponse } from '../message/response';
import { MemoryTransport } from '../transport/memory';
import type { TransportTarget } from '../transport/transport';
import { ServerNonInviteTransaction } from './server-non-invite';
import { timerValues } from './timers';

const bye = parseMessage(
  readFileSync(join(__dirname, '..', 'message', 'fixtures', 'kam-uas-udp-09-received-bye.sip')),
) as SipRequest;
const UDP: TransportTarget = { protocol: 'udp', address: '127.0.0.1', port: 25070 };
const TCP: TransportTarget = { protocol: 'tcp', address: '127.0.0.1', port: 40000, connectionId: 'tcp-1' };

function setup(target = UDP): { txn: ServerNonInviteTransaction; transport: MemoryTransport } {
  const transport = new MemoryTransport();
  const txn = new ServerNonInviteTransaction(
    'k',
    bye,
    { protocol: target.protocol, address: target.address, port: target.port },
    target,
    transport,
    timerValues(),
  );
  return { txn, transport };
}

describe('server non-INVITE transaction (RFC 3261 §17.2.2)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  it('retransmission while trying → absorbed, nothing sent', () => {
    const { txn, transport } = setup();
    expect(txn.receive(bye)).toBe(true);
    expect(transport.sent).toHaveLength(0);
    txn.terminate();
  });

  it('200 over UDP → completed; retransmission → 200 again; Timer J (64·T1) ends it', () => {
    const { txn, transport } = setup();
    txn.respond(createResponse(bye, 200));
    expect(txn.state).toBe('completed');
    txn.receive(bye);
    expect(transport.statuses()).toEqual([200, 200]);
    jest.advanceTimersByTime(31_999);
    expect(txn.state).toBe('completed');
    jest.advanceTimersByTime(1);
    expect(txn.state).toBe('terminated');
  });

  it('provisional then retransmission → the provisional again; then the final', () => {
    const { txn, transport } = setup();
    txn.respond(createResponse(bye, 100));
    expect(txn.state).toBe('proceeding');
    txn.receive(bye);
    txn.respond(createResponse(bye, 200));
    expect(transport.statuses()).toEqual([100, 100, 200]);
    txn.terminate();
  });

  it('200 over TCP → terminated at once (Timer J = 0)', () => {
    const { txn } = setup(TCP);
    txn.respond(createResponse(bye, 200));
    expect(txn.state).toBe('terminated');
  });

  it('a second final response → ignored', () => {
    const { txn, transport } = setup();
    txn.respond(createResponse(bye, 200));
    txn.respond(createResponse(bye, 500));
    expect(transport.statuses()).toEqual([200]);
    txn.terminate();
  });
});
