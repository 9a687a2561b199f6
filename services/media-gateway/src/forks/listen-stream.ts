import { authHeaders, createAuthMaterial, type AuthSecrets } from '../../../common/src/ai-protocol/auth';
import {
  createWsSocket,
  WS_OPEN,
  type WebSocketFactory,
  type WebSocketLike,
} from '../../../common/src/ai-protocol/socket';
import { backoffDelay, type ReconnectPolicy } from '../ai-stream/backoff';
import type { ListenFrames, Track } from './frames';

export interface ListenStreamLogger {
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

export interface ListenStreamOptions {
  readonly url: string;
  readonly frames: ListenFrames;
  readonly secrets: AuthSecrets;
  readonly reconnect: ReconnectPolicy;
  readonly connectTimeoutMs: number;
  readonly logger: ListenStreamLogger;
  /** One count per lost connection, refused handshake or failed attempt. */
  readonly onFailure: (reason: 'refused' | 'closed' | 'error') => void;
  readonly wsFactory?: WebSocketFactory;
}

/** Anything the AI sends on a listen-only stream is ignored; a huge frame closes the socket. */
const MAX_INBOUND_BYTES = 64 * 1024;

/**
 * A listen-only WebSocket to the AI platform: sends the opening frames and then
 * labelled audio, never reads anything back. When the socket fails it reconnects
 * with the AI stream's backoff; audio meanwhile is dropped (a listener does not
 * need the past replayed), and the call it copies never notices.
 *
 *   connecting ──open──► open ──close/error──► waiting ──timer──► connecting
 *   any ──close()──► closed
 */
export class ListenStream {
  private state: 'connecting' | 'open' | 'waiting' | 'closed' = 'connecting';
  private socket: WebSocketLike | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private connections = 0;
  private readonly factory: WebSocketFactory;
  /** Frames sent since start (for tests and the fork's result). */
  sent = 0;

  constructor(private readonly o: ListenStreamOptions) {
    this.factory = o.wsFactory ?? createWsSocket;
  }

  start(): void {
    void this.connect();
  }

  audio(track: Track, pcm8k: Int16Array): void {
    if (this.state !== 'open' || !this.socket || this.socket.readyState !== WS_OPEN) return;
    // A slow AI does not get an ever-growing buffer: past ~2 s of backlog, frames drop.
    if (this.socket.bufferedAmount > 64 * 1024) return;
    this.socket.send(this.o.frames.audio(track, pcm8k, Date.now()));
    this.sent++;
  }

  /** Idempotent: sends the end frame when open, then closes. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    const socket = this.socket;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket = null;
    if (!socket) return;
    socket.removeAllListeners();
    socket.on('error', () => undefined);
    if (socket.readyState === WS_OPEN) {
      socket.send(this.o.frames.end(reason));
      socket.close(1000, 'listen-only fork ended');
    } else socket.terminate();
  }

  private async connect(): Promise<void> {
    this.state = 'connecting';
    const callId = this.o.frames.callInfo.callId;
    const auth = await createAuthMaterial(this.o.secrets, callId, this.connections > 0);
    if (this.state !== 'connecting') return;
    let socket: WebSocketLike;
    try {
      socket = this.factory(this.o.url, [], {
        // Twilio-dialect agents read the credentials from the upgrade request, olib from the auth frame.
        headers: this.o.frames.dialect === 'twilio' ? authHeaders(auth) : {},
        handshakeTimeoutMs: this.o.connectTimeoutMs,
        maxPayloadBytes: MAX_INBOUND_BYTES,
      });
    } catch (err) {
      this.failed('error', (err as Error).message);
      return;
    }
    this.socket = socket;
    socket.on('open', () => {
      if (this.socket !== socket) return;
      this.state = 'open';
      this.attempt = 0;
      this.connections++;
      this.o.logger.info('listen-only stream connected', { call_id: callId, url: redactUrl(this.o.url) });
      for (const frame of this.o.frames.opening(auth)) socket.send(frame);
    });
    socket.on('message', () => undefined);
    socket.on('pong', () => undefined);
    socket.on('unexpected-response', (_req, res) => {
      res.resume?.();
      if (this.socket === socket) this.failed('refused', `handshake refused (${res.statusCode ?? '?'})`);
    });
    socket.on('error', (err) => {
      if (this.socket === socket) this.failed('error', err.message);
    });
    socket.on('close', (code) => {
      if (this.socket === socket) this.failed('closed', `closed (${code})`);
    });
  }

  private failed(reason: 'refused' | 'closed' | 'error', detail: string): void {
    if (this.state === 'closed' || this.state === 'waiting') return;
    const socket = this.socket;
    this.socket = null;
    socket?.removeAllListeners();
    socket?.on('error', () => undefined);
    socket?.terminate();
    this.o.onFailure(reason);
    this.attempt++;
    const delay = backoffDelay(this.attempt, this.o.reconnect);
    this.o.logger.warn('listen-only stream lost; the call goes on, reconnecting', {
      call_id: this.o.frames.callInfo.callId,
      reason: detail,
      retry_ms: delay,
    });
    this.state = 'waiting';
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === 'waiting') void this.connect();
    }, delay);
    this.timer.unref();
  }
}

/** The URL without credentials or query (a token in it must not reach a log line). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparseable)';
  }
}
