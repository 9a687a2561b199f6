import type { IncomingHttpHeaders } from 'node:http';
import type { PresentedAuth } from '../../../common/src/ai-protocol/auth';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';

export type WireFrame = string | Uint8Array;

/** The gateway's credentials as one connection presented them. */
export interface Credentials extends PresentedAuth {
  readonly reconnected: boolean;
}

/** What the gateway said, once validated, whatever the dialect. */
export type GatewayEvent =
  /** olib/binary: the first frame; `session: 'sms'` opens an SMS delivery (the message id in `callId`). */
  | {
      readonly kind: 'auth';
      readonly credentials: Credentials;
      readonly mode: string | undefined;
      readonly session: 'call' | 'sms';
    }
  /** twilio: the stream's metadata (credentials came with the upgrade request). */
  | {
      readonly kind: 'start';
      readonly callId: string;
      readonly mode: string | undefined;
      readonly reconnected: boolean;
    }
  /** caller audio in the dialect's own encoding (PCM16LE 16 kHz, or μ-law 8 kHz for twilio) */
  | { readonly kind: 'audio'; readonly payload: Buffer; readonly sequence: number | undefined }
  | { readonly kind: 'dtmf'; readonly digit: string }
  | {
      readonly kind: 'mark';
      readonly name: string;
      readonly playedMs: number | undefined;
      readonly truncated: boolean | undefined;
    }
  | { readonly kind: 'hold' }
  | { readonly kind: 'resume' }
  | {
      readonly kind: 'sms';
      readonly messageId: string;
      readonly from: string;
      readonly to: string;
      readonly text: string;
    }
  | { readonly kind: 'flow'; readonly paused: boolean }
  | { readonly kind: 'ping'; readonly id: number }
  | { readonly kind: 'pong' }
  | { readonly kind: 'end'; readonly reason: string }
  | { readonly kind: 'error'; readonly code: string; readonly message: string | undefined }
  /** understood, nothing to do (twilio `connected`, binary `audio_gap`) */
  | { readonly kind: 'noop' };

export type DecodedEvents =
  { readonly ok: true; readonly events: readonly GatewayEvent[] } | { readonly ok: false; readonly reason: string };

/**
 * One dialect, AI side: turns the gateway's frames into {@link GatewayEvent}s and
 * builds the agent's replies. A builder returns null where the dialect has no such
 * message (Twilio has no text, SMS or app-level ping).
 */
export interface AgentDialect {
  readonly name: Dialect;
  /** twilio: yes (then `start` carries the call); olib/binary: no, the first frame is `auth` */
  readonly credentialsInHeaders: boolean;
  /** twilio: credentials from the upgrade request; olib/binary: null (an `auth` frame follows). */
  headerCredentials(headers: IncomingHttpHeaders): Credentials | null;
  decode(data: Buffer, isBinary: boolean): DecodedEvents;
  accepted(callId: string): WireFrame | null;
  refused(code: string, message: string): WireFrame;
  /** caller audio straight back, in the encoding it came in */
  echo(payload: Buffer): WireFrame;
  /** agent speech, PCM16 16 kHz, any length */
  speak(pcm16k: Int16Array): WireFrame;
  text(text: string): WireFrame | null;
  mark(name: string): WireFrame;
  clear(): WireFrame;
  hangup(reason: string): WireFrame;
  pong(id: number): WireFrame | null;
  sms(text: string, to: string, inReplyTo: string): WireFrame | null;
  /** SMS session: the message is taken (after the replies) */
  smsAck(messageId: string): WireFrame | null;
}
