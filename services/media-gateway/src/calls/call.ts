import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import { PCMA, PCMU } from '../../../common/src/audio/g711';
import type { AiStream } from '../ai-stream';
import { StereoWavRecorder } from '../recording/wav';
import { CallHold, type HoldRequester } from './hold';
import { MediaLeg, type MediaLegDeps, type MusicSource, type RtpSocket } from './media-leg';
import type { CallStore } from './store';

/**
 * One AI call: the SIP dialog (answered by the gateway's user agent), the media leg
 * (RTP ↔ PCM) and the WebSocket to the AI platform, with the call's record.
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

export type EndedBy = 'caller' | 'ai' | 'gateway' | 'transfer' | 'api';

/** The SIP side of an incoming call, as the user agent presents it. */
export interface CallRequest {
  readonly sipCallId: string;
  readonly fromUser: string;
  readonly toUser: string;
  /** Kamailio's X-Route: `ai|<digits>`, `queue|<name>`, `ivr|<name>`, or '' when dialled directly. */
  readonly route: string;
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
  refer(target: string): Promise<{ status: number }>;
  /** Our re-INVITE in the dialog (hold, resume): the final status and the answer's SDP. */
  reinvite(sdp: string): Promise<{ status: number; answer: string | null }>;
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

export interface CallDeps {
  readonly request: CallRequest;
  readonly target: AiTarget;
  readonly gatewayId: string;
  readonly rtpAddress: string;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly negotiate: Negotiate;
  readonly createAiStream: (info: {
    callId: string;
    from: string;
    to: string;
    codec: 'PCMU' | 'PCMA';
    customParameters: Record<string, string>;
  }) => AiStream;
  /** Jitter buffer, concealment, DTMF detectors… for a leg carrying `codecPt` (and telephone-event `telephoneEventPt`, if negotiated). */
  readonly mediaParts: (
    codecPt: number,
    telephoneEventPt: number | null,
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

export class Call {
  readonly id = randomUUID();
  private current: CallState = 'answering';
  private leg: MediaLeg | null = null;
  private ai: AiStream | null = null;
  private dialog: DialogLike | null = null;
  private recorder: StereoWavRecorder | null = null;
  private unsubscribe: (() => void) | null = null;
  private ending: Promise<void> | null = null;
  private readonly startedAt: number;
  private recordingPath: string | null = null;
  private cancelled = false;
  private callerGone = false;
  private codec: 'PCMU' | 'PCMA' = 'PCMU';
  private readonly holds: CallHold;
  /** Resolves when the call has ended by any path. */
  readonly ended: Promise<{ reason: string; by: EndedBy }>;
  private resolveEnded!: (v: { reason: string; by: EndedBy }) => void;

  /** The call's logger: every line carries call_id and sip_call_id, the ids Kamailio's and the control-plane's lines use. */
  private readonly log: CallDeps['logger'];

  constructor(private readonly deps: CallDeps) {
    this.startedAt = deps.now();
    const ids = { call_id: this.id, sip_call_id: deps.request.sipCallId };
    this.log = {
      info: (message, meta) => deps.logger.info(message, { ...ids, ...meta }),
      warn: (message, meta) => deps.logger.warn(message, { ...ids, ...meta }),
    };
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.holds = this.holdControl();
  }

  get state(): CallState {
    return this.current;
  }

  /** Live figures for metrics: AI speech waiting, jitter-buffer delay. */
  get live(): { playoutMs: number; jitterMs: number } {
    return { playoutMs: this.leg?.playoutQueuedMs ?? 0, jitterMs: this.leg?.jitterDelayMs ?? 0 };
  }

  private transition(to: CallState): void {
    if (!EDGES[this.current].includes(to))
      throw new Error(`call ${this.id}: illegal transition ${this.current} → ${to}`);
    this.current = to;
  }

  /** Answers the INVITE once the AI has accepted the call; refuses it (488/503) otherwise. */
  async answer(): Promise<void> {
    const { request, target } = this.deps;
    request.onCancel(() => {
      this.cancelled = true;
      void this.end('cancelled', 'caller');
    });
    if (!request.offer) {
      // RFC 3261 §13.2.1 allows an offer in the ACK; this gateway wants it in the INVITE.
      this.refuse(488, 'Offer Required');
      return;
    }
    let socket: RtpSocket;
    try {
      socket = await this.deps.openSocket();
    } catch {
      this.refuse(503, 'No Media Port');
      return;
    }
    const n = this.deps.negotiate(request.offer, { address: this.deps.rtpAddress, port: socket.localPort });
    if (!n.ok) {
      socket.close();
      this.refuse(n.status, n.reason);
      return;
    }
    const codec = n.codec === 'PCMA' ? PCMA : PCMU;
    this.codec = n.codec;
    request.progress(180);

    if (target.record) {
      this.recordingPath = join(this.deps.recordingsDir, `${this.id}.wav`);
      this.recorder = new StereoWavRecorder(this.recordingPath);
    }
    this.leg = new MediaLeg({
      ...this.deps.mediaParts(codec.payloadType, n.telephoneEventPt),
      socket,
      codec,
      telephoneEventPt: n.telephoneEventPt,
      remote: n.remote,
      recorder: this.recorder,
    });
    this.ai = this.deps.createAiStream({
      callId: this.id,
      from: request.fromUser,
      to: request.toUser,
      codec: n.codec,
      customParameters: target.customParameters,
    });
    this.wireAi(this.ai, this.leg);
    try {
      await this.ai.start();
      this.deps.metrics.wsEvent('connect');
    } catch (err) {
      this.deps.metrics.wsEvent('failure');
      this.log.warn('AI platform refused or unreachable; call refused', {
        error: (err as Error).message,
      });
      this.refuse(503, 'AI Platform Unavailable');
      return;
    }
    if (this.cancelled || this.current === 'ended') return;

    try {
      this.dialog = await request.accept(n.sdp);
    } catch (err) {
      await this.end(`answer failed: ${(err as Error).message}`, 'gateway');
      return;
    }
    this.transition('active');
    this.log.info('call answered', { from: request.fromUser, to: request.toUser, route: request.route });
    this.holds.callerOffer(n.remoteDirection);
    this.deps.metrics.callStarted();
    this.wireDialog(this.dialog);
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
        aiDialect: target.dialect,
        aiUrl: target.url,
        codec: n.codec,
        gateway: this.deps.gatewayId,
        recordingPath: this.recordingPath,
      }),
    );
  }

  /** Ends the call by whatever path; idempotent. */
  end(reason: string, by: EndedBy): Promise<void> {
    this.ending ??= this.finish(reason, by);
    return this.ending;
  }

  private refuse(status: number, reason: string): void {
    this.deps.request.reject(status, reason);
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
    this.leg?.close();
    const ai = this.ai;
    this.ai = null;
    if (ai) await ai.end(reason).catch(() => undefined);
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
      next: () => new Uint8Array(160).fill(this.codec === 'PCMA' ? PCMA.silence : PCMU.silence),
    };
    return new CallHold({
      state: () => this.current,
      transition: (to) => this.transition(to),
      setSilent: (silent) => this.leg?.setHold(silent),
      setMusic: (music) => this.leg?.setMusic(music),
      setRemote: (remote) => this.leg?.setRemote(remote),
      reoffer: (direction) => this.deps.negotiate.reoffer?.(direction) ?? null,
      reinvite: (sdp) => {
        if (!this.dialog) return Promise.reject(new Error('no dialog'));
        return this.dialog.reinvite(sdp);
      },
      music: () =>
        this.deps.holdMusic
          ? this.deps.holdMusic(this.deps.target.holdMusic ?? null, this.codec)
          : Promise.resolve(noMusic),
      tellAi: (type, heldBy) => this.ai?.sendEvent({ type, heldBy }),
      record: (type, data) => void this.record(() => this.deps.store.event(this.id, type, data)),
      log: this.log,
    });
  }

  private wireAi(ai: AiStream, leg: MediaLeg): void {
    leg.on('audio', (pcm, latency) => {
      // On the gateway's hold the caller waits with music: the AI hears nothing of it.
      if (this.holds.pausesAi) return;
      ai.sendAudio(pcm);
      if (latency !== null) this.deps.metrics.rtpToWsLatency(latency);
    });
    leg.on('playoutLatency', (ms) => this.deps.metrics.wsToRtpLatency(ms));
    leg.on('dtmf', (press, source) => {
      ai.sendDtmf(press.digit, press.durationMs);
      this.deps.metrics.dtmf(source);
      void this.record(() =>
        this.deps.store.event(this.id, 'dtmf', { digit: press.digit, duration_ms: press.durationMs, source }),
      );
    });
    leg.on('mark', (ack) => ai.markPlayed(ack.name, ack.playedMs, ack.truncated));
    ai.on('audio', (pcm) => {
      if (!this.holds.pausesAi) leg.playAi(pcm);
    });
    ai.on('clear', () => leg.clear());
    ai.on('mark', (name) => leg.mark(name));
    ai.on('send_dtmf', (digits, durationMs) => {
      leg.sendDtmf(digits, durationMs ?? 100);
    });
    ai.on('text', (text, final) => {
      void this.record(() => this.deps.store.event(this.id, 'transcript', { speaker: 'ai', text, final }));
    });
    ai.on('hangup', (reason) => void this.end(reason === 'ai_closed' ? 'ai_closed' : `ai hangup: ${reason}`, 'ai'));
    ai.on('transfer', (target) => void this.transfer(target));
    ai.on('hold_request', (action) => {
      const done = action === 'resume' ? this.resume('ai') : this.hold('ai');
      done.catch((err: Error & { code?: string }) => {
        this.log.warn(`the AI's ${action} request failed`, { code: err.code, error: err.message });
        ai.reportError(err.code ?? 'ERR_CALL_HOLD_FAILED', err.message);
      });
    });
    let smsCount = 0;
    ai.on('sms', (req) => {
      // From the number the caller dialled, to the caller unless the AI names someone else.
      const sms = {
        from: this.deps.request.toUser,
        to: req.to ?? this.deps.request.fromUser,
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
      this.ai?.sendDtmf(digit, durationMs);
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
      this.holds.callerOffer(n.remoteDirection);
      reply(n.sdp);
    });
  }

  /** Blind transfer (RFC 3515): REFER the caller to `target`, then leave the call. */
  private async transfer(target: string): Promise<void> {
    if (!this.dialog || this.current === 'ended') return;
    await this.record(() => this.deps.store.event(this.id, 'transfer', { target }));
    try {
      const { status } = await this.dialog.refer(target);
      if (status >= 200 && status < 300) {
        await this.end(`transferred to ${target}`, 'transfer');
        return;
      }
      this.log.warn('transfer refused', { target, status });
    } catch (err) {
      this.log.warn('transfer failed', { target, error: (err as Error).message });
    }
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
