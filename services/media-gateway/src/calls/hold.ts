import { CodedError } from '../../../common/src/errors';
import { connectionOf, directionOf, parseSdp, type MediaDirection } from '../../../common/src/sdp/sdp';
import type { MusicSource } from './media-leg';

/**
 * Hold and resume of one call, whoever asks:
 *
 * - the caller holds us with a re-INVITE (RFC 3264 §8.4: its offer is sendonly or
 *   inactive): we stop sending, the AI is told `hold` (held_by caller);
 * - the gateway holds the caller, asked by the API or by the AI: a re-INVITE with
 *   a=sendonly (RFC 6337 §5.1: the holder offers sendonly and expects recvonly),
 *   then music on hold to the caller in place of the AI, no caller audio to the AI
 *   (the caller's microphone is not the AI's business while it waits), and the AI is
 *   told `hold` (held_by gateway). Resume: a re-INVITE with a=sendrecv, the music
 *   stops, the AI is told `resume` and both directions flow again.
 *
 *   off ──caller offers sendonly──► caller ──caller offers sendrecv──► off
 *    │
 *    └──hold()──► (re-INVITE sendonly, 2xx) ──► gateway ──resume()──► (re-INVITE sendrecv, 2xx) ──► off
 *
 * One re-INVITE at a time: a hold or resume asked while one is in flight gets 409
 * (ERR_CALL_ON_HOLD / ERR_CALL_NOT_ON_HOLD, as the call still is). A re-INVITE the
 * caller refuses leaves the call as it was (RFC 3261 §14.1) and fails with
 * ERR_CALL_HOLD_FAILED and the SIP status.
 */
export type HeldBy = 'caller' | 'gateway';
/** Who asked the gateway to hold or resume. */
export type HoldRequester = 'api' | 'ai';

export const HOLD_ERRORS = {
  ERR_CALL_NOT_ACTIVE: 'the call is not active',
  ERR_CALL_ON_HOLD: 'the call is on hold already',
  ERR_CALL_NOT_ON_HOLD: 'the call is not on hold by the gateway',
  ERR_CALL_HOLD_FAILED: 'the caller refused the re-INVITE',
} as const;
export type HoldErrorCode = keyof typeof HOLD_ERRORS;
export class HoldError extends CodedError<HoldErrorCode> {
  constructor(code: HoldErrorCode, message?: string, details?: Readonly<Record<string, unknown>>) {
    super(code, message ?? HOLD_ERRORS[code], details);
  }
}

/** What hold needs of the call: its state machine, media leg, dialog, AI and record. */
export interface HoldSubject {
  state(): 'answering' | 'active' | 'held' | 'ended';
  transition(to: 'active' | 'held'): void;
  /** Stop / start sending RTP (the caller does not want to hear us). */
  setSilent(silent: boolean): void;
  setMusic(music: MusicSource | null): void;
  setRemote(remote: { address: string; port: number }): void;
  /** Our re-offer (RFC 3264 §8) with the stream's new direction; null when there is nothing to re-offer. */
  reoffer(direction: 'sendonly' | 'sendrecv'): string | null;
  reinvite(sdp: string): Promise<{ status: number; answer: string | null }>;
  /** This call's music on hold, in its codec. */
  music(): Promise<MusicSource>;
  /** The AI is told (olib/binary `hold`/`resume`, the twilio dialect's extension events). */
  tellAi(event: 'hold' | 'resume', heldBy: HeldBy): void;
  /** The call's events (`hold` / `resume`) and calls.on_hold. */
  record(event: 'hold' | 'resume', data: Record<string, unknown>): void;
  readonly log: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

/** What the far end said to our hold or resume offer. */
interface Answer {
  readonly direction: MediaDirection;
  readonly remote: { address: string; port: number } | null;
}

function readAnswer(sdp: string | null): Answer | null {
  if (!sdp) return null;
  try {
    const parsed = parseSdp(sdp);
    const audio = parsed.media.find((m) => m.type === 'audio' && m.port !== 0);
    if (!audio) return null;
    const c = connectionOf(audio, parsed);
    return {
      direction: directionOf(audio, parsed),
      remote: c && c.address !== '0.0.0.0' ? { address: c.address, port: audio.port } : null,
    };
  } catch {
    return null;
  }
}

export class CallHold {
  private by: HeldBy | null = null;
  private busy: 'holding' | 'resuming' | null = null;

  constructor(private readonly call: HoldSubject) {}

  /** Who holds the call now, if anyone. */
  get heldBy(): HeldBy | null {
    return this.by;
  }

  /** The gateway holds the caller: caller audio does not go to the AI, the AI's speech is not played. */
  get pausesAi(): boolean {
    return this.by === 'gateway';
  }

  /** A re-INVITE from the caller: on hold when its offer lets it only send (or nothing). */
  callerOffer(remote: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'): void {
    const callerHolds = remote === 'sendonly' || remote === 'inactive';
    const c = this.call;
    if (c.state() === 'ended' || c.state() === 'answering') return;
    if (this.by === 'gateway' || this.busy) {
      // We hold the caller (our answers stay sendonly, see SdpAnswerer): its own hold only
      // stops the music reaching a party that does not want it.
      c.setSilent(callerHolds);
      return;
    }
    if (callerHolds && this.by === null) {
      c.transition('held');
      this.by = 'caller';
      c.setSilent(true);
      c.tellAi('hold', 'caller');
      c.record('hold', { held_by: 'caller' });
    } else if (!callerHolds && this.by === 'caller') {
      c.transition('active');
      this.by = null;
      c.setSilent(false);
      c.tellAi('resume', 'caller');
      c.record('resume', { held_by: 'caller' });
    }
  }

  /** Puts the caller on hold with music; resolves once the caller accepted the re-INVITE. */
  async hold(requestedBy: HoldRequester): Promise<{ on_hold: true; held_by: 'gateway'; sip_status: number }> {
    const c = this.call;
    if (c.state() === 'held' || this.busy === 'holding' || this.busy === 'resuming')
      throw new HoldError('ERR_CALL_ON_HOLD', this.by === 'caller' ? 'the caller holds the call' : undefined);
    if (c.state() !== 'active') throw new HoldError('ERR_CALL_NOT_ACTIVE');
    this.busy = 'holding';
    try {
      // Loaded first, so the music starts with the first packet after the 2xx.
      const music = await c.music();
      const offer = c.reoffer('sendonly');
      if (offer === null) throw new HoldError('ERR_CALL_NOT_ACTIVE', 'the call has no media to hold');
      const result = await this.offer(offer, 'sendonly');
      if (c.state() !== 'active') throw new HoldError('ERR_CALL_NOT_ACTIVE', 'the call ended meanwhile');
      const answer = readAnswer(result.answer);
      if (answer?.remote) c.setRemote(answer.remote);
      c.transition('held');
      this.by = 'gateway';
      c.setMusic(music);
      // RFC 6337 §5.1: recvonly expected; an inactive answer wants nothing from us.
      c.setSilent(answer?.direction === 'inactive' || answer?.direction === 'sendonly');
      c.tellAi('hold', 'gateway');
      c.record('hold', { held_by: 'gateway', requested_by: requestedBy, answer: answer?.direction ?? null });
      c.log.info('call put on hold', { requested_by: requestedBy, answer: answer?.direction ?? null });
      return { on_hold: true, held_by: 'gateway', sip_status: result.status };
    } finally {
      this.busy = null;
    }
  }

  /** Takes the caller off the gateway's hold; resolves once the caller accepted the re-INVITE. */
  async resume(requestedBy: HoldRequester): Promise<{ on_hold: false; sip_status: number }> {
    const c = this.call;
    if (c.state() === 'ended' || c.state() === 'answering') throw new HoldError('ERR_CALL_NOT_ACTIVE');
    if (this.by !== 'gateway' || this.busy)
      throw new HoldError('ERR_CALL_NOT_ON_HOLD', this.by === 'caller' ? 'the caller holds the call' : undefined);
    this.busy = 'resuming';
    try {
      const offer = c.reoffer('sendrecv');
      if (offer === null) throw new HoldError('ERR_CALL_NOT_ACTIVE', 'the call has no media to resume');
      const result = await this.offer(offer, 'sendrecv');
      if (c.state() !== 'held') throw new HoldError('ERR_CALL_NOT_ACTIVE', 'the call ended meanwhile');
      const answer = readAnswer(result.answer);
      if (answer?.remote) c.setRemote(answer.remote);
      c.setMusic(null);
      c.transition('active');
      this.by = null;
      c.setSilent(answer?.direction === 'inactive' || answer?.direction === 'sendonly');
      c.tellAi('resume', 'gateway');
      c.record('resume', { held_by: 'gateway', requested_by: requestedBy });
      c.log.info('call taken off hold', { requested_by: requestedBy });
      return { on_hold: false, sip_status: result.status };
    } finally {
      this.busy = null;
    }
  }

  /** Sends our offer; a refusal restores our side of the session (RFC 3261 §14.1) and throws. */
  private async offer(
    sdp: string,
    direction: 'sendonly' | 'sendrecv',
  ): Promise<{ status: number; answer: string | null }> {
    const c = this.call;
    const undo = (): void => void c.reoffer(direction === 'sendonly' ? 'sendrecv' : 'sendonly');
    let result: { status: number; answer: string | null };
    try {
      result = await c.reinvite(sdp);
    } catch (err) {
      undo();
      c.log.warn('hold re-INVITE failed', { direction, error: (err as Error).message });
      throw new HoldError('ERR_CALL_HOLD_FAILED', `re-INVITE failed: ${(err as Error).message}`, { sip_status: null });
    }
    if (result.status < 200 || result.status >= 300) {
      undo();
      c.log.warn('hold re-INVITE refused', { direction, status: result.status });
      throw new HoldError('ERR_CALL_HOLD_FAILED', `the caller answered the re-INVITE ${result.status}`, {
        sip_status: result.status,
      });
    }
    return result;
  }
}
