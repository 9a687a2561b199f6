import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessage } from '../../../common/src/sip/message/parser';
import { calleeBye, type UacRequest } from './dialog-bye';
import type { RawDialog } from './dialogs';

/**
 * Fixtures from one call between two users on the test stack (Kamailio 5.6.3, SIPp
 * caller and callee): the `dlg.list` entry once the call was confirmed, and the BYE the
 * callee received after `bridge.t_uac_send` with what calleeBye built from it.
 */
const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8');
const confirmed = (): RawDialog =>
  (JSON.parse(fixture('dlg-list-confirmed.json')) as { reply: { result: RawDialog[] } }).reply.result[0]!;

function built(dialog: RawDialog): UacRequest {
  const bye = calleeBye(dialog);
  if (!bye.ok) throw new Error(`no BYE: ${bye.reason}`);
  return bye.request;
}

function lines(headers: string): string[] {
  expect(headers.endsWith('\r\n')).toBe(true);
  return headers.slice(0, -2).split('\r\n');
}

describe('the callee BYE built from a dlg.list entry', () => {
  test('a confirmed call between users → the BYE the callee received: its contact, the dialog tags, the caller CSeq + 1, Kamailio’s socket', () => {
    const request = built(confirmed());
    expect(request).toEqual({
      method: 'BYE',
      requestUri: 'sip:127.0.0.1:39106;transport=UDP',
      nextHop: '',
      socket: 'udp:127.0.0.1:25060',
      headers:
        'Max-Forwards: 70\r\n' +
        'From: <sip:u20836xmxcwhu3b1@127.0.0.1>;tag=20887SIPpTag001\r\n' +
        'To: <sip:u20836xmxcwhu752@127.0.0.1>;tag=20884SIPpTag011\r\n' +
        'Call-ID: call-2849e292-baeb-4704-859d-d4fe04e1a66a-1\r\n' +
        'CSeq: 3 BYE\r\n',
    });

    const received = parseMessage(Buffer.from(fixture('callee-bye-received.sip')));
    if (received.type !== 'request') throw new Error('the fixture is not a request');
    expect(received.method).toBe('BYE');
    expect(received.uri).toBe(request.requestUri);
    for (const line of lines(request.headers)) {
      const [name, value] = line.split(': ') as [string, string];
      expect([name, received.headers.get(name)]).toEqual([name, value]);
    }
    expect(received.headers.getAll('From')).toHaveLength(1);
    expect(received.headers.getAll('Route')).toEqual([]);
  });

  test('a call answered but not yet ACKed → a BYE too (the dialog module BYEs both states)', () => {
    expect(calleeBye({ ...confirmed(), state: 3 }).ok).toBe(true);
  });

  test.each([
    [1, 'unconfirmed'],
    [2, 'early'],
    [5, 'deleted'],
  ])('a dialog in state %i (%s) → no BYE', (state) => {
    expect(calleeBye({ ...confirmed(), state })).toEqual({ ok: false, reason: expect.stringMatching(/state/) });
  });

  test('PRACK during setup (iflags bit 5) → the CSeq jumps 80 further, as the module’s own BYE does', () => {
    const request = built({ ...confirmed(), iflags: 7 | (1 << 5) });
    expect(lines(request.headers)).toContain('CSeq: 83 BYE');
  });

  test('a loose route set → Route in order, sent to the first route, the contact stays the Request-URI (RFC 3261 §12.2.1.1)', () => {
    const d = confirmed();
    const request = built({
      ...d,
      callee: {
        ...d.callee,
        route_set: '<sip:10.0.0.7;lr;ftag=20887SIPpTag001>,<sip:edge.example.net:5070;transport=tcp;lr>',
      },
    });
    expect(request.requestUri).toBe('sip:127.0.0.1:39106;transport=UDP');
    expect(request.nextHop).toBe('sip:10.0.0.7;lr;ftag=20887SIPpTag001');
    expect(lines(request.headers).filter((l) => l.startsWith('Route:'))).toEqual([
      'Route: <sip:10.0.0.7;lr;ftag=20887SIPpTag001>',
      'Route: <sip:edge.example.net:5070;transport=tcp;lr>',
    ]);
  });

  test('a strict first router → its URI is the Request-URI and the contact goes last in Route (§12.2.1.1)', () => {
    const d = confirmed();
    const request = built({
      ...d,
      callee: { ...d.callee, route_set: '<sip:old.example.net;method=INVITE>,<sip:10.0.0.7;lr>' },
    });
    expect(request.requestUri).toBe('sip:old.example.net');
    expect(request.nextHop).toBe('');
    expect(lines(request.headers).filter((l) => l.startsWith('Route:'))).toEqual([
      'Route: <sip:10.0.0.7;lr>',
      'Route: <sip:127.0.0.1:39106;transport=UDP>',
    ]);
  });

  test('a contact set_contact_alias() marked → sent to the alias address, the Request-URI without it', () => {
    const d = confirmed();
    const tcp = built({
      ...d,
      callee: { ...d.callee, contact: 'sip:bob@192.168.1.20:5060;alias=203.0.113.9~40112~2;ob' },
    });
    expect(tcp.requestUri).toBe('sip:bob@192.168.1.20:5060;ob');
    expect(tcp.nextHop).toBe('sip:203.0.113.9:40112;transport=tcp');
    const udp = built({ ...d, callee: { ...d.callee, contact: 'sip:bob@192.168.1.20;alias=203.0.113.9~5062~1' } });
    expect(udp.nextHop).toBe('sip:203.0.113.9:5062');
  });

  test.each<[string, (d: RawDialog) => RawDialog]>([
    ['no callee tag', (d) => ({ ...d, callee: { ...d.callee, tag: '' } })],
    ['no callee contact', (d) => ({ ...d, callee: { ...d.callee, contact: '' } })],
    ['a tag that would inject a header', (d) => ({ ...d, caller: { ...d.caller, tag: 'x\r\nContact: <sip:evil>' } })],
    ['a caller CSeq that is no number', (d) => ({ ...d, caller: { ...d.caller, cseq: '2x' } })],
    ['a CSeq past 2**31 - 1 (§8.1.1.5)', (d) => ({ ...d, caller: { ...d.caller, cseq: '2147483647' } })],
    [
      'a route set tm would rewrite ("!!")',
      (d) => ({ ...d, callee: { ...d.callee, route_set: '<sip:a!!b@10.0.0.7;lr>' } }),
    ],
    ['a route that is no SIP URI', (d) => ({ ...d, callee: { ...d.callee, route_set: '<http://10.0.0.7>' } })],
  ])('%s → no BYE, and the reason', (_, change) => {
    expect(calleeBye(change(confirmed()))).toEqual({ ok: false, reason: expect.any(String) });
  });
});
