import { canonicalHeaderName, isListHeader, SipHeaders, splitHeaderList } from './headers';

describe('SipHeaders', () => {
  it('Via on one line and on two lines → the same values in order', () => {
    const one = new SipHeaders([['Via', 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2']]);
    const two = new SipHeaders([
      ['v', 'SIP/2.0/UDP a;branch=z9hG4bK1'],
      ['VIA', 'SIP/2.0/UDP b;branch=z9hG4bK2'],
    ]);
    expect(one.getAll('via')).toEqual(two.getAll('Via'));
    expect(one.get('Via')).toBe('SIP/2.0/UDP a;branch=z9hG4bK1');
  });

  it('Contact with a comma inside a quoted name and inside <> → not split there', () => {
    expect(splitHeaderList('"Smith, J" <sip:a@b;x=1,2>;q=0.5 , <sip:c@d>')).toEqual([
      '"Smith, J" <sip:a@b;x=1,2>;q=0.5',
      '<sip:c@d>',
    ]);
  });

  it('a non-list header (Subject) holding commas → one value', () => {
    const h = new SipHeaders([['Subject', 'a, b']]);
    expect(h.getAll('Subject')).toEqual(['a, b']);
    expect(isListHeader('Subject')).toBe(false);
    expect(isListHeader('m')).toBe(true);
  });

  it('set → replaces every line in place; delete → removes; prepend → before the first of its name', () => {
    const h = new SipHeaders([
      ['Via', 'x'],
      ['From', 'f'],
      ['Via', 'y'],
      ['To', 't'],
    ]);
    h.set('Via', ['a', 'b']);
    expect(h.fields().map((f) => `${f.name}:${f.value}`)).toEqual(['Via:a', 'Via:b', 'From:f', 'To:t']);
    h.prepend('To', 'first');
    expect(h.getAll('to')).toEqual(['first', 't']);
    h.delete('VIA');
    expect(h.has('Via')).toBe(false);
  });

  it('clone → independent copy', () => {
    const h = new SipHeaders([['X-A', '1']]);
    const c = h.clone().append('X-A', '2');
    expect(h.getAll('x-a')).toEqual(['1']);
    expect(c.getAll('x-a')).toEqual(['1', '2']);
  });

  it('toMap → lower-case names, list values split, custom headers kept', () => {
    const h = new SipHeaders([
      ['X-Route', 'ai:demo'],
      ['Allow', 'INVITE, BYE'],
      ['x-route', 'second'],
    ]);
    expect([...h.toMap()]).toEqual([
      ['x-route', ['ai:demo', 'second']],
      ['allow', ['INVITE', 'BYE']],
    ]);
  });

  it.each([
    ['i', 'Call-ID'],
    ['CALL-ID', 'Call-ID'],
    ['cseq', 'CSeq'],
    ['www-authenticate', 'WWW-Authenticate'],
    ['X-Custom', 'X-Custom'],
    ['r', 'Refer-To'],
  ])('canonicalHeaderName(%s) → %s', (name, canonical) => {
    expect(canonicalHeaderName(name)).toBe(canonical);
  });
});
