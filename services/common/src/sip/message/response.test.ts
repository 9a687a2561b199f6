import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toTagOf, type SipRequest } from './message';
import { parseMessage } from './parser';
import { createResponse, reasonPhrase } from './response';

const invite = parseMessage(
  readFileSync(join(__dirname, 'fixtures', 'kam-uas-tcp-00-received-invite.sip')),
) as SipRequest;

describe('createResponse (RFC 3261 §8.2.6)', () => {
  it('180 to a Kamailio INVITE → Vias in order, From/Call-ID/CSeq copied, To tagged', () => {
    const res = createResponse(invite, 180, { toTag: 'gw1' });
    expect(res.headers.getAll('Via')).toEqual(invite.headers.getAll('Via'));
    for (const name of ['From', 'Call-ID', 'CSeq']) expect(res.headers.get(name)).toBe(invite.headers.get(name));
    expect(toTagOf(res)).toBe('gw1');
    expect(res.reason).toBe('Ringing');
  });

  it('100 → no To tag, Timestamp copied (§8.2.6.1)', () => {
    const req = { ...invite, headers: invite.headers.clone().append('Timestamp', '54') };
    const res = createResponse(req, 100, { toTag: 'gw1' });
    expect(toTagOf(res)).toBeNull();
    expect(res.headers.get('Timestamp')).toBe('54');
  });

  it('request already carrying a To tag → tag kept, not doubled', () => {
    const req = { ...invite, headers: invite.headers.clone().set('To', '<sip:a@b>;tag=theirs') };
    expect(createResponse(req, 200, { toTag: 'mine' }).headers.get('To')).toBe('<sip:a@b>;tag=theirs');
  });

  it('body → Content-Type defaults to application/sdp', () => {
    const res = createResponse(invite, 200, { body: 'v=0\r\n' });
    expect(res.headers.get('Content-Type')).toBe('application/sdp');
    expect(res.body.toString()).toBe('v=0\r\n');
  });

  it('unknown status → the class phrase', () => {
    expect(reasonPhrase(499)).toBe('Bad Request');
    expect(reasonPhrase(487)).toBe('Request Terminated');
  });
});
