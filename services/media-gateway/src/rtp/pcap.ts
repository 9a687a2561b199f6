import { RtpError } from './errors';
import { isRtcpPacket, tryParseRtp, type RtpPacket } from './packet';

/**
 * A reader (and a minimal writer) for classic libpcap files, enough to pull RTP out
 * of captures such as SIPp's /usr/share/sip-tester/*.pcap and to write captures
 * SIPp can play. pcapng is not read. Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html
 *
 *    global header (24 octets)            record header (16 octets)
 *    magic        u32  a1b2c3d4 (µs)      ts_sec    u32
 *                      a1b23c4d (ns)      ts_frac   u32  µs or ns
 *    version      u16 u16  2.4            incl_len  u32  octets captured
 *    thiszone     i32                     orig_len  u32  octets on the wire
 *    sigfigs      u32
 *    snaplen      u32
 *    linktype     u32
 *
 * Byte order is the writer's: the magic read little-endian tells which.
 */

/** Link-layer header types (https://www.tcpdump.org/linktypes.html) this reader unwraps. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;
const PCAPNG_MAGIC = 0x0a0d0d0a;
const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const IPPROTO_UDP = 17;

export interface PcapRecord {
  /** Capture time in milliseconds since the epoch (fractional). */
  readonly timestampMs: number;
  /** The captured octets: a view into the file. */
  readonly data: Buffer;
  /** Length of the frame on the wire; larger than `data.length` when the capture was cut at snaplen. */
  readonly originalLength: number;
}

export interface PcapFile {
  readonly linkType: number;
  readonly snapLength: number;
  readonly records: readonly PcapRecord[];
}

export interface UdpEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface UdpDatagram {
  readonly timestampMs: number;
  readonly source: UdpEndpoint;
  readonly destination: UdpEndpoint;
  /** The UDP payload: a view into the file. */
  readonly payload: Buffer;
}

export interface CapturedRtp extends UdpDatagram {
  readonly packet: RtpPacket;
}

/** Splits a classic pcap file into its records. Throws {@link RtpError} (ERR_PCAP_*) on anything else. */
export function readPcap(file: Buffer): PcapFile {
  if (file.length < GLOBAL_HEADER_LENGTH)
    throw new RtpError('ERR_PCAP_FORMAT', `pcap file is ${file.length} octets, shorter than its header`);
  const magicLE = file.readUInt32LE(0);
  let littleEndian: boolean;
  let nanos: boolean;
  if (magicLE === MAGIC_MICROS || magicLE === MAGIC_NANOS) {
    littleEndian = true;
    nanos = magicLE === MAGIC_NANOS;
  } else {
    const magicBE = file.readUInt32BE(0);
    if (magicBE !== MAGIC_MICROS && magicBE !== MAGIC_NANOS) {
      const hint = magicLE === PCAPNG_MAGIC ? ' (this is pcapng: convert it with `editcap -F pcap`)' : '';
      throw new RtpError('ERR_PCAP_FORMAT', `unknown pcap magic 0x${magicLE.toString(16)}${hint}`);
    }
    littleEndian = false;
    nanos = magicBE === MAGIC_NANOS;
  }
  const u32 = littleEndian ? (at: number) => file.readUInt32LE(at) : (at: number) => file.readUInt32BE(at);
  const snapLength = u32(16);
  const linkType = u32(20) & 0x0fffffff; // the top bits carry FCS information (pcap-savefile(5))
  const fractionPerMs = nanos ? 1e6 : 1e3;

  const records: PcapRecord[] = [];
  let offset = GLOBAL_HEADER_LENGTH;
  while (offset < file.length) {
    if (offset + RECORD_HEADER_LENGTH > file.length) {
      throw new RtpError('ERR_PCAP_TRUNCATED', `record header at octet ${offset} runs past the end of the file`);
    }
    const seconds = u32(offset);
    const fraction = u32(offset + 4);
    const included = u32(offset + 8);
    const original = u32(offset + 12);
    const start = offset + RECORD_HEADER_LENGTH;
    if (start + included > file.length) {
      throw new RtpError(
        'ERR_PCAP_TRUNCATED',
        `record at octet ${offset} claims ${included} octets, ${file.length - start} remain`,
      );
    }
    records.push({
      timestampMs: seconds * 1000 + fraction / fractionPerMs,
      data: file.subarray(start, start + included),
      originalLength: original,
    });
    offset = start + included;
  }
  return { linkType, snapLength, records };
}

/**
 * The UDP datagrams of a capture (IPv4 and IPv6 without extension headers).
 * Frames that are not UDP, IP fragments, and datagrams cut short by the snap
 * length are left out.
 */
export function udpDatagrams(file: Buffer): UdpDatagram[] {
  const { linkType, records } = readPcap(file);
  const out: UdpDatagram[] = [];
  for (const record of records) {
    const ip = networkLayer(linkType, record.data);
    if (!ip) continue;
    const datagram = ip.version === 4 ? udpOverIpv4(ip.data) : udpOverIpv6(ip.data);
    if (datagram) out.push({ timestampMs: record.timestampMs, ...datagram });
  }
  return out;
}

/**
 * The RTP packets of a capture, in capture order: every UDP datagram that parses
 * as RTP and is not RTCP (RFC 5761 §4), optionally filtered (e.g. by port).
 */
export function rtpFromPcap(file: Buffer, filter?: (datagram: UdpDatagram) => boolean): CapturedRtp[] {
  const out: CapturedRtp[] = [];
  for (const datagram of udpDatagrams(file)) {
    if (filter && !filter(datagram)) continue;
    if (isRtcpPacket(datagram.payload)) continue;
    const packet = tryParseRtp(datagram.payload);
    if (typeof packet !== 'string') out.push({ ...datagram, packet });
  }
  return out;
}

interface NetworkPacket {
  readonly version: 4 | 6;
  readonly data: Buffer;
}

function networkLayer(linkType: number, frame: Buffer): NetworkPacket | undefined {
  switch (linkType) {
    case LINKTYPE.ETHERNET: {
      let at = 12;
      if (frame.length < at + 2) return undefined;
      let etherType = frame.readUInt16BE(at);
      // IEEE 802.1Q / 802.1ad tags: 4 octets each before the real EtherType.
      while ((etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ) && frame.length >= at + 6) {
        at += 4;
        etherType = frame.readUInt16BE(at);
      }
      return byEtherType(etherType, frame.subarray(at + 2));
    }
    case LINKTYPE.LINUX_SLL:
      // packet type, ARPHRD type, address length, 8 octets of address, protocol.
      return frame.length < 16 ? undefined : byEtherType(frame.readUInt16BE(14), frame.subarray(16));
    case LINKTYPE.LINUX_SLL2:
      // protocol, reserved, interface index, ARPHRD type, packet type, address length, 8 octets of address.
      return frame.length < 20 ? undefined : byEtherType(frame.readUInt16BE(0), frame.subarray(20));
    case LINKTYPE.NULL: {
      if (frame.length < 4) return undefined;
      // The address family is in the capturing host's byte order; take whichever reads small.
      const le = frame.readUInt32LE(0);
      const family = le < 0x10000 ? le : frame.readUInt32BE(0);
      if (family === 2) return { version: 4, data: frame.subarray(4) };
      if (family === 24 || family === 28 || family === 30) return { version: 6, data: frame.subarray(4) };
      return undefined;
    }
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6: {
      const version = frame.length > 0 ? frame[0]! >> 4 : 0;
      return version === 4 || version === 6 ? { version, data: frame } : undefined;
    }
    default:
      throw new RtpError(
        'ERR_PCAP_LINK_TYPE',
        `pcap link type ${linkType} is not supported (Ethernet, Linux cooked v1/v2, BSD loopback and raw IP are)`,
      );
  }
}

function byEtherType(etherType: number, data: Buffer): NetworkPacket | undefined {
  if (etherType === ETHERTYPE_IPV4) return { version: 4, data };
  if (etherType === ETHERTYPE_IPV6) return { version: 6, data };
  return undefined;
}

type UdpParts = Omit<UdpDatagram, 'timestampMs'>;

function udpOverIpv4(ip: Buffer): UdpParts | undefined {
  // RFC 791 §3.1
  if (ip.length < 20 || ip[0]! >> 4 !== 4) return undefined;
  const headerLength = (ip[0]! & 0x0f) * 4;
  const totalLength = ip.readUInt16BE(2);
  const flagsAndOffset = ip.readUInt16BE(6);
  if ((flagsAndOffset & 0x3fff) !== 0) return undefined; // a fragment: MF set or a non-zero offset
  if (ip[9] !== IPPROTO_UDP || headerLength < 20 || totalLength > ip.length) return undefined;
  const source = ipv4String(ip, 12);
  const destination = ipv4String(ip, 16);
  return udp(ip.subarray(headerLength, totalLength), source, destination);
}

function udpOverIpv6(ip: Buffer): UdpParts | undefined {
  // RFC 8200 §3; extension headers before UDP are not followed.
  if (ip.length < 40 || ip[0]! >> 4 !== 6 || ip[6] !== IPPROTO_UDP) return undefined;
  const payloadLength = ip.readUInt16BE(4);
  if (40 + payloadLength > ip.length) return undefined;
  return udp(ip.subarray(40, 40 + payloadLength), ipv6String(ip, 8), ipv6String(ip, 24));
}

function udp(segment: Buffer, sourceAddress: string, destinationAddress: string): UdpParts | undefined {
  // RFC 768
  if (segment.length < 8) return undefined;
  const length = segment.readUInt16BE(4);
  if (length < 8 || length > segment.length) return undefined;
  return {
    source: { address: sourceAddress, port: segment.readUInt16BE(0) },
    destination: { address: destinationAddress, port: segment.readUInt16BE(2) },
    payload: segment.subarray(8, length),
  };
}

function ipv4String(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6String(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i).toString(16));
  return groups.join(':');
}

/**
 * Writes UDP-over-IPv4 datagrams as an Ethernet pcap (µs timestamps), e.g. to
 * build a capture with chosen loss or DTMF for SIPp's `play_pcap_audio`. The
 * IPv4 header checksum is computed; the UDP checksum is left 0 (RFC 768: none).
 */
export function writePcap(datagrams: readonly UdpDatagram[]): Buffer {
  const chunks: Buffer[] = [];
  const header = Buffer.alloc(GLOBAL_HEADER_LENGTH);
  header.writeUInt32LE(MAGIC_MICROS, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(LINKTYPE.ETHERNET, 20);
  chunks.push(header);
  let ipId = 0;
  for (const d of datagrams) {
    const frameLength = 14 + 20 + 8 + d.payload.length;
    if (20 + 8 + d.payload.length > 0xffff)
      throw new RangeError(`a ${d.payload.length}-octet payload does not fit in one IPv4 datagram`);
    const record = Buffer.alloc(RECORD_HEADER_LENGTH + frameLength);
    const seconds = Math.floor(d.timestampMs / 1000);
    const micros = Math.round((d.timestampMs - seconds * 1000) * 1000);
    record.writeUInt32LE(seconds + Math.floor(micros / 1e6), 0);
    record.writeUInt32LE(micros % 1e6, 4);
    record.writeUInt32LE(frameLength, 8);
    record.writeUInt32LE(frameLength, 12);
    const eth = RECORD_HEADER_LENGTH;
    // Locally administered MAC addresses: the frame never touched a wire.
    Buffer.from([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]).copy(record, eth);
    record.writeUInt16BE(ETHERTYPE_IPV4, eth + 12);
    const ip = eth + 14;
    record[ip] = 0x45;
    record.writeUInt16BE(20 + 8 + d.payload.length, ip + 2);
    record.writeUInt16BE(ipId++ & 0xffff, ip + 4);
    record[ip + 8] = 64;
    record[ip + 9] = IPPROTO_UDP;
    writeIpv4(record, ip + 12, d.source.address);
    writeIpv4(record, ip + 16, d.destination.address);
    record.writeUInt16BE(ipv4Checksum(record.subarray(ip, ip + 20)), ip + 10);
    const u = ip + 20;
    record.writeUInt16BE(d.source.port, u);
    record.writeUInt16BE(d.destination.port, u + 2);
    record.writeUInt16BE(8 + d.payload.length, u + 4);
    d.payload.copy(record, u + 8);
    chunks.push(record);
  }
  return Buffer.concat(chunks);
}

function writeIpv4(buf: Buffer, at: number, address: string): void {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`writePcap writes IPv4 only, got address ${JSON.stringify(address)}`);
  }
  for (let i = 0; i < 4; i++) buf[at + i] = parts[i]!;
}

/** RFC 791 §3.1 / RFC 1071: ones' complement of the ones' complement sum of the header's 16-bit words. */
function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
