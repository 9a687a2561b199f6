import { RtpError } from './errors';
import { serializeRtp } from './packet';
import { LINKTYPE, readPcap, rtpFromPcap, udpDatagrams, writePcap, type UdpDatagram } from './pcap';
import { readSippCapture, SIPP_G711A_CAPTURE } from '../../test-fixtures/sipp-captures';

/** Rebuilds a capture with another link layer: each Ethernet frame's 14-octet header replaced by `header(frame)`. */
function relink(file: Buffer, linkType: number, header: (etherType: number) => Buffer): Buffer {
  const { records } = readPcap(file);
  const global = Buffer.from(file.subarray(0, 24));
  global.writeUInt32LE(linkType, 20);
  const chunks = [global];
  for (const record of records) {
    const frame = Buffer.concat([header(record.data.readUInt16BE(12)), record.data.subarray(14)]);
    const recordHeader = Buffer.alloc(16);
    const seconds = Math.floor(record.timestampMs / 1000);
    recordHeader.writeUInt32LE(seconds, 0);
    recordHeader.writeUInt32LE(Math.round((record.timestampMs - seconds * 1000) * 1000), 4);
    recordHeader.writeUInt32LE(frame.length, 8);
    recordHeader.writeUInt32LE(frame.length, 12);
    chunks.push(recordHeader, frame);
  }
  return Buffer.concat(chunks);
}

/** The same capture written big-endian. */
function byteSwapped(file: Buffer): Buffer {
  const out = Buffer.from(file);
  out.writeUInt32BE(file.readUInt32LE(0), 0);
  out.writeUInt16BE(file.readUInt16LE(4), 4);
  out.writeUInt16BE(file.readUInt16LE(6), 6);
  for (const at of [8, 12, 16, 20]) out.writeUInt32BE(file.readUInt32LE(at), at);
  let offset = 24;
  while (offset < file.length) {
    const included = file.readUInt32LE(offset + 8);
    for (let i = 0; i < 16; i += 4) out.writeUInt32BE(file.readUInt32LE(offset + i), offset + i);
    offset += 16 + included;
  }
  return out;
}

describe('pcap reader', () => {
  const g711a = readSippCapture(SIPP_G711A_CAPTURE);

  it('SIPp g711a.pcap → 236 A-law packets from one SSRC, in sequence, 240 samples apart', () => {
    const captured = rtpFromPcap(g711a);
    expect(captured.length).toBe(236);
    const first = captured[0]!;
    expect(first.source).toEqual({ address: '10.1.3.143', port: 5000 });
    expect(first.destination).toEqual({ address: '10.1.6.18', port: 2006 });
    expect(first.packet.marker).toBe(true);
    captured.forEach(({ packet }, i) => {
      expect(packet.payloadType).toBe(8);
      expect(packet.ssrc).toBe(0xdee0ee8f);
      expect(packet.sequence).toBe((first.packet.sequence + i) & 0xffff);
      expect(packet.timestamp).toBe(first.packet.timestamp + 240 * i);
      expect(packet.payload.length).toBe(240);
    });
    // 30 ms packets: the capture spans about 236 × 30 ms.
    const spanMs = captured[235]!.timestampMs - first.timestampMs;
    expect(spanMs).toBeGreaterThan(235 * 30 - 100);
    expect(spanMs).toBeLessThan(235 * 30 + 100);
  });

  it('big-endian capture → the same datagrams as the little-endian one', () => {
    const swapped = udpDatagrams(byteSwapped(g711a));
    const original = udpDatagrams(g711a);
    expect(swapped.length).toBe(original.length);
    swapped.forEach((d, i) => {
      expect(d.timestampMs).toBeCloseTo(original[i]!.timestampMs, 3);
      expect(d.payload.equals(original[i]!.payload)).toBe(true);
    });
  });

  it('Linux cooked (SLL) capture → the same RTP as the Ethernet one', () => {
    const sll = relink(g711a, LINKTYPE.LINUX_SLL, (etherType) => {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0); // sent to us
      h.writeUInt16BE(1, 2); // ARPHRD_ETHER
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(etherType, 14);
      return h;
    });
    expect(readPcap(sll).linkType).toBe(LINKTYPE.LINUX_SLL);
    const packets = rtpFromPcap(sll).map((c) => c.packet.sequence);
    expect(packets).toEqual(rtpFromPcap(g711a).map((c) => c.packet.sequence));
  });

  it('Linux cooked v2 and 802.1Q-tagged Ethernet captures → the same RTP', () => {
    const sll2 = relink(g711a, LINKTYPE.LINUX_SLL2, (etherType) => {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(etherType, 0);
      return h;
    });
    const vlan = relink(g711a, LINKTYPE.ETHERNET, (etherType) => {
      const h = Buffer.alloc(18);
      h.writeUInt16BE(0x8100, 12);
      h.writeUInt16BE(42, 14);
      h.writeUInt16BE(etherType, 16);
      return h;
    });
    expect(rtpFromPcap(sll2).length).toBe(236);
    expect(rtpFromPcap(vlan).length).toBe(236);
  });

  it('a filter → only the datagrams it keeps', () => {
    expect(rtpFromPcap(g711a, (d) => d.destination.port === 2006).length).toBe(236);
    expect(rtpFromPcap(g711a, (d) => d.destination.port === 9).length).toBe(0);
  });

  it('pcapng → ERR_PCAP_FORMAT naming pcapng', () => {
    const ng = Buffer.alloc(28);
    ng.writeUInt32LE(0x0a0d0d0a, 0);
    expect(() => readPcap(ng)).toThrow(/pcapng/);
    expect(() => readPcap(ng)).toThrow(RtpError);
  });

  it('file cut inside a record → ERR_PCAP_TRUNCATED', () => {
    try {
      readPcap(g711a.subarray(0, g711a.length - 10));
      throw new Error('expected a throw');
    } catch (err) {
      expect((err as RtpError).code).toBe('ERR_PCAP_TRUNCATED');
    }
  });

  it('an unknown link type → ERR_PCAP_LINK_TYPE', () => {
    const other = Buffer.from(g711a);
    other.writeUInt32LE(147, 20); // LINKTYPE_USER0
    try {
      udpDatagrams(other);
      throw new Error('expected a throw');
    } catch (err) {
      expect((err as RtpError).code).toBe('ERR_PCAP_LINK_TYPE');
    }
  });
});

describe('pcap writer', () => {
  const datagrams: UdpDatagram[] = [0, 1, 2].map((i) => ({
    timestampMs: 1_700_000_000_000 + 20 * i + 0.123,
    source: { address: '192.0.2.1', port: 40000 },
    destination: { address: '198.51.100.7', port: 6000 },
    payload: serializeRtp({
      marker: i === 0,
      payloadType: 0,
      sequence: 100 + i,
      timestamp: 160 * i,
      ssrc: 7,
      payload: Buffer.alloc(160, i),
    }),
  }));

  it('written datagrams → read back with the same addresses, ports, payloads and µs times', () => {
    const back = udpDatagrams(writePcap(datagrams));
    expect(back.length).toBe(3);
    back.forEach((d, i) => {
      expect(d.source).toEqual(datagrams[i]!.source);
      expect(d.destination).toEqual(datagrams[i]!.destination);
      expect(d.payload.equals(datagrams[i]!.payload)).toBe(true);
      expect(d.timestampMs).toBeCloseTo(datagrams[i]!.timestampMs, 3);
    });
  });

  it('written IPv4 headers → carry a valid header checksum', () => {
    const { records } = readPcap(writePcap(datagrams));
    for (const record of records) {
      const ip = record.data.subarray(14, 34);
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      expect(sum).toBe(0xffff);
    }
  });

  it('an IPv4 fragment in a capture → left out', () => {
    const file = writePcap(datagrams);
    // Set MF on the second record's IP header (24 + 16 + frame of the first record + 16 + 14 + 6).
    const firstFrame = file.readUInt32LE(24 + 8);
    file.writeUInt16BE(0x2000, 24 + 16 + firstFrame + 16 + 14 + 6);
    expect(udpDatagrams(file).map((d) => d.payload.readUInt16BE(2))).toEqual([100, 102]);
  });
});
