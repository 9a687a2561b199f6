import type { AiTarget, CallParties, EndedBy } from './call';
import type { MusicSource } from './media-leg';

/** A finite clip (an IVR prompt, a queue announcement): `done` resolves once its last frame was sent or it was replaced. */
export interface Clip extends MusicSource {
  readonly done: Promise<void>;
}

/** How dialling a person for a caller ended (see CallHandle.bridgeTo). */
export type BridgeOutcome =
  | { readonly ok: true; readonly target: string }
  | {
      readonly ok: false;
      readonly sipStatus: number;
      readonly reason: 'busy' | 'no_answer' | 'failed' | 'cancelled';
      /** With several targets (ring all): the status of each. */
      readonly statuses?: Readonly<Record<string, number>>;
    };

/**
 * What IVR menus and queues drive of an answered call that no AI holds yet
 * (call.ts implements it). The caller hears whatever `play` gave it (silence by
 * default); its digits (RFC 4733, SIP INFO, in-band) go to the `onDigit` listeners
 * until an AI takes the call.
 */
export interface CallHandle {
  readonly id: string;
  readonly parties: CallParties;
  readonly codec: 'PCMU' | 'PCMA';
  readonly ended: Promise<{ reason: string; by: EndedBy }>;
  /** Whether the call is still up. */
  readonly live: boolean;
  /** Plays to the caller: a clip or looping music; null: silence. Replaces what played. */
  play(source: MusicSource | null): void;
  /** The caller's digits while no AI holds the call; returns the unsubscribe. */
  onDigit(listener: (digit: string, source: 'rfc4733' | 'inband' | 'sip-info') => void): () => void;
  /**
   * Hands the caller to an AI (the AI stream opens now; music stops). False when the
   * AI platform refused or could not be reached: the call is still up, still ours.
   */
  connectAi(target: AiTarget): Promise<boolean>;
  /**
   * Dials one person (or several at once: the first to answer wins, the others are
   * cancelled) through Kamailio and, on answer, joins the caller to them; the caller
   * keeps hearing what `play` gave it while they ring. `targets` are SIP user names
   * or E.164 numbers (through the trunks).
   */
  bridgeTo(targets: readonly string[], opts: { readonly ringTimeoutMs: number }): Promise<BridgeOutcome>;
  /** Speaks `text` through the AI's TTS (the AI stream of `target` opens for it); resolves when the AI marks it played. */
  sayThroughAi?(target: AiTarget, text: string): Promise<void>;
  /** A call event (call_events: shown in GET /api/calls/{id}). */
  event(type: string, data: Record<string, unknown>): void;
  end(reason: string, by: EndedBy): Promise<void>;
}
