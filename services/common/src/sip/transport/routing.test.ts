import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topViaOf, type SipRequest } from '../message/message';
import { parseMessage } from '../message/parser';
import { parseVia } from '../message/via';
import { responseTarget, stampReceived } from './routing';
import type { MessageSource } from './transport';

const fixture = (name: string): SipRequest =>
  parseMessage(readFileSync(join(__dirname, '..', 'message', 'fixtures', name))) as SipRequest;
const udp = (address: string, port: number): MessageSource => ({ protocol: 'udp', address, port });

describe('stampReceived (RFC 3261 §18.2.1, RFC 3581 §4)', () => {
  it('sent-by equal to the source address, no rport → Via untouched', () => {
    const req = fixture('kam-options-00-received-options.sip');
    const before = req.headers.get('Via');
    stampReceived(req, udp('127.0.0.1', 25070));
    expect(req.headers.get('Via')).toBe(before);
  });

  it('sent-by different from the source → received added', () => {
    const req = fixture('kam-options-00-received-options.sip');
    stampReceived(req, udp('10.1.2.3', 25070));
    expect(topViaOf(req).params).toContainEqual(['received', '10.1.2.3']);
  });

  it('empty rport → rport filled with the source port and received added even when hosts match', () => {
    const req = fixture('kam-options-00-received-options.sip');
    req.headers.set('Via', 'SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKx, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKy');
    stampReceived(req, udp('127.0.0.1', 40001));
    expect(req.headers.getAll('Via')).toEqual([
      'SIP/2.0/UDP 127.0.0.1:5060;rport=40001;branch=z9hG4bKx;received=127.0.0.1',
      'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKy',
    ]);
  });
});

describe('responseTarget (RFC 3261 §18.2.2, RFC 3581 §4)', () => {
  it('UDP, rport with a value → received address and rport port', () => {
    const via = parseVia('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport=40001;received=192.0.2.7');
    expect(responseTarget(via, udp('192.0.2.7', 40001))).toEqual({
      protocol: 'udp',
      address: '192.0.2.7',
      port: 40001,
    });
  });

  it('UDP, received only → received address at the sent-by port', () => {
    const via = parseVia('SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx;received=192.0.2.7');
    expect(responseTarget(via, udp('192.0.2.7', 40001))).toEqual({ protocol: 'udp', address: '192.0.2.7', port: 5070 });
  });

  it('UDP, plain sent-by without port → sent-by at 5060', () => {
    const via = parseVia('SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx');
    expect(responseTarget(via, udp('127.0.0.1', 40001))).toEqual({ protocol: 'udp', address: '127.0.0.1', port: 5060 });
  });

  it('TCP → the connection the request came on, with received and the sent-by port to reconnect to', () => {
    const via = parseVia('SIP/2.0/TCP 10.0.0.1:25070;branch=z9hG4bKx;received=127.0.0.1');
    const source: MessageSource = { protocol: 'tcp', address: '127.0.0.1', port: 51000, connectionId: 'tcp-7' };
    expect(responseTarget(via, source)).toEqual({
      protocol: 'tcp',
      address: '127.0.0.1',
      port: 25070,
      connectionId: 'tcp-7',
    });
  });
});
