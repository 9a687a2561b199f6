// Types for bencode@2 (CommonJS). @types/bencode describes another major version.
declare module 'bencode' {
  interface Bencode {
    /** Dictionaries are written with sorted keys; null/undefined values are skipped. */
    encode(data: unknown): Buffer;
    /** With an encoding, byte strings (dictionary keys included) come back as strings. */
    decode(data: Buffer | string, encoding?: BufferEncoding): unknown;
    decode(data: Buffer | string, start?: number, end?: number, encoding?: BufferEncoding): unknown;
    byteLength(data: unknown): number;
    encodingLength(data: unknown): number;
  }
  const bencode: Bencode;
  export = bencode;
}
