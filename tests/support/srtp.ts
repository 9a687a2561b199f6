import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * SRTP (RFC 3711) with the AES_CM_128_HMAC_SHA1_80 suite of SDES (RFC 4568 §6.2.1),
 * enough for a test phone: protect what it sends, verify and decrypt what the relay
 * sends it. Master key index and key derivation rate are not used (kdr 0).
 */

export const SUITE = 'AES_CM_128_HMAC_SHA1_80';
const AUTH_TAG_BYTES = 10;

export interface MasterKey {
  readonly key: Buffer; // 16 bytes
  readonly salt: Buffer; // 14 bytes
}

export function newMasterKey(): MasterKey {
  return { key: randomBytes(16), salt: randomBytes(14) };
}

/** `inline:<base64(key || salt)>` of an `a=crypto` line (RFC 4568 §6.1). */
export function inlineKey(master: MasterKey): string {
  return `inline:${Buffer.concat([master.key, master.salt]).toString('base64')}`;
}

/** The master key of the first `a=crypto` line with our suite, or null. */
export function cryptoFromSdp(sdp: string): { tag: number; master: MasterKey } | null {
  const m = new RegExp(`^a=crypto:(\\d+) ${SUITE} inline:([A-Za-z0-9+/=]+)`, 'm').exec(sdp);
  if (!m) return null;
  const raw = Buffer.from(m[2]!, 'base64');
  if (raw.length !== 30) return null;
  return { tag: Number(m[1]), master: { key: raw.subarray(0, 16), salt: raw.subarray(16) } };
}

interface SessionKeys {
  readonly cipherKey: Buffer;
  readonly authKey: Buffer;
  readonly salt: Buffer;
}

/** RFC 3711 §4.3.1/§4.3.3: AES-CM as the PRF, x = label·2^48 XOR master salt, IV = x·2^16. */
export function deriveSessionKeys(master: MasterKey): SessionKeys {
  const prf = (label: number, length: number): Buffer => {
    const iv = Buffer.alloc(16);
    master.salt.copy(iv, 0);
    iv[7] = iv[7]! ^ label;
    const cipher = createCipheriv('aes-128-ctr', master.key, iv);
    return cipher.update(Buffer.alloc(length));
  };
  return { cipherKey: prf(0x00, 16), authKey: prf(0x01, 20), salt: prf(0x02, 14) };
}

/** One direction of an SRTP session (one SSRC): tracks the rollover counter (§3.3.1). */
export class SrtpContext {
  private readonly keys: SessionKeys;
  private roc = 0;
  private lastSeq: number | null = null;

  constructor(master: MasterKey) {
    this.keys = deriveSessionKeys(master);
  }

  /** Encrypts the payload and appends the 80-bit tag (§3.1). */
  protect(rtp: Buffer): Buffer {
    const seq = rtp.readUInt16BE(2);
    if (this.lastSeq !== null && seq < this.lastSeq && this.lastSeq - seq > 0x8000) this.roc++;
    this.lastSeq = seq;
    const headerLength = rtpHeaderLength(rtp);
    const payload = this.keystreamXor(rtp, headerLength, this.roc);
    const packet = Buffer.concat([rtp.subarray(0, headerLength), payload]);
    return Buffer.concat([packet, this.tag(packet, this.roc)]);
  }

  /** The plain RTP packet, or null when the authentication tag does not verify (§3.3). */
  unprotect(srtp: Buffer): Buffer | null {
    if (srtp.length < 12 + AUTH_TAG_BYTES) return null;
    const packet = srtp.subarray(0, srtp.length - AUTH_TAG_BYTES);
    const tag = srtp.subarray(srtp.length - AUTH_TAG_BYTES);
    const seq = packet.readUInt16BE(2);
    // §3.3.1: guess the index of a packet near the last one seen.
    let roc = this.roc;
    if (this.lastSeq !== null && seq < this.lastSeq && this.lastSeq - seq > 0x8000) roc++;
    if (!timingSafeEqual(this.tag(packet, roc), tag)) return null;
    this.roc = roc;
    this.lastSeq = seq;
    const headerLength = rtpHeaderLength(packet);
    return Buffer.concat([packet.subarray(0, headerLength), this.keystreamXor(packet, headerLength, roc)]);
  }

  /** §4.1.1: IV = (k_s·2^16) XOR (SSRC·2^64) XOR (i·2^16), i = ROC·2^16 + SEQ. */
  private keystreamXor(packet: Buffer, headerLength: number, roc: number): Buffer {
    const iv = Buffer.alloc(16);
    this.keys.salt.copy(iv, 0);
    const ssrc = packet.readUInt32BE(8);
    const index = BigInt(roc) * 65536n + BigInt(packet.readUInt16BE(2));
    const ivSsrc = iv.readUInt32BE(4) ^ ssrc;
    iv.writeUInt32BE(ivSsrc >>> 0, 4);
    const indexBytes = Buffer.alloc(8);
    indexBytes.writeBigUInt64BE(index);
    for (let i = 0; i < 6; i++) iv[8 + i] = iv[8 + i]! ^ indexBytes[2 + i]!;
    const cipher = createCipheriv('aes-128-ctr', this.keys.cipherKey, iv);
    return cipher.update(packet.subarray(headerLength));
  }

  /** §4.2: HMAC-SHA1 over the packet and the ROC, truncated to 80 bits. */
  private tag(packet: Buffer, roc: number): Buffer {
    const rocBytes = Buffer.alloc(4);
    rocBytes.writeUInt32BE(roc >>> 0);
    return createHmac('sha1', this.keys.authKey).update(packet).update(rocBytes).digest().subarray(0, AUTH_TAG_BYTES);
  }
}

/** Fixed header, CSRCs and the extension (RFC 3550 §5.1, §5.3.1): what SRTP leaves in clear. */
export function rtpHeaderLength(rtp: Buffer): number {
  const csrcCount = rtp[0]! & 0x0f;
  let length = 12 + 4 * csrcCount;
  if (rtp[0]! & 0x10) length += 4 + 4 * rtp.readUInt16BE(length + 2);
  return length;
}
