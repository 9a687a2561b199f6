import { EventEmitter } from 'node:events';
import { CLOSE_CODES } from '../../../common/src/ai-protocol/close-codes';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { TransferMode } from '../../../common/src/ai-protocol/wire/olib';
import { createAuthMaterial, type AuthMaterial, type AuthSecrets } from '../../../common/src/ai-protocol/auth';
import { nextReconnectDelay, type ReconnectPolicy } from './backoff';
import {
  createDialect,
  type AiMessage,
  type CallEvent,
  type CallInfo,
  type GatewayDialect,
  type UlawTranscoder,
} from './dialects';
import { createUlawTranscoder } from './dialects/ulaw-transcoder';
import { AiStreamError } from './errors';
import { OutboundQueue, type WireFrame } from './queue';
import {
  createWsSocket,
  messageBytes,
  WS_OPEN,
  type WebSocketFactory,
  type WebSocketLike,
} from '../../../common/src/ai-protocol/socket';
import { transition, type StreamState } from './state';
import { FRAME_MS, FRAME_SAMPLES_16K, durationMs16k } from '../../../common/src/ai-protocol/wire/pcm';

/** The logger methods the stream uses (a winston logger fits). */
export interface StreamLogger {
  debug(message: string, meta?: object): unknown;
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

export interface AiStreamOptions {
  readonly url: string;
  readonly dialect: Dialect;
  readonly call: CallInfo;
  readonly secrets: AuthSecrets;
  readonly reconnect: ReconnectPolicy;
  readonly queue: {
    /** caller audio that may wait for the socket; the oldest is dropped beyond it */
    readonly maxBufferedMs: number;
    /** playout depth at which the AI is asked to pause (olib/binary `flow`); default 4000 */
    readonly playoutPauseMs?: number;
    /** playout depth at which it may resume; default 1000 */
    readonly playoutResumeMs?: number;
  };
  /** WebSocket ping + app-level `ping` period; 0 disables. Silence for 2 periods = socket lost. */
  readonly heartbeatMs: number;
  readonly logger?: StreamLogger;
  readonly wsFactory?: WebSocketFactory;
  /** handshake + acceptance deadline of the first connection (and cap per reconnect attempt); default 5000 */
  readonly connectTimeoutMs?: number;
  /** how long end() waits for the AI to close after `call_end`; default 1000 */
  readonly closeTimeoutMs?: number;
  readonly clock?: () => number;
  readonly random?: () => number;
  readonly transcoder?: () => UlawTranscoder;
}

export interface AiSmsRequest {
  readonly text: string;
  readonly to: string | undefined;
  readonly inReplyTo: string | undefined;
}

export interface AiStreamEvents {
  /** AI speech, PCM16 16 kHz mono, any length (the gateway re-frames) */
  audio: [pcm16k: Int16Array];
  /** barge-in: drop everything queued for playout, now */
  clear: [];
  /** acknowledge with markPlayed(name, …) once the audio received before it has played */
  mark: [name: string];
  text: [text: string, final: boolean];
  hangup: [reason: string];
  transfer: [target: string, mode: TransferMode];
  /** warm transfer: join the caller to the target (`complete`) or return to the caller (`cancel`) */
  transfer_complete: [];
  transfer_cancel: [];
  /** the AI asks the gateway to put the caller on hold (music) or take it off */
  hold_request: [action: 'hold' | 'resume'];
  send_dtmf: [digits: string, durationMs: number | undefined];
  sms: [request: AiSmsRequest];
  /** the socket was lost; attempt n is scheduled (play hold audio) */
  reconnecting: [attempt: number];
  reconnected: [];
  /** the AI is gone for good (window spent, credentials refused); end the call */
  down: [reason: string];
  error: [error: AiStreamError];
}

export interface AiStreamStats {
  readonly state: StreamState;
  /** caller audio frames written to the socket */
  readonly framesSent: number;
  /** caller audio frames dropped (oldest first) because the socket could not keep up */
  readonly framesDropped: number;
  readonly framesQueued: number;
  readonly controlDropped: number;
  readonly audioChunksReceived: number;
  readonly audioMsReceived: number;
  readonly badFrames: number;
  /** sockets the AI accepted, the first included */
  readonly connects: number;
  readonly reconnects: number;
  readonly reconnectAttempts: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_CLOSE_TIMEOUT_MS = 1000;
const DEFAULT_PLAYOUT_PAUSE_MS = 4000;
const DEFAULT_PLAYOUT_RESUME_MS = 1000;
/** Above this much in the socket's own buffer, audio waits in our queue, where it can be dropped. */
const SOCKET_HIGH_WATER_FRAMES = 5;
const DRAIN_RETRY_MS = FRAME_MS;
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const DTMF_DIGIT = /^[0-9A-D*#]$/;

/**
 * One call's WebSocket to the AI platform, in one of three dialects. Owns its socket
 * and every timer; `end()` and `close()` are idempotent and leave nothing behind.
 * A socket lost mid-call is replaced (exponential backoff with jitter, for up to
 * `reconnect.maxDownMs`) and re-authenticated with `reconnected: true` and the same
 * call id; caller audio meanwhile waits in the bounded queue.
 */
export class AiStream extends EventEmitter<AiStreamEvents> {
  private currentState: StreamState = 'idle';
  private readonly dialect: GatewayDialect;
  private readonly queue: OutboundQueue;
  private readonly factory: WebSocketFactory;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly connectTimeoutMs: number;
  private readonly closeTimeoutMs: number;

  private socket: WebSocketLike | undefined;
  private accepted = false;
  private everAccepted = false;
  private lastSocketError = '';
  /** reconnect attempt in progress or scheduled; 0 while connected or on the first connection */
  private attempt = 0;
  private downSince = 0;
  private remoteHungUp = false;
  private flowPaused = false;
  private playoutDepthMs = 0;
  private lastInboundAt = 0;
  private pingId = 0;
  private audioWireBytes = 0;
  private lastErrorReplyAt = Number.NEGATIVE_INFINITY;

  private connectTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;

  private pendingStart: { resolve: () => void; reject: (err: AiStreamError) => void } | undefined;
  private ended: Promise<void> | undefined;
  private resolveEnded: (() => void) | undefined;

  private counters = {
    framesSent: 0,
    controlDropped: 0,
    audioChunksReceived: 0,
    audioMsReceived: 0,
    badFrames: 0,
    connects: 0,
    reconnects: 0,
    reconnectAttempts: 0,
  };

  constructor(private readonly options: AiStreamOptions) {
    super();
    if (options.queue.maxBufferedMs < FRAME_MS) throw new TypeError(`queue.maxBufferedMs must be at least ${FRAME_MS}`);
    if (options.reconnect.initialDelayMs <= 0 || options.reconnect.maxDelayMs < options.reconnect.initialDelayMs) {
      throw new TypeError('reconnect delays must be positive and maxDelayMs ≥ initialDelayMs');
    }
    this.dialect = createDialect(options.dialect, options.call, options.transcoder ?? createUlawTranscoder);
    this.queue = new OutboundQueue(Math.floor(options.queue.maxBufferedMs / FRAME_MS));
    this.factory = options.wsFactory ?? createWsSocket;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  }

  get state(): StreamState {
    return this.currentState;
  }

  get stats(): AiStreamStats {
    return {
      ...this.counters,
      state: this.currentState,
      framesDropped: this.queue.droppedAudio,
      framesQueued: this.queue.audioLength,
      controlDropped: this.queue.droppedControl,
    };
  }

  /** Connects and authenticates; resolves once the AI accepted, rejects with an {@link AiStreamError}. */
  start(): Promise<void> {
    if (this.currentState !== 'idle')
      return Promise.reject(new TypeError('start() may be called once, on a new stream'));
    this.setState('connecting');
    return new Promise<void>((resolve, reject) => {
      this.pendingStart = { resolve, reject };
      void this.connect();
    });
  }

  /** One 20 ms frame of caller audio: 320 samples of PCM16 at 16 kHz. */
  sendAudio(frame16k: Int16Array): void {
    if (frame16k.length !== FRAME_SAMPLES_16K)
      throw new TypeError(`an audio frame is ${FRAME_SAMPLES_16K} samples, not ${frame16k.length}`);
    if (this.currentState === 'closing' || this.currentState === 'closed') return;
    // Encode now, even if the frame is dropped later: sequence numbers and resampler
    // state follow the caller's clock, so a drop shows as a gap, not as a time warp.
    const wire = this.dialect.audio(frame16k, this.clock());
    this.audioWireBytes = typeof wire === 'string' ? wire.length : wire.byteLength;
    if (this.queue.length === 0 && this.writable()) {
      this.write(wire);
      this.counters.framesSent++;
      return;
    }
    this.queue.pushAudio(wire);
    this.flush();
  }

  sendDtmf(digit: string, durationMs: number): void {
    if (!DTMF_DIGIT.test(digit)) throw new TypeError(`not a DTMF digit: ${digit}`);
    this.sendControl(this.dialect.dtmf(digit, durationMs));
  }

  /** The audio before mark `name` has played (`truncated`: cut short by `clear`, `playedMs` is what was heard). */
  markPlayed(name: string, playedMs: number, truncated: boolean): void {
    this.sendControl(this.dialect.markPlayed(name, playedMs, truncated));
  }

  sendEvent(event: CallEvent): void {
    const frame = this.dialect.event(event, this.clock());
    if (frame === null) {
      this.options.logger?.debug('ai-stream: event has no message in this dialect', {
        type: event.type,
        dialect: this.dialect.name,
      });
      return;
    }
    this.sendControl(frame);
  }

  /** Tells the AI a request of its own failed (olib/binary `error`; Twilio has no such message). */
  reportError(code: string, message: string): void {
    this.sendControl(this.dialect.error(code, message));
  }

  /**
   * The gateway reports its playout queue depth (ms of AI audio not yet played).
   * Crossing `playoutPauseMs` upwards sends `flow: paused`, falling to
   * `playoutResumeMs` sends `flow: resumed` (olib/binary; Twilio has no such message).
   */
  reportPlayoutDepth(bufferedMs: number): void {
    this.playoutDepthMs = bufferedMs;
    const pauseAt = this.options.queue.playoutPauseMs ?? DEFAULT_PLAYOUT_PAUSE_MS;
    const resumeAt = this.options.queue.playoutResumeMs ?? DEFAULT_PLAYOUT_RESUME_MS;
    if (!this.flowPaused && bufferedMs >= pauseAt) {
      this.flowPaused = true;
      this.sendControl(this.dialect.flow('paused', bufferedMs));
    } else if (this.flowPaused && bufferedMs <= resumeAt) {
      this.flowPaused = false;
      this.sendControl(this.dialect.flow('resumed', bufferedMs));
    }
  }

  /**
   * The call ended: sends the dialect's end (`call_end` / `stop`), closes the socket
   * and never reconnects. Resolves once the socket is closed (or given up on).
   */
  end(reason: string): Promise<void> {
    if (this.ended) return this.ended;
    if (this.currentState === 'closed') return (this.ended = Promise.resolve());
    this.ended = new Promise<void>((resolve) => (this.resolveEnded = resolve));
    switch (this.currentState) {
      case 'open': {
        const socket = this.socket as WebSocketLike;
        this.setState('closing');
        this.queue.clearAudio();
        this.stopTimers();
        for (let next = this.queue.shift(); next; next = this.queue.shift()) this.write(next.frame);
        this.write(this.dialect.end(reason, this.clock()));
        try {
          socket.close(CLOSE_CODES.NORMAL, truncateReason(reason));
        } catch {
          this.finish();
          break;
        }
        this.closeTimer = setTimeout(() => this.finish(), this.closeTimeoutMs);
        break;
      }
      case 'closing':
        break;
      default:
        this.close();
    }
    return this.ended;
  }

  /** Tears everything down at once, with no goodbye. Idempotent. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.pendingStart?.reject(new AiStreamError('ERR_AI_STREAM_CLOSED'));
    this.pendingStart = undefined;
    this.finish();
  }

  // ─── connection attempts ──────────────────────────────────────────────────────

  private async connect(): Promise<void> {
    let auth: AuthMaterial;
    try {
      auth = await createAuthMaterial(this.options.secrets, this.options.call.callId, this.everAccepted, this.clock());
    } catch (err) {
      this.attemptFailed(
        new AiStreamError('ERR_AI_CONNECT_FAILED', `could not sign credentials: ${(err as Error).message}`),
        true,
      );
      return;
    }
    if (this.currentState !== 'connecting') return; // ended while signing
    const timeoutMs = this.attemptTimeoutMs();
    let socket: WebSocketLike;
    try {
      socket = this.factory(this.options.url, [], {
        headers: this.dialect.handshakeHeaders(auth),
        handshakeTimeoutMs: timeoutMs,
        maxPayloadBytes: MAX_PAYLOAD_BYTES,
      });
    } catch (err) {
      this.attemptFailed(new AiStreamError('ERR_AI_CONNECT_FAILED', (err as Error).message), true);
      return;
    }
    this.socket = socket;
    this.accepted = false;
    this.lastSocketError = '';
    this.connectTimer = setTimeout(() => {
      if (socket !== this.socket) return;
      this.disposeSocket();
      this.attemptFailed(new AiStreamError('ERR_AI_CONNECT_TIMEOUT', `no acceptance within ${timeoutMs} ms`), false);
    }, timeoutMs);
    socket.on('open', () => {
      if (socket !== this.socket) return;
      for (const frame of this.dialect.opening(auth, this.clock())) this.write(frame);
      if (!this.dialect.awaitsAcceptance) this.onAccepted();
    });
    socket.on('message', (data, isBinary) => {
      if (socket === this.socket) this.onMessage(messageBytes(data), isBinary);
    });
    socket.on('pong', () => {
      if (socket === this.socket) this.lastInboundAt = this.clock();
    });
    socket.on('error', (err) => {
      // 'close' always follows; remember why, for the verdict there.
      if (socket === this.socket) this.lastSocketError = err.message;
    });
    socket.on('close', (code, reason) => {
      if (socket === this.socket) this.onClose(code, reason.toString('utf8'));
    });
  }

  private attemptTimeoutMs(): number {
    if (this.attempt === 0) return this.connectTimeoutMs;
    const remaining = this.options.reconnect.maxDownMs - (this.clock() - this.downSince);
    return Math.max(1, Math.min(this.connectTimeoutMs, remaining));
  }

  private onAccepted(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.accepted = true;
    const reconnected = this.everAccepted;
    this.everAccepted = true;
    this.counters.connects++;
    this.lastInboundAt = this.clock();
    this.setState('open');
    this.startHeartbeat();
    if (reconnected && this.flowPaused) {
      // The new socket's AI knows nothing of the old one's flow state.
      const paused = this.dialect.flow('paused', this.playoutDepthMs);
      if (paused !== null) this.queue.pushControl(paused);
    }
    this.flush();
    if (this.pendingStart) {
      const { resolve } = this.pendingStart;
      this.pendingStart = undefined;
      resolve();
      return;
    }
    this.options.logger?.info('ai-stream: reconnected', { call_id: this.options.call.callId, attempts: this.attempt });
    this.counters.reconnects++;
    this.attempt = 0;
    this.emit('reconnected');
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.ending()) return;
    this.lastInboundAt = this.clock();
    const decoded = this.dialect.decode(data, isBinary);
    if (!decoded.ok) {
      this.badFrame(decoded.reason);
      return;
    }
    const socket = this.socket;
    for (const message of decoded.messages) {
      // A listener may have ended the stream (or a reconnect replaced the socket).
      if (socket !== this.socket || this.ending()) return;
      this.handle(message);
    }
  }

  private handle(message: AiMessage): void {
    if (!this.accepted) {
      if (message.kind === 'error') {
        // Refused before acceptance: credentials, or the AI will not take this call.
        const code = /AUTH/i.test(message.code) ? 'ERR_AI_AUTH_REJECTED' : 'ERR_AI_REMOTE_ERROR';
        this.disposeSocket();
        this.attemptFailed(
          new AiStreamError(code, message.message ?? message.code, { remoteCode: message.code }),
          true,
        );
        return;
      }
      // An AI that skips `auth_ok` is taken to have accepted by talking.
      this.onAccepted();
      if (message.kind === 'accepted') return;
    }
    switch (message.kind) {
      case 'accepted':
        return;
      case 'audio':
        this.counters.audioChunksReceived++;
        this.counters.audioMsReceived += durationMs16k(message.pcm.length);
        this.emit('audio', message.pcm);
        return;
      case 'text':
        this.emit('text', message.text, message.final);
        return;
      case 'clear':
        this.emit('clear');
        return;
      case 'mark':
        this.emit('mark', message.name);
        return;
      case 'hangup':
        this.remoteHungUp = true;
        this.emit('hangup', message.reason);
        return;
      case 'transfer':
        this.emit('transfer', message.target, message.mode);
        return;
      case 'transfer_complete':
      case 'transfer_cancel':
        this.emit(message.kind);
        return;
      case 'hold':
      case 'resume':
        this.emit('hold_request', message.kind);
        return;
      case 'send_dtmf':
        this.emit('send_dtmf', message.digits, message.durationMs);
        return;
      case 'sms':
        this.emit('sms', { text: message.text, to: message.to, inReplyTo: message.inReplyTo });
        return;
      case 'ping':
        this.sendControl(this.dialect.pong(message.id));
        return;
      case 'pong':
        return;
      case 'error':
        this.emitError(
          new AiStreamError('ERR_AI_REMOTE_ERROR', message.message ?? message.code, { remoteCode: message.code }),
        );
        return;
    }
  }

  private onClose(code: number, reason: string): void {
    const wasAccepted = this.accepted;
    this.disposeSocket();
    if (this.currentState === 'closing') {
      this.finish();
      return;
    }
    if (!wasAccepted) {
      const refused =
        code === CLOSE_CODES.AUTH_FAILED ||
        code === CLOSE_CODES.FORBIDDEN ||
        /Unexpected server response: 40[13]\b/.test(this.lastSocketError);
      const detail = { closeCode: code, closeReason: reason, socketError: this.lastSocketError || undefined };
      if (refused) this.attemptFailed(new AiStreamError('ERR_AI_AUTH_REJECTED', reason || undefined, detail), true);
      else
        this.attemptFailed(
          new AiStreamError('ERR_AI_CONNECT_FAILED', this.lastSocketError || `socket closed (${code})`, detail),
          false,
        );
      return;
    }
    // Open, then closed by the far end.
    if (this.remoteHungUp || code === CLOSE_CODES.NORMAL) {
      const hungUp = this.remoteHungUp;
      this.finish();
      // docs/ai-protocol.md: a close 1000 without `hangup` is a hangup with reason
      // `ai_closed`; the close frame's own text is free-form and only logged.
      if (!hungUp) {
        if (reason)
          this.options.logger?.info('ai-stream: AI closed the socket', {
            call_id: this.options.call.callId,
            closeReason: reason.slice(0, 123),
          });
        this.emit('hangup', 'ai_closed');
      }
      return;
    }
    if (code === CLOSE_CODES.AUTH_FAILED || code === CLOSE_CODES.FORBIDDEN) {
      this.goDown('auth_rejected');
      return;
    }
    if (code >= 4000 && code <= 4999) {
      this.goDown(`ai_closed_${code}${reason ? `: ${reason}` : ''}`);
      return;
    }
    this.lost(`socket closed (${code}${this.lastSocketError ? `, ${this.lastSocketError}` : ''})`);
  }

  /** A failed connection attempt (never accepted). The first one rejects start(). */
  private attemptFailed(error: AiStreamError, fatal: boolean): void {
    if (this.currentState !== 'connecting') return;
    if (this.pendingStart) {
      const { reject } = this.pendingStart;
      this.pendingStart = undefined;
      this.finish();
      reject(error);
      return;
    }
    this.options.logger?.debug('ai-stream: reconnect attempt failed', {
      call_id: this.options.call.callId,
      attempt: this.attempt,
      code: error.code,
      message: error.message,
    });
    if (fatal) this.goDown(error.code === 'ERR_AI_AUTH_REJECTED' ? 'auth_rejected' : `ai_refused: ${error.message}`);
    else this.scheduleReconnect();
  }

  /** The accepted socket is gone without a goodbye: hold on and try again. */
  private lost(why: string): void {
    this.options.logger?.warn('ai-stream: connection lost, reconnecting', { call_id: this.options.call.callId, why });
    this.downSince = this.clock();
    this.attempt = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.attempt++;
    const delay = nextReconnectDelay(this.attempt, this.clock() - this.downSince, this.options.reconnect, this.random);
    if (delay === null) {
      this.goDown('ai_unreachable');
      return;
    }
    this.setState('reconnecting');
    this.counters.reconnectAttempts++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.setState('connecting');
      void this.connect();
    }, delay);
    this.emit('reconnecting', this.attempt);
  }

  private goDown(reason: string): void {
    this.options.logger?.warn('ai-stream: AI platform down, giving up', { call_id: this.options.call.callId, reason });
    this.finish();
    this.emit('down', reason);
  }

  // ─── sending ──────────────────────────────────────────────────────────────────

  private writable(): boolean {
    if (this.currentState !== 'open' || !this.socket || this.socket.readyState !== WS_OPEN) return false;
    const highWater = Math.max(this.audioWireBytes, 1024) * SOCKET_HIGH_WATER_FRAMES;
    return this.socket.bufferedAmount <= highWater;
  }

  private write(frame: WireFrame): void {
    try {
      this.socket?.send(frame);
    } catch (err) {
      this.lastSocketError = (err as Error).message;
    }
  }

  private sendControl(frame: WireFrame | null): void {
    if (frame === null || this.currentState === 'closing' || this.currentState === 'closed') return;
    if (this.queue.length === 0 && this.writable()) {
      this.write(frame);
      return;
    }
    this.queue.pushControl(frame);
    this.flush();
  }

  /** Moves queued frames to the socket while it keeps up; retries on a short timer otherwise. */
  private flush(): void {
    while (this.queue.length > 0 && this.writable()) {
      const gap = this.queue.audioLength > 0 && this.queue.controlLength === 0 ? this.queue.takeDroppedAudio() : 0;
      if (gap > 0) {
        const notice = this.dialect.gap(gap);
        if (notice !== null) this.write(notice);
      }
      const next = this.queue.shift();
      if (!next) break;
      this.write(next.frame);
      if (next.kind === 'audio') this.counters.framesSent++;
    }
    if (this.queue.length > 0 && this.currentState === 'open' && !this.drainTimer) {
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        this.flush();
      }, DRAIN_RETRY_MS);
    }
  }

  private badFrame(reason: string): void {
    this.counters.badFrames++;
    this.emitError(new AiStreamError('ERR_AI_BAD_FRAME', reason));
    // Tell the AI's developers, at most once a second.
    const now = this.clock();
    if (now - this.lastErrorReplyAt >= 1000) {
      this.lastErrorReplyAt = now;
      this.sendControl(this.dialect.error('ERR_BAD_FRAME', reason));
    }
  }

  private emitError(error: AiStreamError): void {
    // An 'error' event without a listener would throw; a bad frame must never crash the gateway.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else
      this.options.logger?.warn('ai-stream: error', {
        call_id: this.options.call.callId,
        code: error.code,
        message: error.message,
      });
  }

  // ─── heartbeat ────────────────────────────────────────────────────────────────

  private startHeartbeat(): void {
    const period = this.options.heartbeatMs;
    if (period <= 0) return;
    this.heartbeatTimer = setInterval(() => {
      const socket = this.socket;
      if (!socket || this.currentState !== 'open') return;
      if (this.clock() - this.lastInboundAt > 2 * period) {
        this.disposeSocket();
        this.lost('heartbeat timeout');
        return;
      }
      try {
        socket.ping();
      } catch (err) {
        this.lastSocketError = (err as Error).message;
      }
      this.pingId++;
      this.sendControl(this.dialect.ping(this.pingId, this.clock()));
    }, period);
  }

  // ─── lifecycle ────────────────────────────────────────────────────────────────

  /** A method, not an inline test: listeners called in between may change the state. */
  private ending(): boolean {
    return this.currentState === 'closing' || this.currentState === 'closed';
  }

  private setState(to: StreamState): void {
    this.currentState = transition(this.currentState, to);
  }

  private stopTimers(): void {
    for (const timer of [this.connectTimer, this.reconnectTimer, this.drainTimer, this.closeTimer]) clearTimeout(timer);
    clearInterval(this.heartbeatTimer);
    this.connectTimer = this.reconnectTimer = this.drainTimer = this.closeTimer = this.heartbeatTimer = undefined;
  }

  /** Drops the current socket: no more events from it, and it is closed for sure. */
  private disposeSocket(): void {
    this.stopTimers();
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    this.accepted = false;
    socket.removeAllListeners();
    socket.on('error', () => undefined); // a late error from a dropped socket is nobody's business
    try {
      socket.terminate();
    } catch {
      // already closed
    }
  }

  /** The one way into `closed`: every timer and the socket go, end() resolves. */
  private finish(): void {
    this.disposeSocket();
    this.queue.clearAudio();
    if (this.currentState !== 'closed') this.setState('closed');
    this.resolveEnded?.();
    this.resolveEnded = undefined;
  }
}

/** RFC 6455 §5.5: a close frame's body is at most 125 bytes, 2 of them the code. */
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 123
    ? reason
    : bytes
        .subarray(0, 123)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
}
