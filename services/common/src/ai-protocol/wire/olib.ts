import Ajv, { type ValidateFunction } from 'ajv';
import { parseJsonFrame, type Parsed } from './parse';

/**
 * The `olib` wire vocabulary: JSON text frames `{"type": …, …}`. The first four
 * messages (`auth`, `audio_data`, `dtmf`, `response`) are the seed's, field for field;
 * everything else is this project's extension in the same style, documented in
 * docs/ai-protocol.md. The `binary` dialect uses the same control frames, with audio
 * in binary WebSocket messages instead of `audio_data` / `audio`.
 *
 * Both directions live here: the gateway validates what the AI sends and the demo
 * agent validates what the gateway sends, against one definition.
 */

export type CallDirection = 'incoming' | 'outgoing';
export type G711Codec = 'PCMU' | 'PCMA';

/** Audio on the socket, whatever the telephone leg's codec. Extension of the seed's `call`. */
export interface OlibAudioFormat {
  readonly encoding: 'pcm_s16le';
  readonly sample_rate: 16000;
  readonly channels: 1;
  readonly frame_ms: 20;
  /** `json`: base64 in `audio_data` / `audio` (olib); `binary`: raw binary messages (binary dialect) */
  readonly framing: 'json' | 'binary';
}

export function olibAudioFormat(framing: OlibAudioFormat['framing']): OlibAudioFormat {
  return { encoding: 'pcm_s16le', sample_rate: 16000, channels: 1, frame_ms: 20, framing };
}

// ─── gateway → AI ────────────────────────────────────────────────────────────────

export interface OlibAuth {
  readonly type: 'auth';
  readonly auth: {
    /** "Bearer <jwt>" */
    readonly token: string;
    /** hex HMAC-SHA256(SIP_SHARED_SECRET, `${timestamp}.${call_id}`) */
    readonly signature: string;
    /** unix seconds, as a decimal string */
    readonly timestamp: string;
    readonly call_id: string;
    /** true when this socket replaces one that dropped mid-call (same call_id). */
    readonly reconnected: boolean;
  };
  readonly call: {
    readonly conversation_id: string;
    readonly from_number: string;
    readonly to_number: string;
    readonly direction: CallDirection;
    /** the telephone leg's codec and rate (the seed's fields) */
    readonly codec: G711Codec;
    readonly sample_rate: 8000;
    /** what `audio_data` carries */
    readonly audio_format: OlibAudioFormat;
    /** per-number/route parameters (e.g. `mode` for the demo agent) */
    readonly custom: Readonly<Record<string, string>>;
  };
}

export interface OlibAudioData {
  readonly type: 'audio_data';
  readonly data: {
    readonly call_id: string;
    readonly audio: string;
    readonly timestamp: number;
    readonly sequence: number;
  };
}

export interface OlibDtmf {
  readonly type: 'dtmf';
  readonly data: { readonly call_id: string; readonly digit: string; readonly duration_ms: number };
}

/** A mark the AI sent, acknowledged once the audio queued before it has played (or was cut). */
export interface OlibMarkPlayed {
  readonly type: 'mark';
  readonly data: {
    readonly call_id: string;
    readonly name: string;
    readonly played_ms: number;
    readonly truncated: boolean;
  };
}

export interface OlibHold {
  readonly type: 'hold' | 'resume';
  readonly data: {
    readonly call_id: string;
    readonly timestamp: number;
    /** `caller`: the caller's re-INVITE put us on hold; `gateway`: the API or the AI put the caller on hold. */
    readonly held_by?: 'caller' | 'gateway';
  };
}

export interface OlibSmsIn {
  readonly type: 'sms';
  readonly data: {
    readonly call_id?: string;
    readonly message_id: string;
    readonly from_number: string;
    readonly to_number: string;
    readonly text: string;
    readonly timestamp: number;
  };
}

/** Playout flow control: the gateway's queue of AI audio is above / back below its marks. */
export interface OlibFlow {
  readonly type: 'flow';
  readonly data: { readonly call_id: string; readonly state: 'paused' | 'resumed'; readonly buffered_ms: number };
}

export interface OlibPing {
  readonly type: 'ping';
  readonly data: { readonly call_id?: string; readonly id: number; readonly timestamp?: number };
}

export interface OlibPong {
  readonly type: 'pong';
  readonly data: { readonly call_id?: string; readonly id: number };
}

export interface OlibCallEnd {
  readonly type: 'call_end';
  readonly data: { readonly call_id: string; readonly reason: string; readonly timestamp: number };
}

export interface OlibError {
  readonly type: 'error';
  readonly data: { readonly call_id?: string; readonly code: string; readonly message?: string };
}

/** binary dialect only: caller audio frames the gateway dropped under back-pressure. */
export interface OlibAudioGap {
  readonly type: 'audio_gap';
  readonly data: { readonly call_id: string; readonly dropped_frames: number; readonly dropped_ms: number };
}

/** How a transfer goes: `auto` tries REFER and falls back to bridged when the far end refuses it. */
export type TransferMode = 'blind' | 'bridged' | 'warm' | 'auto';
export const TRANSFER_MODES: readonly TransferMode[] = ['blind', 'bridged', 'warm', 'auto'];

/**
 * Warm transfer: the target answered and now hears the AI (the caller waits on hold);
 * `announce` is what the operator asked the AI to tell the target, if anything.
 */
export interface OlibTransferTargetAnswered {
  readonly type: 'transfer_target_answered';
  readonly data: {
    readonly call_id: string;
    readonly target: string;
    readonly announce?: string;
    readonly timestamp: number;
  };
}

/** A bridged or warm transfer did not happen: the caller is back with the AI (`reason`: busy, no_answer, failed, cancelled, refused). */
export interface OlibTransferFailed {
  readonly type: 'transfer_failed';
  readonly data: {
    readonly call_id: string;
    readonly target: string;
    readonly mode: Exclude<TransferMode, 'auto'>;
    readonly reason: string;
    readonly sip_status?: number;
    readonly timestamp: number;
  };
}

export type OlibGatewayFrame =
  | OlibTransferTargetAnswered
  | OlibTransferFailed
  | OlibAuth
  | OlibAudioData
  | OlibDtmf
  | OlibMarkPlayed
  | OlibHold
  | OlibSmsIn
  | OlibFlow
  | OlibPing
  | OlibPong
  | OlibCallEnd
  | OlibError
  | OlibAudioGap;

// ─── AI → gateway ────────────────────────────────────────────────────────────────

export interface OlibAuthOk {
  readonly type: 'auth_ok';
  readonly data?: { readonly call_id?: string; readonly session_id?: string };
}

/** The seed's reply: text and/or a whole utterance of audio. */
export interface OlibResponse {
  readonly type: 'response';
  readonly data: { readonly text?: string; readonly audio?: string; readonly final?: boolean };
}

/** Streamed audio: a chunk of any length (whole samples). */
export interface OlibAudio {
  readonly type: 'audio';
  readonly data: { readonly audio: string; readonly sequence?: number };
}

export interface OlibClear {
  readonly type: 'clear';
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface OlibMark {
  readonly type: 'mark';
  readonly data: { readonly name: string };
}

export interface OlibHangup {
  readonly type: 'hangup';
  readonly data?: { readonly reason?: string };
}

export interface OlibTransfer {
  readonly type: 'transfer';
  /** `mode` defaults to `auto`. */
  readonly data: { readonly target: string; readonly mode?: TransferMode };
}

/** Warm transfer: join the caller to the target and leave (`transfer_complete`), or go back to the caller (`transfer_cancel`). */
export interface OlibTransferControl {
  readonly type: 'transfer_complete' | 'transfer_cancel';
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Put the caller on hold with music (`hold`) or take it off (`resume`); answered with the gateway's `hold`/`resume`, or an `error`. */
export interface OlibHoldRequest {
  readonly type: 'hold' | 'resume';
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface OlibSendDtmf {
  readonly type: 'send_dtmf';
  readonly data: { readonly digits: string; readonly duration_ms?: number };
}

export interface OlibSmsOut {
  readonly type: 'sms';
  readonly data: { readonly text: string; readonly to_number?: string; readonly in_reply_to?: string };
}

export type OlibAiFrame =
  | OlibAuthOk
  | OlibResponse
  | OlibAudio
  | OlibClear
  | OlibMark
  | OlibHangup
  | OlibTransfer
  | OlibHoldRequest
  | OlibTransferControl
  | OlibSendDtmf
  | OlibSmsOut
  | OlibPing
  | OlibPong
  | OlibError;

// ─── schemas ─────────────────────────────────────────────────────────────────────

/** RFC 4733 §3.2 events 0–15 as the digits people write. */
export const DTMF_DIGIT_PATTERN = '^[0-9A-D*#]$';
export const DTMF_DIGITS_PATTERN = '^[0-9A-D*#]{1,64}$';

const str = { type: 'string' } as const;
const nonEmpty = { type: 'string', minLength: 1, maxLength: 256 } as const;
const count = { type: 'integer', minimum: 0 } as const;
const seconds = { type: 'number', minimum: 0 } as const;
const heldBy = { enum: ['caller', 'gateway'] } as const;

function message(
  type: string,
  data: Record<string, unknown> | undefined,
  required: readonly string[],
  dataOptional = false,
) {
  const properties: Record<string, unknown> = { type: { const: type } };
  if (data) properties['data'] = { type: 'object', properties: data, required };
  return { type: 'object', properties, required: data && !dataOptional ? ['type', 'data'] : ['type'] };
}

const pingSchema = message('ping', { call_id: str, id: count, timestamp: seconds }, ['id']);
const pongSchema = message('pong', { call_id: str, id: count }, ['id']);
const errorSchema = message('error', { call_id: str, code: nonEmpty, message: str }, ['code']);

/** Frames an AI platform may send (olib and binary control). Unknown fields are ignored. */
export const OLIB_AI_FRAME_SCHEMA = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  oneOf: [
    message('auth_ok', { call_id: str, session_id: str }, [], true),
    {
      type: 'object',
      properties: {
        type: { const: 'response' },
        data: {
          type: 'object',
          properties: { text: str, audio: str, final: { type: 'boolean' } },
          anyOf: [{ required: ['text'] }, { required: ['audio'] }],
        },
      },
      required: ['type', 'data'],
    },
    message('audio', { audio: str, sequence: count }, ['audio']),
    message('clear', {}, [], true),
    message('mark', { name: nonEmpty }, ['name']),
    message('hangup', { reason: { type: 'string', maxLength: 256 } }, [], true),
    message('transfer', { target: nonEmpty, mode: { enum: TRANSFER_MODES } }, ['target']),
    message('transfer_complete', {}, [], true),
    message('transfer_cancel', {}, [], true),
    message('hold', {}, [], true),
    message('resume', {}, [], true),
    message(
      'send_dtmf',
      {
        digits: { type: 'string', pattern: DTMF_DIGITS_PATTERN },
        duration_ms: { type: 'integer', minimum: 40, maximum: 5000 },
      },
      ['digits'],
    ),
    message(
      'sms',
      { text: { type: 'string', minLength: 1, maxLength: 4096 }, to_number: nonEmpty, in_reply_to: nonEmpty },
      ['text'],
    ),
    pingSchema,
    pongSchema,
    errorSchema,
  ],
} as const;

const callSchema = {
  type: 'object',
  properties: {
    conversation_id: str,
    from_number: str,
    to_number: str,
    direction: { enum: ['incoming', 'outgoing'] },
    codec: { enum: ['PCMU', 'PCMA'] },
    sample_rate: { type: 'integer' },
    audio_format: { type: 'object', properties: { framing: { enum: ['json', 'binary'] } } },
    custom: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['conversation_id', 'from_number', 'to_number', 'direction', 'codec', 'sample_rate'],
} as const;

/** Frames the gateway sends (validated by the demo agent and by the tests). */
export const OLIB_GATEWAY_FRAME_SCHEMA = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  oneOf: [
    {
      type: 'object',
      properties: {
        type: { const: 'auth' },
        auth: {
          type: 'object',
          properties: {
            token: { type: 'string', pattern: '^Bearer .+' },
            signature: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            timestamp: { type: 'string', pattern: '^[0-9]{1,12}$' },
            call_id: nonEmpty,
            reconnected: { type: 'boolean' },
          },
          required: ['token', 'signature', 'timestamp', 'call_id'],
        },
        call: callSchema,
      },
      required: ['type', 'auth', 'call'],
    },
    message('audio_data', { call_id: str, audio: str, timestamp: seconds, sequence: count }, [
      'call_id',
      'audio',
      'timestamp',
      'sequence',
    ]),
    message('dtmf', { call_id: str, digit: { type: 'string', pattern: DTMF_DIGIT_PATTERN }, duration_ms: count }, [
      'call_id',
      'digit',
      'duration_ms',
    ]),
    message('mark', { call_id: str, name: nonEmpty, played_ms: count, truncated: { type: 'boolean' } }, [
      'call_id',
      'name',
      'played_ms',
      'truncated',
    ]),
    message('hold', { call_id: str, timestamp: seconds, held_by: heldBy }, ['call_id']),
    message('resume', { call_id: str, timestamp: seconds, held_by: heldBy }, ['call_id']),
    message(
      'sms',
      { call_id: str, message_id: nonEmpty, from_number: str, to_number: str, text: str, timestamp: seconds },
      ['message_id', 'from_number', 'to_number', 'text'],
    ),
    message('flow', { call_id: str, state: { enum: ['paused', 'resumed'] }, buffered_ms: count }, [
      'call_id',
      'state',
      'buffered_ms',
    ]),
    pingSchema,
    pongSchema,
    message('call_end', { call_id: str, reason: str, timestamp: seconds }, ['call_id', 'reason']),
    message('transfer_target_answered', { call_id: str, target: str, announce: str, timestamp: seconds }, [
      'call_id',
      'target',
    ]),
    message(
      'transfer_failed',
      {
        call_id: str,
        target: str,
        mode: { enum: ['blind', 'bridged', 'warm'] },
        reason: str,
        sip_status: { type: 'integer', minimum: 100, maximum: 699 },
        timestamp: seconds,
      },
      ['call_id', 'target', 'mode', 'reason'],
    ),
    errorSchema,
    message('audio_gap', { call_id: str, dropped_frames: count, dropped_ms: count }, [
      'call_id',
      'dropped_frames',
      'dropped_ms',
    ]),
  ],
} as const;

const ajv = new Ajv({ discriminator: true, allErrors: false, strict: true, strictRequired: false });
const validateAi: ValidateFunction<OlibAiFrame> = ajv.compile<OlibAiFrame>(OLIB_AI_FRAME_SCHEMA);
const validateGateway: ValidateFunction<OlibGatewayFrame> = ajv.compile<OlibGatewayFrame>(OLIB_GATEWAY_FRAME_SCHEMA);

/** Parses and validates one text frame from the AI platform. */
export function parseOlibAiFrame(text: string): Parsed<OlibAiFrame> {
  return parseJsonFrame(validateAi, text, 'type');
}

/** Parses and validates one text frame from the gateway (the AI side of the contract). */
export function parseOlibGatewayFrame(text: string): Parsed<OlibGatewayFrame> {
  return parseJsonFrame(validateGateway, text, 'type');
}

/** Serialises a frame; the one place frames become text, so tests can round-trip it. */
export function serialize(frame: OlibGatewayFrame | OlibAiFrame): string {
  return JSON.stringify(frame);
}
