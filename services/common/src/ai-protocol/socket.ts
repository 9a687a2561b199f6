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
  on(
    event: 'unexpected-response',
    listener: (req: unknown, res: { statusCode?: number; resume?: () => void }) => void,
  ): unknown;
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

/** ws's option for a Buffer that is a text message. */
const TEXT = { binary: false } as const;

/**
 * `ws`'s client WebSocket behind WebSocketLike. A text frame is handed to ws as a
 * Buffer: ws then masks it straight into the frame it allocates (RFC 6455 §5.3) and
 * writes one buffer, where a string costs a length scan, a conversion, an in-place
 * mask and a two-buffer writev. At 50 frames a second per call that difference shows.
 */
class WsClientSocket implements WebSocketLike {
  constructor(private readonly ws: WebSocket) {}

  get readyState(): number {
    return this.ws.readyState;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: string | Uint8Array): void {
    if (typeof data === 'string') this.ws.send(Buffer.from(data, 'utf8'), TEXT);
    else this.ws.send(data);
  }

  ping(): void {
    this.ws.ping();
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  on(event: string, listener: (...args: never[]) => void): this {
    this.ws.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  removeAllListeners(): this {
    this.ws.removeAllListeners();
    return this;
  }
}

/**
 * The production factory. No permessage-deflate: audio does not compress and the
 * CPU per call matters more than the bytes on a LAN.
 */
export const createWsSocket: WebSocketFactory = (url, protocols, options) =>
  new WsClientSocket(
    new WebSocket(url, protocols, {
      headers: { ...options.headers },
      handshakeTimeout: options.handshakeTimeoutMs,
      maxPayload: options.maxPayloadBytes,
      perMessageDeflate: false,
    }),
  );

/** A received message as one Buffer, whatever shape `ws` delivered. */
export function messageBytes(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
