import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import type { Logger } from '../../../common/src/logger';
import { InvalidKamailioEventError, parseKamailioEvent, type KamailioEvent } from './events';
import { NetstringDecoder, NetstringError } from './netstring';

/** What the rest of the control-plane needs from the event stream. */
export interface KamailioEventSource {
  readonly connected: boolean;
  on(name: 'event', listener: (event: KamailioEvent) => void): unknown;
  off(name: 'event', listener: (event: KamailioEvent) => void): unknown;
  on(name: 'invalid', listener: (reason: string) => void): unknown;
  off(name: 'invalid', listener: (reason: string) => void): unknown;
  on(name: 'connected' | 'disconnected', listener: () => void): unknown;
  off(name: 'connected' | 'disconnected', listener: () => void): unknown;
}

export interface EvapiEvents {
  /** A validated event from Kamailio. */
  event: [KamailioEvent];
  /** A payload that was not a valid event (logged and dropped). */
  invalid: [reason: string];
  connected: [];
  disconnected: [];
  /** close() finished: no socket, no timer left. */
  closed: [];
}

export interface EvapiClientOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /** First reconnect delay; doubles per failed attempt up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly maxFrameBytes?: number;
}

/**
 * TCP client of Kamailio's evapi module. Kamailio is the server: it restarts, and
 * this client reconnects with exponential backoff until `close()`.
 *
 *   idle ──start()──► connecting ──► connected ──(socket closed)──► waiting ──(timer)──► connecting
 *     any state ──close()──► closed
 */
export type EvapiState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed';

export class EvapiClient extends EventEmitter<EvapiEvents> implements KamailioEventSource {
  private state: EvapiState = 'idle';
  private socket: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: EvapiClientOptions) {
    super();
    this.initialBackoffMs = options.initialBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  get currentState(): EvapiState {
    return this.state;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.connect();
  }

  /** Idempotent: ends the socket and any pending reconnect. */
  close(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.socket = null;
    if (wasConnected) this.emit('disconnected');
    this.emit('closed');
  }

  private connect(): void {
    this.state = 'connecting';
    const decoder = new NetstringDecoder(this.options.maxFrameBytes);
    const socket = createConnection({ host: this.options.host, port: this.options.port });
    this.socket = socket;
    socket.setKeepAlive(true, 30_000);
    socket.on('connect', () => {
      if (this.socket !== socket) return;
      this.state = 'connected';
      this.failures = 0;
      this.options.logger.info('evapi connected', { host: this.options.host, port: this.options.port });
      this.emit('connected');
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        if (!(err instanceof NetstringError)) throw err;
        // Framing is lost; only a new connection starts a clean stream.
        this.options.logger.error('evapi stream is not netstrings; reconnecting', { reason: err.message });
        this.emit('invalid', `framing: ${err.message}`);
        socket.destroy();
        return;
      }
      for (const frame of frames) this.deliver(frame);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // 'close' follows; repeated refusals while Kamailio is down are not news.
      const level = this.failures === 0 ? 'warn' : 'debug';
      this.options.logger.log(level, 'evapi connection error', { code: err.code, message: err.message });
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      const wasConnected = this.state === 'connected';
      if (this.state === 'closed') return;
      if (wasConnected) {
        this.options.logger.warn('evapi disconnected', { pending_bytes: decoder.pendingBytes });
        this.emit('disconnected');
      }
      this.scheduleReconnect();
    });
  }

  private deliver(frame: Buffer): void {
    let event: KamailioEvent;
    try {
      event = parseKamailioEvent(frame);
    } catch (err) {
      if (!(err instanceof InvalidKamailioEventError)) throw err;
      this.options.logger.warn('evapi event dropped', { reason: err.message, bytes: frame.length });
      this.emit('invalid', err.message);
      return;
    }
    this.emit('event', event);
  }

  private scheduleReconnect(): void {
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.failures, 20));
    // Up to 20 % jitter so that replicas do not reconnect in lockstep after a Kamailio restart.
    const delay = Math.round(base * (1 + Math.random() * 0.2));
    this.failures += 1;
    this.state = 'waiting';
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === 'waiting') this.connect();
    }, delay);
    this.timer.unref();
  }
}
