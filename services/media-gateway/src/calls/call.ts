import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { CallDirection } from '../../../common/src/ai-protocol/wire/olib';
import { PCMA, PCMU } from '../../../common/src/audio/g711';
import type { AiStream } from '../ai-stream';
import type { CallEvent } from '../ai-stream/dialects/types';
import { isStoppable } from '../media/clip';
import { StereoWavRecorder } from '../recording/wav';
import { CallHold, type HoldRequester } from './hold';
import { MediaLeg, type MediaLegDeps, type MusicSource, type RtpSocket } from './media-leg';
import type { CallStore } from './store';
import { SwitchableSocket } from './bridge';
import type { BridgeOutcome, CallHandle } from './handle';
import { RingAll } from './ring-all';
import { CallTransfer, TransferError, type TransferDeps, type TransferRequest, type TransferResult } from './transfer';

/**
 * One call: the SIP dialog (answered by the gateway's user agent, or placed by it:
 * see outbound.ts), the media leg (RTP ↔ PCM) and the WebSocket to the AI platform,
 * with the call's record. An incoming call starts with `answer()`, a call the
 * gateway placed with `connect()` once the far end answered; from there both run
 * the same media and AI machinery. A call for a menu or a queue starts with
 * `answerWithoutAi()`: media flows, the caller hears what `play` gives it, its key
 * presses go to `onDigit` listeners, until `connectAi` hands it to an AI or
 * `bridgeTo` joins it to a person (the CallHandle those drive, handle.ts).
 *
 *   answering ──► active ◄──► held
 *       │           │          │
 *       └───────────┴──────────┴──► ended
 *
 * Every way out (caller BYE, CANCEL, AI hangup, AI gone for good, transfer, gateway
 * shutdown, setup failure) goes through `end()`, which is idempotent and releases
 * the socket, the clock subscription, the AI stream, the recording and the row.
 */
export type CallState = 'answering' | 'active' | 'held' | 'ended';

const EDGES: Record<CallState, readonly CallState[]> = {
  answering: ['active', 'ended'],
  active: ['held', 'ended'],
  held: ['active', 'ended'],
  ended: [],
};

/** Who ended a call; `callee`: the person a bridge joined the caller to (CallHandle.bridgeTo). */
export type EndedBy = 'caller' | 'ai' | 'gateway' | 'transfer' | 'api' | 'callee';

/** What transfers need beyond the call's own parts (transfer.ts); absent: the AI's transfers are refused. */
export type CallTransferDeps = Omit<TransferDeps, 'openSocket' | 'rtpAddress' | 'mediaParts' | 'subscribeClock'>;

/** Who is on a call, whatever its direction. */
export interface CallParties {
  readonly sipCallId: string;
  readonly fromUser: string;
  readonly toUser: string;
  /** Kamailio's X-Route: `ai|<digits>`, `queue|<name>`, `ivr|<name>`, or '' when dialled directly; `outbound` for calls we place. */
  readonly route: string;
}

/** The SIP side of an incoming call, as the user agent presents it. */
export interface CallRequest extends CallParties {
  readonly offer: string | null;
  progress(status: 180 | 183): void;
  accept(answerSdp: string): Promise<DialogLike>;
  reject(status: number, reason: string): void;
  onCancel(listener: () => void): void;
}

export interface DialogLike {
  onReinvite(listener: (offer: string | null, reply: (answer: string) => void) => void): void;
  onInfoDtmf(listener: (digit: string, durationMs: number) => void): void;
  onTerminated(listener: (reason: string) => void): void;
  bye(): Promise<void>;
  /** RFC 3515: the REFER's status and, when accepted, the final sipfrag status of the NOTIFYs. */
  refer(target: string): Promise<{ status: number; outcome?: Promise<number> }>;
  /** Our re-INVITE in the dialog (hold, resume): the final status and the answer's SDP; absent: no hold by the gateway. */
  reinvite?(sdp: string): Promise<{ status: number; answer: string | null }>;
}

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export type Negotiation =
  | {
      ok: true;
      sdp: string;
      codec: 'PCMU' | 'PCMA';
      telephoneEventPt: number | null;
      remote: { address: string; port: number };
      remoteDirection: Direction;
    }
  | { ok: false; status: number; reason: string };

/** SDP offer/answer for the gateway as answerer (RFC 3264 §6). */
export type Negotiate = ((offer: string, local: { address: string; port: number }) => Negotiation) & {
  /** Our own offer in the session with the stream's new direction (hold, resume); null before an answer. */
  readonly reoffer?: (direction: 'sendonly' | 'sendrecv') => string | null;
};

export interface AiTarget {
  readonly url: string;
  readonly dialect: Dialect;
  readonly customParameters: Record<string, string>;
  readonly record: boolean;
  /** The number's own music on hold (a file name under HOLD_MUSIC_DIR); absent: the default tune. */
  readonly holdMusic?: string | null;
}

export interface CallMetrics {
  callStarted(): void;
  callEnded(reason: string, durationMs: number): void;
  rtpToWsLatency(ms: number): void;
  wsToRtpLatency(ms: number): void;
  frames(direction: 'in' | 'out' | 'lost' | 'concealed' | 'to_ai' | 'from_ai', count: number): void;
  wsEvent(event: 'connect' | 'failure' | 'reconnecting' | 'reconnect' | 'down'): void;
  dtmf(source: string): void;
  /** A gateway hold or resume and how it went (`ok` or its error code). */
  hold?(action: 'hold' | 'resume', outcome: string): void;
}

/** An outgoing call the far end answered: our socket, what the answer agreed, the dialog. */
export interface AnsweredLeg {
  readonly socket: RtpSocket;
  readonly negotiation: Extract<Negotiation, { ok: true }>;
  readonly dialog: DialogLike;
}

export interface CallDeps {
  /** The parties; for an incoming call, its INVITE (the same object `answer()` takes). */
  readonly request: CallParties;
  readonly target: AiTarget;
  /** The call's id (calls.call_id); a calls row written before the call (an API-initiated call) names it. Default: a new UUID. */
  readonly callId?: string;
  /** Told to the AI in its start frame; `incoming` by default. */
  readonly direction?: CallDirection;
  readonly gatewayId: string;
  readonly rtpAddress: string;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly negotiate: Negotiate;
  readonly createAiStream: (info: {
    url: string;
    dialect: Dialect;
    callId: string;
    from: string;
    to: string;
    direction: CallDirection;
    codec: 'PCMU' | 'PCMA';
    customParameters: Record<string, string>;
  }) => AiStream;
  /** Jitter buffer, concealment, DTMF detectors… for a leg carrying `codecPt` (and telephone-event `telephoneEventPt`, if negotiated). */
  readonly mediaParts: (
    codecPt: number,
    telephoneEventPt: number | null,
    /** `inband`: detect in-band DTMF whatever the gateway's policy (a menu listens for key presses). */
    opts?: { readonly inband?: boolean },
  ) => Omit<MediaLegDeps, 'socket' | 'codec' | 'telephoneEventPt' | 'remote' | 'recorder'>;
  readonly subscribeClock: (listener: (tick: number, nowMs: number) => void) => () => void;
  readonly store: CallStore;
  /**
   * Queues an SMS the AI asked for during the call (the control-plane's SMS API;
   * `key` makes a repeat harmless). Absent: the request is recorded and refused.
   */
  readonly sendSms?: (sms: {
    from: string;
    to: string;
    text: string;
    inReplyTo?: string;
    key: string;
  }) => Promise<{ messageId: string }>;
  readonly metrics: CallMetrics;
  readonly transfers?: CallTransferDeps;
  /** Music on hold in the call's codec (moh/library.ts); absent: hold without music (silence). */
  readonly holdMusic?: (name: string | null, codec: 'PCMU' | 'PCMA') => Promise<MusicSource>;
  readonly recordingsDir: string;
  /** Moves a finished recording to where the control-plane reads it (RECORDINGS_STORAGE); absent: it stays in recordingsDir. */
  readonly keepRecording?: (callId: string, path: string) => Promise<void>;
  /**
   * When the AI ends the call, how long the speech it sent before (already queued for
   * the caller) may still play before the BYE. Default 5000 ms.
   */
  readonly lastWordsMs?: number;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
  readonly now: () => number;
}

export class Call implements CallHandle {
  readonly id: string;
  private current: CallState = 'answering';
  private leg: MediaLeg | null = null;
  /** The caller's socket, which a bridged transfer takes over; what was negotiated on it. */
  private callerMedia: { socket: SwitchableSocket; codecPt: number; telephoneEventPt: number | null } | null = null;
  private callerRemote: { address: string; port: number } = { address: '', port: 0 };
  /** The leg the AI hears and speaks to: the caller's, a warm transfer's target, or none once it left. */
  private aiLeg: MediaLeg | null = null;
  private readonly aiWired = new WeakSet<MediaLeg>();
  private transferCtl: CallTransfer | null = null;
  private ai: AiStream | null = null;
  private dialog: DialogLike | null = null;
  private recorder: StereoWavRecorder | null = null;
  private unsubscribe: (() => void) | null = null;
  private ending: Promise<void> | null = null;
  private readonly startedAt: number;
  private recordingPath: string | null = null;
  private cancelled = false;
  private callerGone = false;
  private negotiatedCodec: 'PCMU' | 'PCMA' = 'PCMU';
  private readonly holds: CallHold;
  /** The AI the call is for, or goes to: the route's at first, connectAi's once it connects. */
  private target: AiTarget;
  /** An AI stream connectAi is opening (not yet the call's). */
  private connectingAi: AiStream | null = null;
  /** What `play` gave the caller. */
  private playing: MusicSource | null = null;
  private readonly digitListeners = new Set<(digit: string, source: 'rfc4733' | 'inband' | 'sip-info') => void>();
  private ringAll: RingAll | null = null;
  /** Resolves when the call has ended by any path. */
  readonly ended: Promise<{ reason: string; by: EndedBy }>;
  private resolveEnded!: (v: { reason: string; by: EndedBy }) => void;

  /** The call's logger: every line carries call_id and sip_call_id, the ids Kamailio's and the control-plane's lines use. */
  private readonly log: CallDeps['logger'];

  constructor(private readonly deps: CallDeps) {
    this.id = deps.callId ?? randomUUID();
    this.startedAt = deps.now();
    const ids = { call_id: this.id, sip_call_id: deps.request.sipCallId };
    this.log = {
      info: (message, meta) => deps.logger.info(message, { ...ids, ...meta }),
      warn: (message, meta) => deps.logger.warn(message, { ...ids, ...meta }),
    };
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.target = deps.target;
    this.holds = this.holdControl();
  }

  get state(): CallState {
    return this.current;
  }

  /** Live figures for metrics: AI speech waiting, jitter-buffer delay. */
  get figures(): { playoutMs: number; jitterMs: number } {
    return { playoutMs: this.leg?.playoutQueuedMs ?? 0, jitterMs: this.leg?.jitterDelayMs ?? 0 };
  }

  /** Whether the call is still up (answered or being answered, not ended). */
  get live(): boolean {
    return this.current !== 'ended';
  }

  /** The codec the caller's leg agreed (PCMU until answered). */
  get codec(): 'PCMU' | 'PCMA' {
    return this.negotiatedCodec;
  }

  /** Whether someone holds the call: an AI, or a person it is bridged to. */
  get attended(): boolean {
    return this.ai !== null || this.ringAll?.state === 'bridged' || this.transferCtl?.state === 'bridged';
  }

  get parties(): CallParties {
    const { sipCallId, fromUser, toUser, route } = this.deps.request;
    return { sipCallId, fromUser, toUser, route };
  }

  private transition(to: CallState): void {
    if (!EDGES[this.current].includes(to))
      throw new Error(`call ${this.id}: illegal transition ${this.current} → ${to}`);
    this.current = to;
  }

  /** Answers the INVITE once the AI has accepted the call; refuses it (488/503) otherwise. */
  async answer(request: CallRequest): Promise<void> {
    const offered = await this.takeOffer(request);
    if (!offered) return;
    const { socket, n } = offered;
    request.progress(180);
    const leg = this.prepare(socket, n, { inband: false });
    this.ai = this.createAi(this.target);
    this.wireAi(this.ai, leg);
    if (!(await this.startAi())) {
      this.refuse(request, 503, 'AI Platform Unavailable');
      return;
    }
    if (this.cancelled || this.current === 'ended') return;
    await this.accept(request, n, true);
  }

  /**
   * Answers for a menu or a queue (CallHandle): 180, the media leg, 200 OK; the call
   * goes active with no AI (connectAi brings one later), its record written with the
   * route. Resolves once the call is up, or was refused or cancelled: see `live`.
   */
  async answerWithoutAi(request: CallRequest): Promise<void> {
    const offered = await this.takeOffer(request);
    if (!offered) return;
    request.progress(180);
    // A menu listens for key presses in the audio too, whatever the gateway's policy.
    this.prepare(offered.socket, offered.n, { inband: true });
    await this.accept(request, offered.n, false);
  }

  /** The INVITE's offer and a socket for it; null once the call was refused (488/503) or cancelled. */
  private async takeOffer(
    request: CallRequest,
  ): Promise<{ socket: RtpSocket; n: Extract<Negotiation, { ok: true }> } | null> {
    request.onCancel(() => {
      this.cancelled = true;
      void this.end('cancelled', 'caller');
    });
    if (!request.offer) {
      // RFC 3261 §13.2.1 allows an offer in the ACK; this gateway wants it in the INVITE.
      this.refuse(request, 488, 'Offer Required');
      return null;
    }
    let socket: RtpSocket;
    try {
      socket = await this.deps.openSocket();
    } catch {
      this.refuse(request, 503, 'No Media Port');
      return null;
    }
    if (this.current === 'ended') {
      socket.close();
      return null;
    }
    const n = this.deps.negotiate(request.offer, { address: this.deps.rtpAddress, port: socket.localPort });
    if (!n.ok) {
      socket.close();
      this.refuse(request, n.status, n.reason);
      return null;
    }
    return { socket, n };
  }

  /** 200 OK, then live. */
  private async accept(request: CallRequest, n: Extract<Negotiation, { ok: true }>, withAi: boolean): Promise<void> {
    if (this.cancelled || this.current === 'ended') return;
    try {
      this.dialog = await request.accept(n.sdp);
    } catch (err) {
      await this.end(`answer failed: ${(err as Error).message}`, 'gateway');
      return;
    }
    await this.goLive(this.dialog, n, withAi);
  }

  /**
   * Runs a call the gateway placed, once the far end answered: media flows at once
   * (the caller hears silence while the AI connects), then the AI is connected; an
   * AI that cannot be reached ends the call (BYE).
   */
  async connect(answered: AnsweredLeg): Promise<void> {
    const leg = this.prepare(answered.socket, answered.negotiation, { inband: false });
    this.ai = this.createAi(this.target);
    this.wireAi(this.ai, leg);
    this.dialog = answered.dialog;
    await this.goLive(answered.dialog, answered.negotiation, true);
    if (!(await this.startAi()) && this.current !== 'ended') await this.end('ai unavailable', 'gateway');
  }

  /** The recorder and the media leg of a negotiated call; the caller's key presses wired. */
  private prepare(socket: RtpSocket, n: Extract<Negotiation, { ok: true }>, opts: { inband: boolean }): MediaLeg {
    const codec = n.codec === 'PCMA' ? PCMA : PCMU;
    this.negotiatedCodec = n.codec;
    if (this.target.record) {
      this.recordingPath = join(this.deps.recordingsDir, `${this.id}.wav`);
      this.recorder = new StereoWavRecorder(this.recordingPath);
    }
    // A bridged transfer relays RTP on this socket itself (bridge.ts).
    const switchable = new SwitchableSocket(socket);
    this.callerMedia = { socket: switchable, codecPt: codec.payloadType, telephoneEventPt: n.telephoneEventPt };
    this.callerRemote = n.remote;
    const leg = new MediaLeg({
      ...this.deps.mediaParts(codec.payloadType, n.telephoneEventPt, opts.inband ? { inband: true } : undefined),
      socket: switchable,
      codec,
      telephoneEventPt: n.telephoneEventPt,
      remote: n.remote,
      recorder: this.recorder,
    });
    this.leg = leg;
    // Until an AI holds the call its key presses are for onDigit listeners (a menu, a queue).
    leg.on('dtmf', (press, source) => {
      if (!this.ai) this.digit(press.digit, press.durationMs, source);
    });
    if (this.playing) leg.setMusic(this.playing);
    return leg;
  }

  private createAi(target: AiTarget): AiStream {
    return this.deps.createAiStream({
      url: target.url,
      dialect: target.dialect,
      callId: this.id,
      from: this.deps.request.fromUser,
      to: this.deps.request.toUser,
      direction: this.deps.direction ?? 'incoming',
      codec: this.negotiatedCodec,
      customParameters: target.customParameters,
    });
  }

  /** Opens the AI stream; false (logged, counted) when the AI platform refused or could not be reached. */
  private async startAi(): Promise<boolean> {
    if (!this.ai) return false;
    try {
      await this.ai.start();
      this.deps.metrics.wsEvent('connect');
      return true;
    } catch (err) {
      this.deps.metrics.wsEvent('failure');
      this.log.warn('AI platform refused or unreachable', { error: (err as Error).message });
      return false;
    }
  }

  /** The dialog is up: the call is active, its clock ticks and its record is written. */
  private async goLive(dialog: DialogLike, n: Extract<Negotiation, { ok: true }>, withAi: boolean): Promise<void> {
    const { request } = this.deps;
    const target = this.target;
    this.transition('active');
    this.log.info('call answered', { from: request.fromUser, to: request.toUser, route: request.route, ai: withAi });
    this.holds.callerOffer(n.remoteDirection);
    this.deps.metrics.callStarted();
    this.wireDialog(dialog);
    this.unsubscribe = this.deps.subscribeClock((_, now) => {
      if (!this.leg) return;
      this.leg.tick(now);
      // Flow control: the AI is asked to pause while too much of its speech is queued.
      this.ai?.reportPlayoutDepth(this.leg.playoutQueuedMs);
    });
    await this.record(() =>
      this.deps.store.started({
        callId: this.id,
        sipCallId: request.sipCallId,
        from: request.fromUser,
        to: request.toUser,
        route: request.route,
        // A call answered for a menu or a queue has no AI yet (the ai_connected event sets these).
        aiDialect: withAi ? target.dialect : null,
        aiUrl: withAi ? target.url : null,
        codec: n.codec,
        gateway: this.deps.gatewayId,
        recordingPath: this.recordingPath,
      }),
    );
  }

  // ---- CallHandle: what menus and queues drive of a call no AI holds ----

  /** Plays to the caller (a clip or looping music; null: silence), replacing what played; a replaced clip's `done` resolves. */
  play(source: MusicSource | null): void {
    const before = this.playing;
    this.playing = source;
    if (before && before !== source && isStoppable(before)) before.stop();
    if (this.current === 'ended') {
      if (source && isStoppable(source)) source.stop();
      return;
    }
    this.leg?.setMusic(source);
  }

  /** The caller's key presses while no AI holds the call; returns the unsubscribe. */
  onDigit(listener: (digit: string, source: 'rfc4733' | 'inband' | 'sip-info') => void): () => void {
    this.digitListeners.add(listener);
    return () => this.digitListeners.delete(listener);
  }

  private digit(digit: string, durationMs: number, source: 'rfc4733' | 'inband' | 'sip-info'): void {
    this.deps.metrics.dtmf(source);
    void this.record(() => this.deps.store.event(this.id, 'dtmf', { digit, duration_ms: durationMs, source }));
    for (const listener of [...this.digitListeners]) {
      try {
        listener(digit, source);
      } catch (err) {
        this.log.warn('a key press listener failed', { error: (err as Error).message });
      }
    }
  }

  /**
   * Hands a call answered without an AI to one (CallHandle.connectAi): the stream
   * opens now; once the AI accepted, music stops, the AI hears the caller and gets
   * its key presses, and its hangup ends the call as on any AI call. False (the call
   * still up, still ours) when the AI refused or could not be reached, or the call
   * cannot take an AI (ended, bridged, an AI already on it).
   */
  async connectAi(target: AiTarget): Promise<boolean> {
    const leg = this.leg;
    const bridged = this.ringAll !== null && this.ringAll.state !== 'idle';
    if (!leg || this.ai || this.connectingAi || bridged || (this.current !== 'active' && this.current !== 'held')) {
      this.log.warn('connectAi refused: the call cannot take an AI now', { state: this.current, ai: !!this.ai });
      return false;
    }
    const ai = this.createAi(target);
    this.connectingAi = ai;
    // Until it is the call's, the stream's troubles are only logged (wireAi takes over).
    const quiet = (err: Error): void => void this.log.warn('AI stream error while connecting', { error: err.message });
    ai.on('error', quiet);
    let accepted = true;
    try {
      await ai.start();
    } catch (err) {
      accepted = false;
      this.deps.metrics.wsEvent('failure');
      this.log.warn('AI platform refused or unreachable; the call stays up without it', {
        url: target.url,
        error: (err as Error).message,
      });
    }
    this.connectingAi = null;
    if (!accepted || !this.live) {
      ai.removeAllListeners();
      ai.on('error', () => undefined);
      await ai.end(accepted ? 'call ended' : 'refused').catch(() => undefined);
      if (!accepted) this.event('ai_failed', { url: target.url, dialect: target.dialect });
      return false;
    }
    this.deps.metrics.wsEvent('connect');
    ai.off('error', quiet);
    this.target = target;
    this.ai = ai;
    this.wireAi(ai, leg);
    this.play(null);
    this.log.info('AI connected', { url: target.url, dialect: target.dialect });
    this.event('ai_connected', { url: target.url, dialect: target.dialect });
    return true;
  }

  /**
   * Dials the targets at once and joins the caller to the first who answers
   * (CallHandle.bridgeTo, ring-all.ts); the caller hears what `play` gave it while
   * they ring. Once joined, either side's BYE ends the call. An AI holding the call
   * leaves it once the caller is joined.
   */
  async bridgeTo(targets: readonly string[], opts: { readonly ringTimeoutMs: number }): Promise<BridgeOutcome> {
    const t = this.deps.transfers;
    const media = this.callerMedia;
    const leg = this.leg;
    if ((this.current !== 'active' && this.current !== 'held') || !media || !leg)
      return { ok: false, sipStatus: 481, reason: 'cancelled' };
    if (!t?.dial) {
      this.log.warn('bridgeTo: this gateway cannot place calls');
      return { ok: false, sipStatus: 503, reason: 'failed' };
    }
    const busy =
      (this.ringAll && this.ringAll.state !== 'idle') || (this.transferCtl && this.transferCtl.state !== 'idle');
    if (busy) {
      this.log.warn('bridgeTo refused: the call is already ringing someone or bridged');
      return { ok: false, sipStatus: 491, reason: 'failed' };
    }
    const { fromUser, toUser } = this.deps.request;
    const ours = this.deps.direction === 'outgoing' ? fromUser : toUser;
    this.ringAll ??= new RingAll(
      {
        callId: this.id,
        ourNumber: ours,
        caller: { leg, ...media, remote: () => this.callerRemote },
        joined: () => {
          this.play(null);
          this.pointAiAt(null);
          leg.clear();
        },
        record: (type, data) => this.event(type, data),
        end: (reason, by) => this.end(reason, by),
        log: this.log,
      },
      {
        domain: t.domain,
        dial: t.dial,
        openSocket: this.deps.openSocket,
        rtpAddress: this.deps.rtpAddress,
        mediaParts: this.deps.mediaParts,
        subscribeClock: this.deps.subscribeClock,
      },
    );
    const outcome = await this.ringAll.ring(targets, opts.ringTimeoutMs);
    if (outcome.ok) await this.releaseAi('bridged');
    return outcome;
  }

  /** A call event (call_events), for GET /api/calls/{id}. */
  event(type: string, data: Record<string, unknown>): void {
    void this.record(() => this.deps.store.event(this.id, type, data));
  }

  /** Ends the call by whatever path; idempotent. */
  end(reason: string, by: EndedBy): Promise<void> {
    this.ending ??= this.finish(reason, by);
    return this.ending;
  }

  private refuse(request: CallRequest, status: number, reason: string): void {
    request.reject(status, reason);
    void this.end(`refused: ${status} ${reason}`, 'gateway');
  }

  private async finish(reason: string, by: EndedBy): Promise<void> {
    const wasAnswered = this.current !== 'answering';
    if (this.current !== 'ended') this.transition('ended');
    // The AI's last words: what it sent before hanging up is still queued for the caller.
    if (by === 'ai' && wasAnswered && this.leg) await this.playOut(this.leg);
    this.unsubscribe?.();
    this.unsubscribe = null;
    const stats = this.leg ? { ...this.leg.stats } : {};
    if (this.leg) {
      const m = this.deps.metrics;
      const l = this.leg.stats;
      m.frames('in', l.packetsIn);
      m.frames('out', l.packetsOut);
      m.frames('lost', l.framesLost);
      m.frames('concealed', l.framesConcealed);
      m.frames('to_ai', l.framesToAi);
      m.frames('from_ai', l.framesFromAi);
    }
    await this.transferCtl?.close();
    await this.ringAll?.close();
    // Whoever waits on a clip that was playing learns it is over.
    if (this.playing && isStoppable(this.playing)) this.playing.stop();
    this.digitListeners.clear();
    this.leg?.close();
    const ai = this.ai;
    this.ai = null;
    if (ai) await ai.end(reason).catch(() => undefined);
    await this.connectingAi?.end(reason).catch(() => undefined);
    if (wasAnswered && by !== 'caller' && this.dialog) await this.dialog.bye().catch(() => undefined);
    const recordingBytes = this.recorder ? await this.recorder.close().catch(() => null) : null;
    // Before the row says "ended": from then on the API offers the recording for download.
    if (recordingBytes !== null && this.recordingPath !== null && this.deps.keepRecording) {
      await this.deps.keepRecording(this.id, this.recordingPath).catch((err: Error) => {
        this.deps.logger.warn('recording not moved to its storage; it stays in RECORDINGS_DIR', {
          callId: this.id,
          error: err.message,
        });
      });
    }
    if (wasAnswered) {
      const durationMs = this.deps.now() - this.startedAt;
      this.deps.metrics.callEnded(reason, durationMs);
      await this.record(() => this.deps.store.ended(this.id, { reason, by, recordingBytes, stats }));
    }
    this.log.info('call ended', { reason, by });
    this.resolveEnded({ reason, by });
  }

  /** Lets the 20 ms clock send the caller what is queued, until it is gone, the caller hangs up, or lastWordsMs. */
  private async playOut(leg: MediaLeg): Promise<void> {
    const until = this.deps.now() + (this.deps.lastWordsMs ?? 5000);
    while (leg.playoutQueuedMs > 0 && !this.callerGone && this.deps.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // The frame taken from the queue on the last tick goes out on that tick; one more
    // tick lets the relay have it before the BYE.
    if (!this.callerGone) await new Promise((r) => setTimeout(r, 40));
  }

  /** Who holds the call now: the caller (its re-INVITE), the gateway (API or AI), or nobody. */
  get heldBy(): 'caller' | 'gateway' | null {
    return this.holds.heldBy;
  }

  /** The gateway puts the caller on hold with music (calls/hold.ts); throws a HoldError with a stable code. */
  hold(requestedBy: HoldRequester): Promise<{ on_hold: true; held_by: 'gateway'; sip_status: number }> {
    return this.counted('hold', this.holds.hold(requestedBy));
  }

  /** The gateway takes the caller off hold (calls/hold.ts); throws a HoldError with a stable code. */
  resume(requestedBy: HoldRequester): Promise<{ on_hold: false; sip_status: number }> {
    return this.counted('resume', this.holds.resume(requestedBy));
  }

  private counted<T>(action: 'hold' | 'resume', done: Promise<T>): Promise<T> {
    return done.then(
      (result) => {
        this.deps.metrics.hold?.(action, 'ok');
        return result;
      },
      (err: Error & { code?: string }) => {
        this.deps.metrics.hold?.(action, err.code ?? 'error');
        throw err;
      },
    );
  }

  private holdControl(): CallHold {
    const noMusic: MusicSource = {
      next: () => new Uint8Array(160).fill(this.negotiatedCodec === 'PCMA' ? PCMA.silence : PCMU.silence),
    };
    return new CallHold({
      state: () => this.current,
      transition: (to) => this.transition(to),
      setSilent: (silent) => this.leg?.setHold(silent),
      setMusic: (music) => this.leg?.setMusic(music),
      setRemote: (remote) => this.leg?.setRemote(remote),
      reoffer: (direction) => this.deps.negotiate.reoffer?.(direction) ?? null,
      reinvite: (sdp) => {
        if (!this.dialog?.reinvite) return Promise.reject(new Error('this dialog cannot re-INVITE'));
        return this.dialog.reinvite(sdp);
      },
      music: () =>
        this.deps.holdMusic
          ? this.deps.holdMusic(this.target.holdMusic ?? null, this.negotiatedCodec)
          : Promise.resolve(noMusic),
      tellAi: (type, heldBy) => this.ai?.sendEvent({ type, heldBy }),
      record: (type, data) => void this.record(() => this.deps.store.event(this.id, type, data)),
      log: this.log,
    });
  }

  /**
   * Points the AI at a leg: it hears that leg and speaks to it (the caller's; a warm
   * transfer's target while the AI talks to it; none once the AI left a bridged call).
   */
  private pointAiAt(leg: MediaLeg | null): void {
    if (this.aiLeg && this.aiLeg !== leg) this.aiLeg.clear();
    this.aiLeg = leg;
    if (!leg || this.aiWired.has(leg)) return;
    this.aiWired.add(leg);
    leg.on('audio', (pcm, latency) => {
      if (this.aiLeg !== leg) return;
      // On the gateway's hold the caller waits with music: the AI hears nothing of it.
      if (this.holds.pausesAi) return;
      this.ai?.sendAudio(pcm);
      if (latency !== null) this.deps.metrics.rtpToWsLatency(latency);
    });
    leg.on('playoutLatency', (ms) => this.deps.metrics.wsToRtpLatency(ms));
    leg.on('dtmf', (press, source) => {
      if (this.aiLeg !== leg) return;
      this.ai?.sendDtmf(press.digit, press.durationMs);
      this.deps.metrics.dtmf(source);
      void this.record(() =>
        this.deps.store.event(this.id, 'dtmf', { digit: press.digit, duration_ms: press.durationMs, source }),
      );
    });
    leg.on('mark', (ack) => this.ai?.markPlayed(ack.name, ack.playedMs, ack.truncated));
  }

  private wireAi(ai: AiStream, leg: MediaLeg): void {
    this.pointAiAt(leg);
    ai.on('audio', (pcm) => {
      if (!this.holds.pausesAi) this.aiLeg?.playAi(pcm);
    });
    ai.on('clear', () => this.aiLeg?.clear());
    ai.on('mark', (name) => this.aiLeg?.mark(name));
    ai.on('send_dtmf', (digits, durationMs) => {
      this.aiLeg?.sendDtmf(digits, durationMs ?? 100);
    });
    ai.on('text', (text, final) => {
      void this.record(() => this.deps.store.event(this.id, 'transcript', { speaker: 'ai', text, final }));
    });
    ai.on('hangup', (reason) => void this.end(reason === 'ai_closed' ? 'ai_closed' : `ai hangup: ${reason}`, 'ai'));
    ai.on(
      'transfer',
      (target, mode) =>
        void this.aiTransfer({ target, mode }, () => this.transfer({ target, mode, requestedBy: 'ai' })),
    );
    ai.on('transfer_complete', () => void this.aiTransfer(null, () => this.transferControl('complete')));
    ai.on('transfer_cancel', () => void this.aiTransfer(null, () => this.transferControl('cancel')));
    ai.on('hold_request', (action) => {
      const done = action === 'resume' ? this.resume('ai') : this.hold('ai');
      done.catch((err: Error & { code?: string }) => {
        this.log.warn(`the AI's ${action} request failed`, { code: err.code, error: err.message });
        ai.reportError(err.code ?? 'ERR_CALL_HOLD_FAILED', err.message);
      });
    });
    let smsCount = 0;
    // Our number and the other party's: the one dialled and the caller, or, on a call we placed, the reverse.
    const { fromUser, toUser } = this.deps.request;
    const [ours, theirs] = this.deps.direction === 'outgoing' ? [fromUser, toUser] : [toUser, fromUser];
    ai.on('sms', (req) => {
      // From our number, to the other party unless the AI names someone else.
      const sms = {
        from: ours,
        to: req.to ?? theirs,
        text: req.text,
        key: `call:${this.id}:sms:${++smsCount}`,
        ...(req.inReplyTo ? { inReplyTo: req.inReplyTo } : {}),
      };
      const queued = this.deps.sendSms
        ? this.deps.sendSms(sms)
        : Promise.reject(new Error('SMS is not available on this gateway'));
      void queued.then(
        ({ messageId }) =>
          this.record(() => this.deps.store.event(this.id, 'sms', { to: sms.to, message_id: messageId })),
        (err: Error) => {
          this.log.warn("the AI's SMS was not queued", { err: err.message });
          return this.record(() => this.deps.store.event(this.id, 'sms_failed', { to: sms.to, error: err.message }));
        },
      );
    });
    ai.on('reconnecting', (attempt) => {
      this.deps.metrics.wsEvent('reconnecting');
      leg.setAiAway(true);
      void this.record(() => this.deps.store.event(this.id, 'ai_reconnecting', { attempt }));
    });
    ai.on('reconnected', () => {
      this.deps.metrics.wsEvent('reconnect');
      leg.setAiAway(false);
      void this.record(() => this.deps.store.event(this.id, 'ai_reconnected', {}));
    });
    ai.on('down', (reason) => {
      this.deps.metrics.wsEvent('down');
      void this.end(`ai unavailable: ${reason}`, 'ai');
    });
    ai.on('error', (err) => this.log.warn('AI stream error', { code: err.code, error: err.message }));
  }

  private wireDialog(dialog: DialogLike): void {
    dialog.onTerminated((reason) => {
      this.callerGone = true;
      void this.end(reason, 'caller');
    });
    dialog.onInfoDtmf((digit, durationMs) => {
      if (!this.ai) {
        this.digit(digit, durationMs, 'sip-info');
        return;
      }
      this.ai.sendDtmf(digit, durationMs);
      this.deps.metrics.dtmf('sip-info');
      void this.record(() =>
        this.deps.store.event(this.id, 'dtmf', { digit, duration_ms: durationMs, source: 'sip-info' }),
      );
    });
    dialog.onReinvite((offer, reply) => {
      if (!offer || !this.leg) {
        // Session refresh without SDP: answer with what we have (RFC 4028 §7.4 / RFC 3261 §14.2).
        reply('');
        return;
      }
      const n = this.deps.negotiate(offer, { address: this.deps.rtpAddress, port: this.leg.localPort });
      if (!n.ok) {
        reply('');
        return;
      }
      this.leg.setRemote(n.remote);
      this.callerRemote = n.remote;
      this.holds.callerOffer(n.remoteDirection);
      reply(n.sdp);
    });
  }

  /** Transfers the caller (blind, bridged, warm: transfer.ts), for the AI or the API. */
  async transfer(req: TransferRequest): Promise<TransferResult> {
    return this.transferController().start(req);
  }

  /** Completes or cancels a warm transfer. */
  async transferControl(action: 'complete' | 'cancel'): Promise<TransferResult> {
    const ctl = this.transferController();
    return action === 'complete' ? ctl.complete() : ctl.cancel();
  }

  /**
   * What the AI asked for. A failed transfer tells the AI itself (transfer_failed with
   * the SIP status); a refusal (bad target, one already running, nothing to complete)
   * is logged and told to the AI here, with the error code as the reason.
   */
  private async aiTransfer(
    asked: { target: string; mode: TransferRequest['mode'] } | null,
    run: () => Promise<TransferResult>,
  ): Promise<void> {
    try {
      await run();
    } catch (err) {
      const code = err instanceof TransferError ? err.code : 'ERR_CALL_TRANSFER_FAILED';
      this.log.warn("the AI's transfer request was refused or failed", { code, error: (err as Error).message });
      if (code === 'ERR_CALL_TRANSFER_FAILED') return;
      const mode = asked?.mode === 'bridged' || asked?.mode === 'warm' ? asked.mode : 'blind';
      this.ai?.sendEvent({ type: 'transfer_failed', target: asked?.target ?? '', mode, reason: code });
    }
  }

  private transferController(): CallTransfer {
    const t = this.deps.transfers;
    const dialog = this.dialog;
    const media = this.callerMedia;
    const leg = this.leg;
    if ((this.current !== 'active' && this.current !== 'held') || !dialog || !media || !leg)
      throw new TransferError('ERR_CALL_NOT_ACTIVE', 'the call is not answered, or already over');
    if (!t) throw new TransferError('ERR_TRANSFER_UNAVAILABLE', 'transfers are not configured on this gateway');
    if (this.transferCtl) return this.transferCtl;
    const { fromUser, toUser } = this.deps.request;
    const [ours, theirs] = this.deps.direction === 'outgoing' ? [fromUser, toUser] : [toUser, fromUser];
    this.transferCtl = new CallTransfer(
      {
        callId: this.id,
        ourNumber: ours,
        theirNumber: theirs,
        dialog,
        caller: { leg, ...media, remote: () => this.callerRemote },
        connectAi: (to) => this.pointAiAt(to),
        holdCaller: (onHold) => {
          leg.clear();
          leg.setAiAway(onHold);
        },
        tellAi: (event: CallEvent) => this.ai?.sendEvent(event),
        releaseAi: (reason) => this.releaseAi(reason),
        record: (type, data) => void this.record(() => this.deps.store.event(this.id, type, data)),
        end: (reason, by) => this.end(reason, by),
        log: this.log,
      },
      {
        ...t,
        openSocket: this.deps.openSocket,
        rtpAddress: this.deps.rtpAddress,
        mediaParts: this.deps.mediaParts,
        subscribeClock: this.deps.subscribeClock,
      },
    );
    return this.transferCtl;
  }

  /** The AI leaves a call that goes on without it (a bridged transfer). */
  private async releaseAi(reason: string): Promise<void> {
    const ai = this.ai;
    this.ai = null;
    this.aiLeg = null;
    if (!ai) return;
    // Its socket closing is not the call ending any more.
    ai.removeAllListeners();
    ai.on('error', () => undefined);
    await ai.end(reason).catch(() => undefined);
  }

  /** Storage trouble must not break a live call: log it and carry on. */
  private async record(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.log.warn('call record not written', { error: (err as Error).message });
    }
  }
}
