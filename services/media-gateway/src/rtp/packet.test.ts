import { RtpError } from './errors';
import { isRtcpPacket, parseRtp, rtpPacketLength, serializeRtp, tryParseRtp, writeRtp, type RtpPacket } from './packet';
import { rtpFromPcap } from './pcap';
import { readSippCapture, SIPP_DTMF_CAPTURES, SIPP_G711A_CAPTURE } from '../../test-fixtures/sipp-captures';

/** A header built octet by octet from RFC 3550 §5.1, independent of the serialiser. */
function handBuilt(): Buffer {
  return Buffer.from([
    0b1011_0010, // V=2, P=1, X=1, CC=2
    0b1000_0000 | 101, // M=1, PT=101
    0xfe,
    0xdc, // sequence 65244
    0x01,
    0x02,
    0x03,
    0x04, // timestamp
    0xca,
    0xfe,
    0xba,
    0xbe, // SSRC
    0x00,
    0x00,
    0x00,
    0x01, // CSRC 1
    0xff,
    0xff,
    0xff,
    0xff, // CSRC 2
    0xbe,
    0xde,
    0x00,
    0x01, // extension profile 0xBEDE (RFC 8285), 1 word
    0x10,
    0xaa,
    0x00,
    0x00, // extension data
    0x05,
    0x0a,
    0x00,
    0xa0, // payload: telephone-event '5'
    0x00,
    0x00,
    0x03, // padding
  ]);
}

describe('RTP packet parse (RFC 3550 §5.1)', () => {
  it('hand-built header with CSRCs, extension and padding → every field read', () => {
    const datagram = handBuilt();
    const packet = parseRtp(datagram);
    expect(packet.marker).toBe(true);
    expect(packet.payloadType).toBe(101);
    expect(packet.sequence).toBe(0xfedc);
    expect(packet.timestamp).toBe(0x01020304);
    expect(packet.ssrc).toBe(0xcafebabe);
    expect(packet.csrcs).toEqual([1, 0xffffffff]);
    expect(packet.extension?.profile).toBe(0xbede);
    expect([...packet.extension!.data]).toEqual([0x10, 0xaa, 0x00, 0x00]);
    expect([...packet.payload]).toEqual([0x05, 0x0a, 0x00, 0xa0]);
    expect(packet.paddingLength).toBe(3);
  });

  it('hand-built packet → serialises back to the same octets', () => {
    const datagram = handBuilt();
    expect(serializeRtp(parseRtp(datagram)).equals(datagram)).toBe(true);
  });

  it('payload → a view into the datagram, not a copy', () => {
    const datagram = handBuilt();
    const packet = parseRtp(datagram);
    expect(packet.payload.buffer).toBe(datagram.buffer);
    datagram[28] = 0x09;
    expect(packet.payload[0]).toBe(0x09);
  });

  it('timestamp and SSRC with the top bit set → read unsigned', () => {
    const datagram = Buffer.alloc(12);
    datagram[0] = 0x80;
    datagram.writeUInt32BE(0xffffffff, 4);
    datagram.writeUInt32BE(0x80000000, 8);
    const packet = parseRtp(datagram);
    expect(packet.timestamp).toBe(4294967295);
    expect(packet.ssrc).toBe(2147483648);
    expect(packet.payload.length).toBe(0);
  });

  it.each([
    ['shorter than the fixed header', 'ERR_RTP_TRUNCATED', Buffer.alloc(11, 0x80)],
    ['version 1', 'ERR_RTP_VERSION', Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['version 0 (e.g. STUN)', 'ERR_RTP_VERSION', Buffer.from([0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0])],
    ['CC=3 with no CSRCs present', 'ERR_RTP_TRUNCATED', Buffer.from([0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['X set with no extension header', 'ERR_RTP_TRUNCATED', Buffer.from([0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
    [
      'extension longer than the datagram',
      'ERR_RTP_TRUNCATED',
      Buffer.from([0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 2, 0, 0, 0, 0]),
    ],
    ['padding count 0', 'ERR_RTP_PADDING', Buffer.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])],
    ['padding count past the header', 'ERR_RTP_PADDING', Buffer.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3])],
  ])('%s → %s', (_name, code, datagram) => {
    expect(tryParseRtp(datagram)).toBe(code);
    expect(() => parseRtp(datagram)).toThrow(RtpError);
    try {
      parseRtp(datagram);
    } catch (err) {
      expect((err as RtpError).code).toBe(code);
    }
  });
});

describe('RTP packet serialise', () => {
  const packet: RtpPacket = {
    marker: false,
    payloadType: 0,
    sequence: 65535,
    timestamp: 4294967295,
    ssrc: 0x12345678,
    payload: Buffer.alloc(160, 0xff),
  };

  it('plain packet → 12-octet header then the payload', () => {
    const out = serializeRtp(packet);
    expect(out.length).toBe(172);
    expect([...out.subarray(0, 12)]).toEqual([0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78]);
    expect(out.subarray(12).equals(packet.payload)).toBe(true);
  });

  it('writeRtp at an offset of a larger buffer → writes there and returns the length', () => {
    const target = Buffer.alloc(300, 0xee);
    const written = writeRtp(packet, target, 100);
    expect(written).toBe(rtpPacketLength(packet));
    expect(target[99]).toBe(0xee);
    expect(parseRtp(target.subarray(100, 100 + written)).sequence).toBe(65535);
    expect(target[100 + written]).toBe(0xee);
  });

  it('sequence and timestamp beyond their width → wrapped to 16 and 32 bits', () => {
    const parsed = parseRtp(serializeRtp({ ...packet, sequence: 65536 + 7, timestamp: 2 ** 32 + 9 }));
    expect(parsed.sequence).toBe(7);
    expect(parsed.timestamp).toBe(9);
  });

  it.each([
    ['payload type 128', { ...packet, payloadType: 128 }],
    ['16 CSRCs', { ...packet, csrcs: new Array<number>(16).fill(1) }],
    ['an extension that is not whole words', { ...packet, extension: { profile: 1, data: Buffer.alloc(3) } }],
  ])('%s → TypeError', (_name, bad) => {
    expect(() => serializeRtp(bad)).toThrow(TypeError);
  });

  it('a buffer too small → RangeError, nothing written past it', () => {
    expect(() => writeRtp(packet, Buffer.alloc(100))).toThrow(RangeError);
  });
});

describe('RTP round-trips of real captures', () => {
  it('every packet of SIPp g711a.pcap → parse then serialise is byte-identical', () => {
    const captured = rtpFromPcap(readSippCapture(SIPP_G711A_CAPTURE));
    expect(captured.length).toBe(236);
    for (const { payload, packet } of captured) {
      expect(serializeRtp(packet).equals(payload)).toBe(true);
    }
  });

  it.each(SIPP_DTMF_CAPTURES.map((c) => [c.file]))(
    'every packet of SIPp %s → parse then serialise is byte-identical',
    (file) => {
      const captured = rtpFromPcap(readSippCapture(file));
      expect(captured.length).toBe(10);
      for (const { payload, packet } of captured) {
        expect(serializeRtp(packet).equals(payload)).toBe(true);
      }
    },
  );
});

describe('RTCP demultiplexing (RFC 5761 §4)', () => {
  it('an RTCP receiver report → RTCP; RTP PCMU and telephone-event → not', () => {
    const receiverReport = Buffer.from([0x81, 201, 0x00, 0x07, 0, 0, 0, 1, ...new Array<number>(24).fill(0)]);
    expect(isRtcpPacket(receiverReport)).toBe(true);
    expect(
      isRtcpPacket(
        serializeRtp({ marker: false, payloadType: 0, sequence: 1, timestamp: 0, ssrc: 1, payload: Buffer.alloc(160) }),
      ),
    ).toBe(false);
    // M=1 with PT 101 makes a second octet of 229: outside 192–223, still RTP.
    expect(
      isRtcpPacket(
        serializeRtp({ marker: true, payloadType: 101, sequence: 1, timestamp: 0, ssrc: 1, payload: Buffer.alloc(4) }),
      ),
    ).toBe(false);
  });
});
