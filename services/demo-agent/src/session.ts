import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type WebSocket from 'ws';
import { verifyAuth, type AuthSecrets } from '../../common/src/ai-protocol/auth';
import { CLOSE_CODES } from '../../common/src/ai-protocol/close-codes';
import type { Prompts } from './audio/prompts';
import { Conversation, isMode, type Mode } from './conversation';
import type { AgentDialect, Credentials, GatewayEvent, WireFrame } from './dialects';
import { smsReplyText, type ReceivedSms } from './sms';
import type { SpeakerOptions } from './speaker';

/** The parts of a logger a session uses. */
export interface SessionLogger {
  debug(message: string, meta?: object): unknown;
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

export interface SessionDeps {
  readonly secrets: AuthSecrets;
  readonly defaultMode: Mode;
  readonly prompts: Prompts;
  readonly logger: SessionLogger;
  readonly authTimeoutMs?: number;
  readonly speaker?: SpeakerOptions;
  readonly clock?: () => number;
}

/** What the agent saw in one session, for tests and logs. */
export interface SessionStats {
  audioFrames: number;
  audioBytes: number;
  /** olib `sequence` / twilio `chunk` values that did not follow the previous one */
  sequenceGaps: number;
  lastSequence: number | undefined;
  dtmf: string[];
  marksAcked: { name: string; playedMs: number | undefined; truncated: boolean | undefined }[];
  badFrames: number;
  endReason: string | undefined;
  /** message ids of the SMS received (in a call or in an SMS session) */
  sms: string[];
}

export interface SessionEvents {
  authenticated: [info: { callId: string; reconnected: boolean; mode: Mode }];
  rejected: [code: string];
  sms: [sms: ReceivedSms];
  closed: [];
}

/**
 * One gateway connection: a call, or an SMS delivery from the control-plane.
 *
 *   authenticating ──credentials ok──► active ──call_end / stop / socket closed──► closed
 *         │ (twilio: awaiting `start`) │
 *         └──── bad credentials: `error` frame, close 4401 ────────────────────────► closed
 *
 * An SMS session (`auth` with `"session":"sms"`, the message id as `call_id`) is
 * `active` without a conversation: each `sms` for the authenticated message gets the
 * reply, then `sms_ack`; the control-plane closes.
 *
 * Frames that arrive while the credentials are being checked wait (bounded) and are
 * handled in order afterwards.
 */
export type SessionState = 'authenticating' | 'starting' | 'active' | 'closed';

const EDGES: Readonly<Record<SessionState, readonly SessionState[]>> = {
  authenticating: ['starting', 'active', 'closed'],
  starting: ['active', 'closed'],
  active: ['closed'],
  closed: [],
};

const MAX_WAITING_FRAMES = 256;
const DEFAULT_AUTH_TIMEOUT_MS = 5000;

export class AgentSession extends EventEmitter<SessionEvents> {
  private state: SessionState = 'authenticating';
  private conversation: Conversation | undefined;
  private callId = '';
  private mode: Mode;
  private reconnected = false;
  private kind: 'call' | 'sms' = 'call';
  private verifying = false;
  private readonly waiting: { data: Buffer; isBinary: boolean }[] = [];
  private authTimer: NodeJS.Timeout | undefined;
  readonly stats: SessionStats = {
    audioFrames: 0,
    audioBytes: 0,
    sequenceGaps: 0,
    lastSequence: undefined,
    dtmf: [],
    marksAcked: [],
    badFrames: 0,
    endReason: undefined,
    sms: [],
  };

  constructor(
    private readonly socket: WebSocket,
    readonly dialect: AgentDialect,
    headers: IncomingHttpHeaders,
    private readonly deps: SessionDeps,
  ) {
    super();
    this.mode = deps.defaultMode;
    socket.on('message', (data: Buffer, isBinary) => this.onFrame(data, isBinary));
    socket.on('close', () => this.close());
    socket.on('error', (err) => deps.logger.debug('demo-agent: socket error', { message: err.message }));
    this.authTimer = setTimeout(
      () => this.refuse('ERR_AUTH_TIMEOUT', 'no credentials in time'),
      deps.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
    );
    const fromHeaders = dialect.headerCredentials(headers);
    if (fromHeaders) void this.verify(fromHeaders, undefined);
  }

  get sessionState(): SessionState {
    return this.state;
  }

  get call(): { callId: string; mode: Mode; reconnected: boolean } {
    return { callId: this.callId, mode: this.mode, reconnected: this.reconnected };
  }

  /** `sms` once an SMS session's credentials are accepted */
  get session(): 'call' | 'sms' {
    return this.kind;
  }

  /** Drops the TCP connection without a close frame (what a crash or a cable pull looks like). */
  terminate(): void {
    this.socket.terminate();
    this.close();
  }

  /** Asks the gateway to end the call. */
  hangup(reason: string): void {
    this.send(this.dialect.hangup(reason));
  }

  close(): void {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearTimeout(this.authTimer);
    this.conversation?.close();
    this.waiting.length = 0;
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING)
      this.socket.close(CLOSE_CODES.NORMAL);
    this.emit('closed');
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    if (this.verifying) {
      if (this.waiting.length < MAX_WAITING_FRAMES) this.waiting.push({ data, isBinary });
      return;
    }
    const decoded = this.dialect.decode(data, isBinary);
    if (!decoded.ok) {
      this.stats.badFrames++;
      this.deps.logger.warn('demo-agent: bad frame from the gateway', {
        reason: decoded.reason,
        dialect: this.dialect.name,
      });
      if (this.state === 'authenticating')
        this.refuse('ERR_AUTH_REQUIRED', `the first frame must be auth (${decoded.reason})`);
      return;
    }
    for (const event of decoded.events) this.handle(event);
  }

  private handle(event: GatewayEvent): void {
    if (this.state === 'closed') return;
    if (this.state === 'authenticating') {
      if (event.kind === 'auth') void this.verify(event.credentials, event.mode, event.session);
      else this.refuse('ERR_AUTH_REQUIRED', 'the first frame must be auth');
      return;
    }
    if (this.state === 'starting') {
      // twilio: `connected`, then `start` carries the mode.
      if (event.kind === 'end') this.close();
      if (event.kind === 'start') {
        if (event.callId !== this.callId) {
          this.refuse('ERR_AUTH_CALL_MISMATCH', 'start.callSid is not the authenticated call');
          return;
        }
        this.activate(event.mode, event.reconnected || this.reconnected);
      }
      return;
    }
    if (this.kind === 'sms') {
      this.handleSmsSession(event);
      return;
    }
    const conversation = this.conversation as Conversation;
    switch (event.kind) {
      case 'audio':
        this.stats.audioFrames++;
        this.stats.audioBytes += event.payload.length;
        if (event.sequence !== undefined) {
          if (this.stats.lastSequence !== undefined && event.sequence !== this.stats.lastSequence + 1)
            this.stats.sequenceGaps++;
          this.stats.lastSequence = event.sequence;
        }
        conversation.onAudio(event.payload);
        return;
      case 'dtmf':
        this.stats.dtmf.push(event.digit);
        conversation.onDtmf(event.digit);
        return;
      case 'mark':
        this.stats.marksAcked.push({ name: event.name, playedMs: event.playedMs, truncated: event.truncated });
        conversation.onMarkPlayed(event.name);
        return;
      case 'hold':
        conversation.pause(true);
        return;
      case 'resume':
        conversation.resume(true);
        return;
      case 'flow':
        if (event.paused) conversation.pause(false);
        else conversation.resume(false);
        return;
      case 'sms':
        this.answerSms(event, 'call');
        return;
      case 'ping': {
        const pong = this.dialect.pong(event.id);
        if (pong !== null) this.send(pong);
        return;
      }
      case 'end':
        this.stats.endReason = event.reason;
        this.close();
        return;
      case 'error':
        this.deps.logger.warn('demo-agent: the gateway reported an error', {
          code: event.code,
          message: event.message,
        });
        return;
      case 'auth':
      case 'start':
      case 'pong':
      case 'noop':
        return;
    }
  }

  /** SMS session: only `sms` (for the authenticated message), `ping` and `call_end` mean anything. */
  private handleSmsSession(event: GatewayEvent): void {
    switch (event.kind) {
      case 'sms': {
        if (event.messageId !== this.callId) {
          this.refuse('ERR_AUTH_MESSAGE_MISMATCH', 'sms.message_id is not the authenticated message');
          return;
        }
        this.answerSms(event, 'websocket');
        const ack = this.dialect.smsAck(event.messageId);
        if (ack !== null) this.send(ack);
        return;
      }
      case 'ping': {
        const pong = this.dialect.pong(event.id);
        if (pong !== null) this.send(pong);
        return;
      }
      case 'end':
        this.close();
        return;
      default:
        return;
    }
  }

  private answerSms(event: Extract<GatewayEvent, { kind: 'sms' }>, transport: 'websocket' | 'call'): void {
    this.stats.sms.push(event.messageId);
    this.emit('sms', { messageId: event.messageId, from: event.from, to: event.to, text: event.text, transport });
    const reply = this.dialect.sms(smsReplyText(event.text), event.from, event.messageId);
    if (reply !== null) this.send(reply);
  }

  private async verify(
    credentials: Credentials,
    mode: string | undefined,
    session: 'call' | 'sms' = 'call',
  ): Promise<void> {
    this.verifying = true;
    const verdict = await verifyAuth(this.deps.secrets, credentials, (this.deps.clock ?? Date.now)());
    this.verifying = false;
    if (this.state !== 'authenticating') return;
    if (!verdict.ok) {
      this.refuse(verdict.code, verdict.reason);
      return;
    }
    clearTimeout(this.authTimer);
    this.callId = credentials.callId;
    this.reconnected = credentials.reconnected;
    const accepted = this.dialect.accepted(this.callId);
    if (accepted !== null) this.send(accepted);
    if (session === 'sms') this.activateSms();
    else if (this.dialect.credentialsInHeaders) this.setState('starting');
    else this.activate(mode, credentials.reconnected);
    for (const frame of this.waiting.splice(0)) this.onFrame(frame.data, frame.isBinary);
  }

  private activate(requested: string | undefined, reconnected: boolean): void {
    if (requested !== undefined && !isMode(requested))
      this.deps.logger.warn('demo-agent: unknown mode, using the default', { requested });
    this.mode = isMode(requested) ? requested : this.deps.defaultMode;
    this.reconnected = reconnected;
    this.setState('active');
    this.conversation = new Conversation(
      this.mode,
      {
        speak: (pcm) => this.send(this.dialect.speak(pcm)),
        echo: (payload) => this.send(this.dialect.echo(payload)),
        text: (text) => {
          const frame = this.dialect.text(text);
          if (frame !== null) this.send(frame);
        },
        mark: (name) => this.send(this.dialect.mark(name)),
        clear: () => this.send(this.dialect.clear()),
      },
      this.deps.prompts,
      this.deps.speaker,
    );
    this.deps.logger.info('demo-agent: call connected', {
      callId: this.callId,
      dialect: this.dialect.name,
      mode: this.mode,
      reconnected,
    });
    this.emit('authenticated', { callId: this.callId, reconnected, mode: this.mode });
    this.conversation.start(reconnected);
  }

  private activateSms(): void {
    this.kind = 'sms';
    this.setState('active');
    this.deps.logger.info('demo-agent: SMS session', { messageId: this.callId, dialect: this.dialect.name });
  }

  private refuse(code: string, message: string): void {
    if (this.state === 'closed') return;
    this.deps.logger.warn('demo-agent: refusing the connection', { code, message, dialect: this.dialect.name });
    this.send(this.dialect.refused(code, message));
    this.emit('rejected', code);
    this.setState('closed');
    clearTimeout(this.authTimer);
    this.socket.close(CLOSE_CODES.AUTH_FAILED, code);
    this.emit('closed');
  }

  private send(frame: WireFrame): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame);
  }

  private setState(to: SessionState): void {
    if (!EDGES[this.state].includes(to)) throw new TypeError(`illegal session transition ${this.state} → ${to}`);
    this.state = to;
  }
}
