import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipError } from '../errors';
import {
  callIdOf,
  cseqOf,
  fromOf,
  sdpOf,
  toTagOf,
  topViaOf,
  validateMessage,
  type SipMessage,
  type SipRequest,
} from './message';
import { isKeepAlive, parseMessage, StreamFramer } from './parser';
import { serializeMessage } from './serializer';
import { parseVia } from './via';

const FIXTURES = join(__dirname, 'fixtures');
const fixtureNames = readdirSync(FIXTURES).filter((f) => f.endsWith('.sip'));
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** The same message as plain data, for deep comparison. */
function shape(msg: SipMessage): unknown {
  return {
    start: msg.type === 'request' ? [msg.method, msg.uri] : [msg.status, msg.reason],
    fields: msg.headers.fields().map((f) => [f.name, f.value]),
    body: msg.body.toString('base64'),
  };
}

/** SIPp pads Content-Length with spaces; we write one. Nothing else may differ. */
function normaliseLength(raw: Buffer): string {
  return raw.toString('utf8').replace(/^Content-Length:\s+/m, 'Content-Length: ');
}

describe('parseMessage on real SIPp and Kamailio captures', () => {
  it('the fixture set is not empty', () => {
    expect(fixtureNames.length).toBeGreaterThan(50);
  });

  it.each(fixtureNames)('%s → parses, validates and writes back byte for byte', (name) => {
    const raw = fixture(name);
    const msg = parseMessage(raw);
    expect(() => validateMessage(msg)).not.toThrow();
    const written = serializeMessage(msg);
    expect(written.toString('utf8')).toBe(normaliseLength(raw));
    expect(shape(parseMessage(written))).toEqual(shape(msg));
  });

  it.each(fixtureNames)('%s → every Via, Contact, Record-Route and From/To value is readable', (name) => {
    const msg = parseMessage(fixture(name));
    for (const via of msg.headers.getAll('Via')) expect(parseVia(via).protocol).toBe('SIP/2.0');
    expect(fromOf(msg).params.length).toBeGreaterThan(0);
    expect(cseqOf(msg).seq).toBeGreaterThan(0);
  });
});

describe('parseMessage details', () => {
  it('Kamailio INVITE over TCP → two Record-Route values, received/rport on the caller Via, body of Content-Length bytes', () => {
    const msg = parseMessage(fixture('kam-uas-tcp-00-received-invite.sip')) as SipRequest;
    expect(msg.type).toBe('request');
    expect(msg.method).toBe('INVITE');
    expect(msg.uri).toBe('sip:tcp@127.0.0.1:25070');
    expect(msg.headers.getAll('Record-Route')).toHaveLength(2);
    expect(msg.headers.getAll('Record-Route')[0]).toMatch(/transport=tcp;r2=on;lr/);
    const vias = msg.headers.getAll('Via').map(parseVia);
    expect(vias.map((v) => v.transport)).toEqual(['TCP', 'UDP']);
    expect(vias[1]?.params).toEqual(
      expect.arrayContaining([
        ['received', '127.0.0.1'],
        ['rport', '25064'],
      ]),
    );
    expect(msg.headers.get('X-Route')).toBe('ai:demo-echo');
    expect(fromOf(msg).displayName).toBe('Alice, A.');
    expect(sdpOf(msg)).toMatch(/^v=0\r\n[\s\S]*a=sendrecv\r\n$/);
    expect(msg.body.length).toBe(Number(msg.headers.get('Content-Length')));
  });

  it('a response with two Vias on one line → getAll splits them in order', () => {
    const msg = parseMessage(fixture('kam-uas-udp-02-sent-200.sip'));
    const vias = msg.headers.getAll('Via');
    expect(vias).toHaveLength(2);
    expect(topViaOf(msg).host).toBe('127.0.0.1');
    expect(topViaOf(msg).port).toBe(25070);
    expect(msg.headers.fields().filter((f) => f.name === 'Via')).toHaveLength(1);
    expect(toTagOf(msg)).toMatch(/SIPpTag/);
  });

  it('compact header names (i f t v m l c k s e) → long names', () => {
    const raw = [
      'INVITE sip:bob@example.com SIP/2.0',
      'v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1',
      'f: <sip:alice@example.com>;tag=1',
      't: <sip:bob@example.com>',
      'i: abc@10.0.0.1',
      'CSeq: 1 INVITE',
      'm: <sip:alice@10.0.0.1>',
      'k: timer',
      's: hello',
      'e: gzip',
      'c: application/sdp',
      'l: 3',
      '',
      'v=0',
    ].join('\r\n');
    const msg = parseMessage(Buffer.from(raw));
    expect(msg.headers.fields().map((f) => f.name)).toEqual([
      'Via',
      'From',
      'To',
      'Call-ID',
      'CSeq',
      'Contact',
      'Supported',
      'Subject',
      'Content-Encoding',
      'Content-Type',
      'Content-Length',
    ]);
    expect(callIdOf(msg)).toBe('abc@10.0.0.1');
    expect(msg.body.toString()).toBe('v=0');
  });

  it('folded header lines and bare LF line ends → one value', () => {
    const raw =
      'OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nSubject: one\n  two\nFrom: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 2 OPTIONS\n\n';
    const msg = parseMessage(Buffer.from(raw));
    expect(msg.headers.get('Subject')).toBe('one two');
    expect(() => validateMessage(msg)).not.toThrow();
  });

  it('leading CRLFs before the start line → ignored (§7.5)', () => {
    const raw = fixture('kam-options-00-received-options.sip');
    const msg = parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), raw]));
    expect(msg.type === 'request' && msg.method).toBe('OPTIONS');
  });

  it('datagram longer than Content-Length → body cut to Content-Length (§18.3)', () => {
    const raw = 'MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 2\r\n\r\nhello';
    expect(parseMessage(Buffer.from(raw)).body.toString()).toBe('he');
  });

  it('datagram shorter than Content-Length → parse error (§18.3: discard)', () => {
    const raw = 'MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 20\r\n\r\nhello';
    expect(() => parseMessage(Buffer.from(raw))).toThrow(expect.objectContaining({ code: 'ERR_SIP_PARSE' }));
  });

  it('datagram without Content-Length → body runs to the end of the datagram', () => {
    const raw = 'INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\nSignal=1\r\n';
    expect(parseMessage(Buffer.from(raw)).body.toString()).toBe('Signal=1\r\n');
  });

  it('multi-byte UTF-8 body → Content-Length counts bytes', () => {
    const raw =
      'MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhé!!';
    const msg = parseMessage(Buffer.from(raw));
    expect(msg.body.toString()).toBe('hé!!');
    expect(serializeMessage(msg).toString()).toContain('Content-Length: 5\r\n');
  });

  it('status line with an empty reason phrase → reason ""', () => {
    const msg = parseMessage(Buffer.from('SIP/2.0 200 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n'));
    expect(msg.type === 'response' && [msg.status, msg.reason]).toEqual([200, '']);
  });

  it.each([
    ['garbage start line', 'HELLO\r\n\r\n', 400],
    ['SIP/3.0 request', 'INVITE sip:a@b SIP/3.0\r\n\r\n', 505],
    ['status out of range', 'SIP/2.0 99 Odd\r\n\r\n', 400],
    ['header line without colon', 'INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n', 400],
    ['two different Content-Lengths', 'INVITE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab', 400],
  ])('%s → SipParseError with status %i', (_, raw, status) => {
    expect(() => parseMessage(Buffer.from(raw))).toThrow(expect.objectContaining({ code: 'ERR_SIP_PARSE', status }));
  });

  it.each([
    ['no Call-ID', 'Call-ID'],
    ['no CSeq', 'CSeq'],
    ['no Via', 'Via'],
  ])('request with %s → validateMessage throws', (_, header) => {
    const msg = parseMessage(fixture('kam-options-00-received-options.sip'));
    msg.headers.delete(header);
    expect(() => validateMessage(msg)).toThrow(expect.objectContaining({ code: 'ERR_SIP_PARSE' }));
  });

  it('CSeq method different from the request method → validateMessage throws', () => {
    const msg = parseMessage(fixture('kam-options-00-received-options.sip'));
    msg.headers.set('CSeq', '10 INVITE');
    expect(() => validateMessage(msg)).toThrow(/does not match/);
  });

  it('only CRLFs → a keep-alive, not a message', () => {
    expect(isKeepAlive(Buffer.from('\r\n\r\n'))).toBe(true);
    expect(isKeepAlive(Buffer.from('\r\nINVITE'))).toBe(false);
  });
});

describe('StreamFramer', () => {
  const stream = Buffer.concat(
    [
      'kam-uas-tcp-00-received-invite.sip',
      'kam-uas-tcp-03-received-ack.sip',
      'kam-uas-tcp-04-received-info.sip',
      'kam-uas-tcp-09-received-bye.sip',
    ].map(fixture),
  );

  it('four messages back to back in one chunk → four messages', () => {
    const items = new StreamFramer().push(stream);
    expect(
      items.map((i) => (i.kind === 'message' && i.message.type === 'request' ? i.message.method : i.kind)),
    ).toEqual(['INVITE', 'ACK', 'INFO', 'BYE']);
  });

  it('the same bytes fed one at a time → the same four messages, bodies intact', () => {
    const framer = new StreamFramer();
    const whole = new StreamFramer().push(stream);
    const items = [];
    for (let i = 0; i < stream.length; i++) items.push(...framer.push(stream.subarray(i, i + 1)));
    expect(items.map((i) => (i.kind === 'message' ? shape(i.message) : i.kind))).toEqual(
      whole.map((i) => (i.kind === 'message' ? shape(i.message) : i.kind)),
    );
    expect(framer.buffered).toBe(0);
  });

  it('split at every position → always the same result', () => {
    const expected = new StreamFramer().push(stream).map((i) => (i.kind === 'message' ? shape(i.message) : i.kind));
    for (let cut = 1; cut < stream.length; cut += 7) {
      const framer = new StreamFramer();
      const items = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
      expect(items.map((i) => (i.kind === 'message' ? shape(i.message) : i.kind))).toEqual(expected);
    }
  });

  it('double-CRLF between messages → a ping; single CRLF → a pong (RFC 5626 §3.5.1)', () => {
    const framer = new StreamFramer();
    const ack = fixture('kam-uas-tcp-03-received-ack.sip');
    expect(framer.push(Buffer.from('\r\n')).map((i) => i.kind)).toEqual([]);
    expect(framer.push(Buffer.from('\r\n')).map((i) => i.kind)).toEqual(['ping']);
    expect(framer.push(Buffer.concat([Buffer.from('\r\n'), ack])).map((i) => i.kind)).toEqual(['pong', 'message']);
  });

  it('message without Content-Length → ERR_SIP_FRAMING (§18.3)', () => {
    const framer = new StreamFramer();
    expect(() =>
      framer.push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\r\n')),
    ).toThrow(SipError);
  });

  it('endless header block → ERR_SIP_FRAMING once it passes the limit', () => {
    const framer = new StreamFramer();
    expect(() => framer.push(Buffer.alloc(70 * 1024, 'a'))).toThrow(
      expect.objectContaining({ code: 'ERR_SIP_FRAMING' }),
    );
  });
});
