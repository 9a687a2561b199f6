import { SmsReassembler, parsePartHeader, type SmsPart } from './reassembly';

const FROM = '+14155550123';
const TO = '+442079460958';
const MIN = 60_000;

function part(ref: number, seq: number, total: number, text = `p${seq}`, over: Partial<SmsPart> = {}): SmsPart {
  return { from: FROM, to: TO, ref, seq, total, text, id: `id-${ref}-${seq}`, ...over };
}

describe('parsePartHeader', () => {
  test.each([
    ['ref=1; seq=1; total=2', { ref: 1, seq: 1, total: 2 }],
    ['ref=65535;seq=255;total=255', { ref: 65535, seq: 255, total: 255 }],
    ['  total=3 ;REF=42;  Seq=2  ', { ref: 42, seq: 2, total: 3 }],
    ['ref=7; seq=2; total=2; v=1', { ref: 7, seq: 2, total: 2 }],
    ['ref=7; seq=2; total=2;', { ref: 7, seq: 2, total: 2 }],
  ])('%j → %j', (value, expected) => {
    expect(parsePartHeader(value)).toEqual(expected);
  });

  test.each([
    ['', 'empty'],
    ['ref=1; seq=1', 'no total'],
    ['ref=1; seq=1; total=1', 'total 1 (single-part messages carry no header)'],
    ['ref=1; seq=3; total=2', 'seq > total'],
    ['ref=1; seq=0; total=2', 'seq 0'],
    ['ref=0; seq=1; total=2', 'ref 0'],
    ['ref=65536; seq=1; total=2', 'ref above 16 bits'],
    ['ref=1; seq=1; total=256', 'total above 255'],
    ['ref=1; seq=1; total=-2', 'negative'],
    ['ref=1; seq=1.0; total=2', 'not an integer'],
    ['ref=0x10; seq=1; total=2', 'hex'],
    ['ref=; seq=1; total=2', 'empty value'],
    ['ref=1; ref=2; seq=1; total=2', 'repeated parameter'],
    ['ref=1; seq=1; total=2; junk', 'parameter without value'],
    ['ref=1 seq=1 total=2', 'no separators'],
  ])('%j → null (%s)', (value) => {
    expect(parsePartHeader(value)).toBeNull();
  });

  test('is also reachable as SmsReassembler.parsePartHeader', () => {
    expect(SmsReassembler.parsePartHeader('ref=9;seq=1;total=2')).toEqual({ ref: 9, seq: 1, total: 2 });
  });
});

describe('SmsReassembler.add', () => {
  test('parts in order → complete on the last, text and ids in seq order', () => {
    const r = new SmsReassembler();
    expect(r.add(part(5, 1, 3, 'Hello, '), 0)).toEqual({ complete: false });
    expect(r.add(part(5, 2, 3, 'wor'), 1)).toEqual({ complete: false });
    expect(r.add(part(5, 3, 3, 'ld!'), 2)).toEqual({
      complete: true,
      text: 'Hello, world!',
      ids: ['id-5-1', 'id-5-2', 'id-5-3'],
    });
    expect(r.size).toBe(0);
  });

  test('parts out of order (3, 1, 2) → joined in seq order', () => {
    const r = new SmsReassembler();
    r.add(part(5, 3, 3, 'C'), 0);
    r.add(part(5, 1, 3, 'A'), 0);
    expect(r.add(part(5, 2, 3, 'B'), 0)).toEqual({ complete: true, text: 'ABC', ids: ['id-5-1', 'id-5-2', 'id-5-3'] });
  });

  test('a duplicate seq is ignored, the first copy wins', () => {
    const r = new SmsReassembler();
    r.add(part(5, 1, 2, 'first', { id: 'a' }), 0);
    expect(r.add(part(5, 1, 2, 'second', { id: 'b' }), 1)).toEqual({ complete: false });
    expect(r.add(part(5, 2, 2, '!', { id: 'c' }), 2)).toEqual({ complete: true, text: 'first!', ids: ['a', 'c'] });
  });

  test('groups are keyed by (from, to, ref): same ref from another sender or to another number stays apart', () => {
    const r = new SmsReassembler();
    r.add(part(5, 1, 2, 'A'), 0);
    r.add(part(5, 1, 2, 'X', { from: '+15550001111' }), 0);
    r.add(part(5, 1, 2, 'Y', { to: '+15550002222' }), 0);
    r.add(part(6, 1, 2, 'Z'), 0);
    expect(r.size).toBe(4);
    expect(r.add(part(5, 2, 2, 'B'), 0)).toMatchObject({ complete: true, text: 'AB' });
    expect(r.add(part(5, 2, 2, 'x', { from: '+15550001111' }), 0)).toMatchObject({ complete: true, text: 'Xx' });
    expect(r.size).toBe(2);
  });

  test('255 parts in reverse order → complete with 255 ids', () => {
    const r = new SmsReassembler();
    for (let seq = 255; seq >= 2; seq--) expect(r.add(part(1, seq, 255, `${seq},`), 0)).toEqual({ complete: false });
    const done = r.add(part(1, 1, 255, '1,'), 0);
    if (!done.complete) throw new Error('expected complete');
    expect(done.ids).toHaveLength(255);
    expect(done.text.split(',').slice(0, 3)).toEqual(['1', '2', '3']);
  });

  test('after completion the same ref starts a fresh group (the sender reused it)', () => {
    const r = new SmsReassembler();
    r.add(part(5, 1, 2, 'a'), 0);
    r.add(part(5, 2, 2, 'b'), 0);
    expect(r.add(part(5, 1, 2, 'c'), 1)).toEqual({ complete: false });
    expect(r.add(part(5, 2, 2, 'd'), 1)).toMatchObject({ complete: true, text: 'cd' });
  });

  test('same key with a different total → the old group is superseded and reported by expired()', () => {
    const r = new SmsReassembler();
    r.add(part(5, 1, 3, 'old'), 0);
    expect(r.add(part(5, 1, 2, 'new1'), 10)).toEqual({ complete: false });
    expect(r.expired(20)).toEqual([
      { from: FROM, to: TO, ref: 5, total: 3, reason: 'superseded', parts: [{ seq: 1, text: 'old', id: 'id-5-1' }] },
    ]);
    expect(r.add(part(5, 2, 2, 'new2'), 30)).toMatchObject({ complete: true, text: 'new1new2' });
  });

  test.each([
    [{ ref: 0, seq: 1, total: 2 }],
    [{ ref: 65536, seq: 1, total: 2 }],
    [{ ref: 1, seq: 1, total: 1 }],
    [{ ref: 1, seq: 3, total: 2 }],
    [{ ref: 1, seq: 1.5, total: 2 }],
  ])('%j → TypeError (the header parser never yields it)', (header) => {
    expect(() => new SmsReassembler().add(part(header.ref, header.seq, header.total), 0)).toThrow(TypeError);
  });
});

describe('SmsReassembler.expired', () => {
  test('default timeout is 10 minutes from the first part: 9:59.999 kept, 10:00 returned and dropped', () => {
    const r = new SmsReassembler();
    expect(r.timeoutMs).toBe(10 * MIN);
    r.add(part(5, 1, 3, 'A'), 1000);
    r.add(part(5, 3, 3, 'C'), 1000 + 9 * MIN);
    expect(r.expired(1000 + 10 * MIN - 1)).toEqual([]);
    expect(r.expired(1000 + 10 * MIN)).toEqual([
      {
        from: FROM,
        to: TO,
        ref: 5,
        total: 3,
        reason: 'timeout',
        parts: [
          { seq: 1, text: 'A', id: 'id-5-1' },
          { seq: 3, text: 'C', id: 'id-5-3' },
        ],
      },
    ]);
    expect(r.size).toBe(0);
    expect(r.expired(1000 + 20 * MIN)).toEqual([]);
  });

  test('a late part does not extend the deadline; after expiry it starts a new group', () => {
    const r = new SmsReassembler({ timeoutMs: 1000 });
    r.add(part(5, 1, 2, 'A'), 0);
    r.add(part(5, 1, 2, 'A'), 900);
    expect(r.expired(1000)).toHaveLength(1);
    expect(r.add(part(5, 2, 2, 'B'), 1001)).toEqual({ complete: false });
    expect(r.size).toBe(1);
  });

  test('only groups past the timeout are returned, in first-part order', () => {
    const r = new SmsReassembler({ timeoutMs: 1000 });
    r.add(part(1, 1, 2), 0);
    r.add(part(2, 1, 2), 100);
    r.add(part(3, 1, 2), 600);
    expect(r.expired(1100).map((g) => g.ref)).toEqual([1, 2]);
    expect(r.size).toBe(1);
  });

  test('parts replayed out of order after a restart keep the earliest time as the group start', () => {
    const r = new SmsReassembler({ timeoutMs: 1000 });
    r.add(part(5, 2, 3), 500);
    r.add(part(5, 1, 3), 100);
    expect(r.expired(1099)).toEqual([]);
    expect(r.expired(1100).map((g) => g.parts.map((p) => p.seq))).toEqual([[1, 2]]);
  });
});

describe('SmsReassembler bounded memory', () => {
  test('maxGroups reached → the oldest group is evicted and returned by the next expired()', () => {
    const r = new SmsReassembler({ maxGroups: 3 });
    r.add(part(1, 1, 2, 'one'), 0);
    r.add(part(2, 1, 2), 1);
    r.add(part(3, 1, 2), 2);
    expect(r.size).toBe(3);
    r.add(part(4, 1, 2), 3);
    expect(r.size).toBe(3);
    expect(r.expired(4)).toEqual([
      { from: FROM, to: TO, ref: 1, total: 2, reason: 'evicted', parts: [{ seq: 1, text: 'one', id: 'id-1-1' }] },
    ]);
    expect(r.expired(5)).toEqual([]);
    expect(r.add(part(2, 2, 2), 6)).toMatchObject({ complete: true });
  });

  test('a part for a group already held does not evict anything', () => {
    const r = new SmsReassembler({ maxGroups: 2 });
    r.add(part(1, 1, 3), 0);
    r.add(part(2, 1, 3), 0);
    r.add(part(1, 2, 3), 0);
    expect(r.expired(1)).toEqual([]);
    expect(r.size).toBe(2);
  });

  test('evicted groups come before timed-out ones in expired()', () => {
    const r = new SmsReassembler({ maxGroups: 2, timeoutMs: 1000 });
    r.add(part(1, 1, 2), 0);
    r.add(part(2, 1, 2), 10);
    r.add(part(3, 1, 2), 20);
    expect(r.expired(5000).map((g) => [g.ref, g.reason])).toEqual([
      [1, 'evicted'],
      [2, 'timeout'],
      [3, 'timeout'],
    ]);
  });

  test('given-up groups waiting for expired() are capped at maxGroups; the excess is counted', () => {
    const r = new SmsReassembler({ maxGroups: 2 });
    for (let ref = 1; ref <= 6; ref++) r.add(part(ref, 1, 2), ref);
    expect(r.droppedGroups).toBe(2);
    expect(r.expired(10).map((g) => g.ref)).toEqual([3, 4]);
    expect(r.size).toBe(2);
  });

  test('options are validated', () => {
    expect(() => new SmsReassembler({ maxGroups: 0 })).toThrow(TypeError);
    expect(() => new SmsReassembler({ maxGroups: 1.5 })).toThrow(TypeError);
    expect(() => new SmsReassembler({ timeoutMs: 0 })).toThrow(TypeError);
    expect(new SmsReassembler().maxGroups).toBe(10_000);
  });
});
