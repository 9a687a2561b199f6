import { sipfragStatus } from './sipfrag';

describe('sipfragStatus (RFC 3420, RFC 3515 §2.4.5)', () => {
  it.each([
    ['SIP/2.0 100 Trying\r\n', 100],
    ['SIP/2.0 200 OK', 200],
    ['SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n', 486],
    ['sip/2.0 503 Service Unavailable', 503],
  ])('%j → %i', (body, status) => {
    expect(sipfragStatus(body)).toBe(status);
  });

  it('no status line → null', () => {
    expect(sipfragStatus('INVITE sip:a@b SIP/2.0')).toBeNull();
  });
});
