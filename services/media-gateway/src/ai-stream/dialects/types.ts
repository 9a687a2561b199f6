import type { AuthMaterial } from '../../../../common/src/ai-protocol/auth';
import type { Dialect } from '../../../../common/src/ai-protocol/dialect';
import type { WireFrame } from '../queue';
import type { CallDirection, G711Codec, TransferMode } from '../../../../common/src/ai-protocol/wire/olib';

/** What the gateway knows about the call when it opens the stream. */
export interface CallInfo {
  readonly callId: string;
  readonly conversationId: string;
  readonly from: string;
  readonly to: string;
  readonly direction: CallDirection;
  readonly codec: G711Codec;
  readonly customParameters?: Readonly<Record<string, string>>;
}

/** Call events the gateway reports to the AI (besides audio, DTMF and marks). */
export type CallEvent =
  | { readonly type: 'hold' | 'resume'; readonly heldBy?: 'caller' | 'gateway' }
  | {
      readonly type: 'sms';
      readonly messageId: string;
      readonly from: string;
      readonly to: string;
      readonly text: string;
    }
  /** Warm transfer: the target answered and hears the AI now. */
  | { readonly type: 'transfer_target_answered'; readonly target: string; readonly announce?: string }
  /** A bridged or warm transfer did not happen; the caller is back with the AI. */
  | {
      readonly type: 'transfer_failed';
      readonly target: string;
      readonly mode: Exclude<TransferMode, 'auto'>;
      readonly reason: string;
      readonly sipStatus?: number;
    };

/** Everything an AI platform can say, whatever the dialect, once validated. */
export type AiMessage =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'audio'; readonly pcm: Int16Array }
  | { readonly kind: 'text'; readonly text: string; readonly final: boolean }
  | { readonly kind: 'clear' }
  | { readonly kind: 'mark'; readonly name: string }
  | { readonly kind: 'hangup'; readonly reason: string }
  | { readonly kind: 'transfer'; readonly target: string; readonly mode: TransferMode }
  | { readonly kind: 'transfer_complete' }
  | { readonly kind: 'transfer_cancel' }
  | { readonly kind: 'hold' }
  | { readonly kind: 'resume' }
  | { readonly kind: 'send_dtmf'; readonly digits: string; readonly durationMs: number | undefined }
  | {
      readonly kind: 'sms';
      readonly text: string;
      readonly to: string | undefined;
      readonly inReplyTo: string | undefined;
    }
  | { readonly kind: 'ping'; readonly id: number }
  | { readonly kind: 'pong'; readonly id: number }
  | { readonly kind: 'error'; readonly code: string; readonly message: string | undefined };

export type Decoded =
  { readonly ok: true; readonly messages: readonly AiMessage[] } | { readonly ok: false; readonly reason: string };

/**
 * One dialect, gateway side: builds the frames the gateway sends and turns what the
 * AI sends into {@link AiMessage}s. Stateful only where the wire is (sequence numbers,
 * resampler filter memory), one instance per call. A builder returns null when the
 * dialect has no such message (Twilio has no hold, flow control or app-level ping).
 */
export interface GatewayDialect {
  readonly name: Dialect;
  /** olib/binary wait for `auth_ok`; Twilio has no acceptance message. */
  readonly awaitsAcceptance: boolean;
  handshakeHeaders(auth: AuthMaterial): Record<string, string>;
  /** Frames that open every (re)connection, before anything queued. */
  opening(auth: AuthMaterial, nowMs: number): WireFrame[];
  /** One 20 ms frame of caller audio, 320 samples at 16 kHz. */
  audio(frame16k: Int16Array, nowMs: number): WireFrame;
  dtmf(digit: string, durationMs: number): WireFrame;
  markPlayed(name: string, playedMs: number, truncated: boolean): WireFrame;
  event(event: CallEvent, nowMs: number): WireFrame | null;
  flow(state: 'paused' | 'resumed', bufferedMs: number): WireFrame | null;
  ping(id: number, nowMs: number): WireFrame | null;
  pong(id: number): WireFrame | null;
  error(code: string, message: string): WireFrame | null;
  /** Caller audio dropped under back-pressure, for dialects whose frames carry no sequence. */
  gap(droppedFrames: number): WireFrame | null;
  end(reason: string, nowMs: number): WireFrame;
  decode(data: Buffer, isBinary: boolean): Decoded;
}
