import WebSocket from 'ws';

/**
 * The few socket methods the AI stream uses; `ws`'s client WebSocket is the adapter.
 * Tests can hand in anything that behaves like this.
 */
export interface WebSocketLike {
  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (the WHATWG numbers) */
  readonly readyState: number;
  /** bytes accepted by send() and not yet written to the network */
  readonly bufferedAmount: number;
  send(data: string | Uint8Array): void;
  ping(): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): unknown;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'pong', listener: () => void): unknown;
  on(event: 'unexpected-response', listener: (req: unknown, res: { statusCode?: number; resume?: () => void }) => void): unknown;
  removeAllListeners(): unknown;
}

export const WS_OPEN = 1;

export interface SocketOptions {
  /** upgrade-request headers (the twilio dialect's credentials) */
  readonly headers: Readonly<Record<string, string>>;
  readonly handshakeTimeoutMs: number;
  readonly maxPayloadBytes: number;
}

export type WebSocketFactory = (url: string, protocols: string[], options: SocketOptions) => WebSocketLike;

/**
 * The production factory. No permessage-deflate: audio does not compress and the
 * CPU per call matters more than the bytes on a LAN.
 */
export const createWsSocket: WebSocketFactory = (url, protocols, options) =>
  new WebSocket(url, protocols, {
    headers: { ...options.headers },
    handshakeTimeout: options.handshakeTimeoutMs,
    maxPayload: options.maxPayloadBytes,
    perMessageDeflate: false,
  });

/** A received message as one Buffer, whatever shape `ws` delivered. */
export function messageBytes(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
