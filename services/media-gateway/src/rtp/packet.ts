import { RtpError, type RtpErrorCode } from './errors';

/**
 * RTP fixed header, RFC 3550 §5.1:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |            contributing source (CSRC) identifiers             |
 *    |                             ....                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * followed, when X is set, by the header extension of §5.3.1:
 *
 *    |      defined by profile       |           length              |
 *    |                        header extension                       |
 *
 * (length counts 32-bit words after this first one), then the payload, then, when
 * P is set, padding whose last octet counts the padding octets including itself.
 */
export const RTP_VERSION = 2;
export const RTP_HEADER_LENGTH = 12;
/** CC is 4 bits (§5.1). */
export const RTP_MAX_CSRCS = 15;

/** §5.3.1: the profile-defined 16 bits and the extension body (a view into the datagram). */
export interface RtpHeaderExtension {
  readonly profile: number;
  readonly data: Buffer;
}

/**
 * One RTP packet. `payload` (and `extension.data`) are views into the datagram
 * they were parsed from: nothing is copied, so a consumer that keeps a payload
 * beyond the datagram's life must copy it (the UDP adapter hands each datagram a
 * fresh Buffer, so in practice views are safe to keep).
 */
export interface RtpPacket {
  readonly marker: boolean;
  readonly payloadType: number;
  /** 16-bit sequence number. */
  readonly sequence: number;
  /** 32-bit media timestamp, unsigned. */
  readonly timestamp: number;
  /** 32-bit synchronisation source, unsigned. */
  readonly ssrc: number;
  readonly payload: Buffer;
  /** Contributing sources (absent = none). */
  readonly csrcs?: readonly number[];
  readonly extension?: RtpHeaderExtension | undefined;
  /** Padding octets after the payload including the count octet (absent or 0 = P bit clear). */
  readonly paddingLength?: number;
}

const NO_CSRCS: readonly number[] = Object.freeze([]);

/**
 * Parses one datagram, or returns the error code of why it is not RTP. The
 * receive path uses this form: junk from the network is counted, not thrown.
 */
export function tryParseRtp(datagram: Buffer): RtpPacket | RtpErrorCode {
  const length = datagram.length;
  if (length < RTP_HEADER_LENGTH) return 'ERR_RTP_TRUNCATED';
  const b0 = datagram[0]!;
  if (b0 >> 6 !== RTP_VERSION) return 'ERR_RTP_VERSION';
  const hasPadding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const b1 = datagram[1]!;

  let offset = RTP_HEADER_LENGTH + 4 * csrcCount;
  if (offset > length) return 'ERR_RTP_TRUNCATED';
  let csrcs = NO_CSRCS;
  if (csrcCount > 0) {
    const list: number[] = new Array<number>(csrcCount);
    for (let i = 0; i < csrcCount; i++) list[i] = datagram.readUInt32BE(RTP_HEADER_LENGTH + 4 * i);
    csrcs = list;
  }

  let extension: RtpHeaderExtension | undefined;
  if (hasExtension) {
    if (offset + 4 > length) return 'ERR_RTP_TRUNCATED';
    const profile = datagram.readUInt16BE(offset);
    const words = datagram.readUInt16BE(offset + 2);
    const end = offset + 4 + 4 * words;
    if (end > length) return 'ERR_RTP_TRUNCATED';
    extension = { profile, data: datagram.subarray(offset + 4, end) };
    offset = end;
  }

  let paddingLength = 0;
  if (hasPadding) {
    // RFC 3550 A.1: the count octet includes itself, so 0 is invalid, and the
    // padding cannot reach back into the header.
    paddingLength = datagram[length - 1]!;
    if (paddingLength === 0 || offset + paddingLength > length) return 'ERR_RTP_PADDING';
  }

  return {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequence: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payload: datagram.subarray(offset, length - paddingLength),
    csrcs,
    extension,
    paddingLength,
  };
}

/** Parses one datagram; throws {@link RtpError} when it is not RTP. */
export function parseRtp(datagram: Buffer): RtpPacket {
  const result = tryParseRtp(datagram);
  if (typeof result === 'string') throw new RtpError(result);
  return result;
}

/** Octets {@link writeRtp} needs for `packet`. */
export function rtpPacketLength(packet: RtpPacket): number {
  const csrcCount = packet.csrcs?.length ?? 0;
  const extensionLength = packet.extension ? 4 + packet.extension.data.length : 0;
  return RTP_HEADER_LENGTH + 4 * csrcCount + extensionLength + packet.payload.length + (packet.paddingLength ?? 0);
}

/**
 * Writes `packet` into `target` at `offset` and returns the octets written, so a
 * sender can reuse one buffer. Padding octets are written as zeros before the
 * count (their content is not specified by §5.1).
 */
export function writeRtp(packet: RtpPacket, target: Buffer, offset = 0): number {
  const csrcs = packet.csrcs ?? NO_CSRCS;
  const extension = packet.extension;
  const paddingLength = packet.paddingLength ?? 0;
  if (csrcs.length > RTP_MAX_CSRCS)
    throw new TypeError(`at most ${RTP_MAX_CSRCS} CSRCs fit in an RTP header, got ${csrcs.length}`);
  if (!Number.isInteger(packet.payloadType) || packet.payloadType < 0 || packet.payloadType > 127) {
    throw new TypeError(`payload type must be 0..127, got ${packet.payloadType}`);
  }
  if (extension && extension.data.length % 4 !== 0)
    throw new TypeError('an RTP header extension is a whole number of 32-bit words');
  if (paddingLength < 0 || paddingLength > 255)
    throw new TypeError(`padding must be 0..255 octets, got ${paddingLength}`);
  const total = rtpPacketLength(packet);
  if (offset + total > target.length)
    throw new RangeError(`RTP packet needs ${total} octets, ${target.length - offset} available`);

  target[offset] = (RTP_VERSION << 6) | (paddingLength > 0 ? 0x20 : 0) | (extension ? 0x10 : 0) | csrcs.length;
  target[offset + 1] = (packet.marker ? 0x80 : 0) | packet.payloadType;
  target.writeUInt16BE(packet.sequence & 0xffff, offset + 2);
  target.writeUInt32BE(packet.timestamp >>> 0, offset + 4);
  target.writeUInt32BE(packet.ssrc >>> 0, offset + 8);
  let at = offset + RTP_HEADER_LENGTH;
  for (const csrc of csrcs) {
    target.writeUInt32BE(csrc >>> 0, at);
    at += 4;
  }
  if (extension) {
    target.writeUInt16BE(extension.profile & 0xffff, at);
    target.writeUInt16BE(extension.data.length / 4, at + 2);
    at += 4;
    at += extension.data.copy(target, at);
  }
  at += packet.payload.copy(target, at);
  if (paddingLength > 0) {
    target.fill(0, at, at + paddingLength - 1);
    target[at + paddingLength - 1] = paddingLength;
    at += paddingLength;
  }
  return at - offset;
}

/** Serialises `packet` into a new Buffer. */
export function serializeRtp(packet: RtpPacket): Buffer {
  const out = Buffer.allocUnsafe(rtpPacketLength(packet));
  writeRtp(packet, out, 0);
  return out;
}

/**
 * RFC 5761 §4: with RTP and RTCP on one port (rtcp-mux), a second octet of 192–223
 * (RTCP packet types SR 200, RR 201, SDES, BYE, APP, and the feedback types) marks
 * RTCP; RTP payload types 64–95 are avoided for exactly this reason.
 */
export function isRtcpPacket(datagram: Buffer): boolean {
  if (datagram.length < 8 || datagram[0]! >> 6 !== RTP_VERSION) return false;
  const type = datagram[1]!;
  return type >= 192 && type <= 223;
}
