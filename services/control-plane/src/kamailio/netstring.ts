import { CodedError } from '../../../common/src/errors';

/**
 * Netstrings (D. J. Bernstein, https://cr.yp.to/proto/netstrings.txt), the framing
 * Kamailio's evapi uses by default (`netstring_format=1`):
 *
 *     <decimal byte length> ":" <payload> ","      e.g.  "5:hello,"
 *
 * The decoder is a pure state machine over byte chunks: frames may arrive split
 * across chunks or several in one.
 */
export class NetstringError extends CodedError<'ERR_NETSTRING'> {
  constructor(message: string) {
    super('ERR_NETSTRING', message);
  }
}

const COLON = 0x3a;
const COMMA = 0x2c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

export class NetstringDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  /** @param maxPayloadBytes frames announcing more than this are a protocol error. */
  constructor(private readonly maxPayloadBytes = 1024 * 1024) {}

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  /**
   * Appends a chunk and returns every complete payload in it. Throws
   * `NetstringError` when the stream is not netstrings; the decoder is then
   * unusable (framing is lost) and the connection should be dropped.
   */
  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const colon = this.buffer.indexOf(COLON, offset);
      const digitsEnd = colon === -1 ? this.buffer.length : colon;
      const digits = digitsEnd - offset;
      for (let i = offset; i < digitsEnd; i++) {
        const b = this.buffer[i] as number;
        if (b < DIGIT_0 || b > DIGIT_9)
          throw new NetstringError(`length contains a non-digit byte 0x${b.toString(16)}`);
      }
      const maxDigits = String(this.maxPayloadBytes).length;
      if (digits > maxDigits) throw new NetstringError(`length has more than ${maxDigits} digits`);
      if (colon === -1) break;
      if (digits === 0) throw new NetstringError('length is empty');
      // The spec forbids leading zeros ("012:" is not a netstring), except "0:" itself.
      if (digits > 1 && this.buffer[offset] === DIGIT_0) throw new NetstringError('length has a leading zero');
      const length = Number(this.buffer.toString('latin1', offset, colon));
      if (length > this.maxPayloadBytes)
        throw new NetstringError(`frame of ${length} bytes exceeds ${this.maxPayloadBytes}`);
      const end = colon + 1 + length;
      if (end >= this.buffer.length) break;
      if (this.buffer[end] !== COMMA) throw new NetstringError(`frame of ${length} bytes is not followed by ","`);
      frames.push(this.buffer.subarray(colon + 1, end));
      offset = end + 1;
    }
    this.buffer = offset === 0 ? this.buffer : Buffer.from(this.buffer.subarray(offset));
    return frames;
  }
}

/** Frames one payload (used by tests and any future evapi writer). */
export function encodeNetstring(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from(`${body.length}:`, 'latin1'), body, Buffer.from(',', 'latin1')]);
}
