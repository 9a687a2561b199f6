import bencode from 'bencode';
import { CodedError } from '../../errors';

/**
 * The NG protocol's dictionary document (rtpengine README, "The ng Control
 * Protocol"): bencode, which has byte strings, integers, lists and dictionaries
 * only. Strings travel as UTF-8; SDP bodies are ASCII anyway (RFC 4566 §5).
 */
export type NgValue = string | number | readonly NgValue[] | NgDict;
export interface NgDict {
  readonly [key: string]: NgValue | undefined;
}

/** Not a bencoded dictionary; the client wraps it into a `RelayProtocolError` naming the command. */
export class NgDecodeError extends CodedError<'ERR_RELAY_PROTOCOL'> {
  constructor(message: string) {
    super('ERR_RELAY_PROTOCOL', message);
  }
}

const DICTIONARY_START = 0x64; // 'd'

/** Encodes a request dictionary. Undefined values are left out. */
export function encodeNgDict(dict: NgDict): Buffer {
  assertEncodable(dict, 'dict');
  return bencode.encode(dict);
}

/** Decodes a reply dictionary; throws {@link NgDecodeError} on anything else. */
export function decodeNgDict(body: Buffer): NgDict {
  if (body.length === 0 || body[0] !== DICTIONARY_START) {
    throw new NgDecodeError('not a bencoded dictionary');
  }
  let value: unknown;
  try {
    value = bencode.decode(body, 'utf8');
  } catch (err) {
    throw new NgDecodeError(`malformed bencode: ${(err as Error).message}`);
  }
  if (!isDict(value)) throw new NgDecodeError('not a bencoded dictionary');
  return value;
}

export function isDict(value: unknown): value is NgDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** A string field, or undefined when absent or of another type. */
export function ngString(dict: NgDict, key: string): string | undefined {
  const value = dict[key];
  return typeof value === 'string' ? value : undefined;
}

/** An integer field, or undefined when absent or of another type. */
export function ngNumber(dict: NgDict, key: string): number | undefined {
  const value = dict[key];
  return typeof value === 'number' ? value : undefined;
}

export function ngDict(dict: NgDict, key: string): NgDict | undefined {
  const value = dict[key];
  return isDict(value) ? value : undefined;
}

export function ngList(dict: NgDict, key: string): readonly NgValue[] {
  const value = dict[key];
  return Array.isArray(value) ? (value as readonly NgValue[]) : [];
}

function assertEncodable(value: unknown, path: string): void {
  if (value === undefined || typeof value === 'string') return;
  if (typeof value === 'number') {
    // bencode integers only (BEP 3); bencode@2 would silently truncate.
    if (!Number.isSafeInteger(value)) throw new TypeError(`${path}: NG values must be integers, got ${value}`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertEncodable(item, `${path}[${i}]`));
    return;
  }
  if (isDict(value)) {
    for (const [key, item] of Object.entries(value)) assertEncodable(item, `${path}.${key}`);
    return;
  }
  throw new TypeError(`${path}: ${typeof value} cannot be bencoded`);
}
