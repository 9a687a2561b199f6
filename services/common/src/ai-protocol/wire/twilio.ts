import Ajv, { type ValidateFunction } from 'ajv';
import { DTMF_DIGITS_PATTERN, TRANSFER_MODES, type TransferMode } from './olib';
import { parseJsonFrame, type Parsed } from './parse';

/**
 * Twilio Media Streams on the wire, so an agent written for Twilio's bidirectional
 * `<Connect><Stream>` connects unchanged. Field names and string-typed numbers follow
 * Twilio's "Media Streams - WebSocket Messages" reference
 * (https://www.twilio.com/docs/voice/media-streams/websocket-messages).
 *
 * Deliberate deviations, all additive (an agent that ignores unknown fields sees
 * plain Twilio): `mark` acknowledgements carry `played_ms` and `truncated` beside
 * `name`; the agent may send `hangup`, `transfer` (with a `mode`), `transfer_complete`,
 * `transfer_cancel`, `send_dtmf`, `hold` and `resume` (Twilio agents use the REST API
 * for these, which does not exist here), and hears of a transfer's progress in
 * `transfer_target_answered` and `transfer_failed` events and of hold in `hold` and
 * `resume` events; `callSid` is the gateway's call
 * id rather than a `CA…` SID; `start.customParameters` also carries `from`, `to`,
 * `direction`, `conversation_id` and, after a reconnect, `reconnected: "true"`.
 */

export const TWILIO_PROTOCOL = 'Call';
export const TWILIO_VERSION = '1.0.0';

export interface TwilioMediaFormat {
  readonly encoding: 'audio/x-mulaw';
  readonly sampleRate: 8000;
  readonly channels: 1;
}

export const TWILIO_MEDIA_FORMAT: TwilioMediaFormat = Object.freeze({
  encoding: 'audio/x-mulaw',
  sampleRate: 8000,
  channels: 1,
});

// ─── gateway → agent (what Twilio sends) ─────────────────────────────────────────

export interface TwilioConnected {
  readonly event: 'connected';
  readonly protocol: string;
  readonly version: string;
}

export interface TwilioStart {
  readonly event: 'start';
  readonly sequenceNumber: string;
  readonly streamSid: string;
  readonly start: {
    readonly streamSid: string;
    readonly accountSid: string;
    readonly callSid: string;
    readonly tracks: readonly string[];
    readonly customParameters: Readonly<Record<string, string>>;
    readonly mediaFormat: TwilioMediaFormat;
  };
}

export interface TwilioMediaOut {
  readonly event: 'media';
  readonly sequenceNumber: string;
  readonly streamSid: string;
  readonly media: {
    readonly track: 'inbound';
    /** 1-based count of media chunks on this stream */
    readonly chunk: string;
    /** milliseconds since the stream started */
    readonly timestamp: string;
    /** base64 μ-law, 8 kHz mono, no header */
    readonly payload: string;
  };
}

export interface TwilioDtmfOut {
  readonly event: 'dtmf';
  readonly sequenceNumber: string;
  readonly streamSid: string;
  readonly dtmf: { readonly track: 'inbound_track'; readonly digit: string };
}

export interface TwilioMarkOut {
  readonly event: 'mark';
  readonly sequenceNumber: string;
  readonly streamSid: string;
  readonly mark: { readonly name: string; readonly played_ms: number; readonly truncated: boolean };
}

export interface TwilioStop {
  readonly event: 'stop';
  readonly sequenceNumber: string;
  readonly streamSid: string;
  readonly stop: { readonly accountSid: string; readonly callSid: string };
}

/** Extension: the call was put on hold (no media either way until `resume`) or taken off it. */
export type TwilioHoldOut =
  | {
      readonly event: 'hold';
      readonly sequenceNumber: string;
      readonly streamSid: string;
      readonly hold: { readonly callSid: string; readonly held_by: 'caller' | 'gateway' };
    }
  | {
      readonly event: 'resume';
      readonly sequenceNumber: string;
      readonly streamSid: string;
      readonly resume: { readonly callSid: string; readonly held_by: 'caller' | 'gateway' };
    };

/** Extension: a warm transfer's target answered, or a bridged/warm transfer failed (see olib's frames of the same names). */
export interface TwilioTransferEvent {
  readonly event: 'transfer_target_answered' | 'transfer_failed';
  readonly sequenceNumber: string;
  readonly streamSid: string;
  readonly transfer: {
    readonly target: string;
    readonly mode?: Exclude<TransferMode, 'auto'>;
    readonly announce?: string;
    readonly reason?: string;
    readonly sip_status?: number;
  };
}

export type TwilioGatewayFrame =
  | TwilioConnected
  | TwilioStart
  | TwilioMediaOut
  | TwilioDtmfOut
  | TwilioMarkOut
  | TwilioStop
  | TwilioTransferEvent
  | TwilioHoldOut;

// ─── agent → gateway ─────────────────────────────────────────────────────────────

export interface TwilioMediaIn {
  readonly event: 'media';
  readonly streamSid?: string;
  readonly media: { readonly payload: string };
}

export interface TwilioMarkIn {
  readonly event: 'mark';
  readonly streamSid?: string;
  readonly mark: { readonly name: string };
}

export interface TwilioClear {
  readonly event: 'clear';
  readonly streamSid?: string;
}

export interface TwilioHangup {
  readonly event: 'hangup';
  readonly streamSid?: string;
  readonly hangup?: { readonly reason?: string };
}

export interface TwilioTransfer {
  readonly event: 'transfer';
  readonly streamSid?: string;
  readonly transfer: { readonly target: string; readonly mode?: TransferMode };
}

export interface TwilioTransferControl {
  readonly event: 'transfer_complete' | 'transfer_cancel';
  readonly streamSid?: string;
}

/** Extension: put the caller on hold with music, or take it off. */
export interface TwilioHoldRequest {
  readonly event: 'hold' | 'resume';
  readonly streamSid?: string;
}

export interface TwilioSendDtmf {
  readonly event: 'send_dtmf';
  readonly streamSid?: string;
  readonly send_dtmf: { readonly digits: string; readonly duration_ms?: number };
}

/** What an agent sends when it refuses the connection (then it closes with 4401). */
export interface TwilioError {
  readonly event: 'error';
  readonly streamSid?: string;
  readonly error: { readonly code: string; readonly message?: string };
}

export type TwilioAgentFrame =
  | TwilioMediaIn
  | TwilioMarkIn
  | TwilioClear
  | TwilioHangup
  | TwilioTransfer
  | TwilioHoldRequest
  | TwilioTransferControl
  | TwilioSendDtmf
  | TwilioError;

// ─── schemas ─────────────────────────────────────────────────────────────────────

const str = { type: 'string' } as const;
const nonEmpty = { type: 'string', minLength: 1, maxLength: 256 } as const;
const numeric = { type: 'string', pattern: '^[0-9]+$' } as const;

function event(
  name: string,
  body: Record<string, unknown> | undefined,
  bodyRequired: readonly string[],
  bodyOptional = false,
) {
  const properties: Record<string, unknown> = { event: { const: name }, streamSid: str };
  if (body) properties[name] = { type: 'object', properties: body, required: bodyRequired };
  return { type: 'object', properties, required: body && !bodyOptional ? ['event', name] : ['event'] };
}

export const TWILIO_AGENT_FRAME_SCHEMA = {
  type: 'object',
  discriminator: { propertyName: 'event' },
  required: ['event'],
  oneOf: [
    event('media', { payload: str }, ['payload']),
    event('mark', { name: nonEmpty }, ['name']),
    event('clear', undefined, []),
    event('hangup', { reason: { type: 'string', maxLength: 256 } }, [], true),
    event('transfer', { target: nonEmpty, mode: { enum: TRANSFER_MODES } }, ['target']),
    event('transfer_complete', undefined, []),
    event('transfer_cancel', undefined, []),
    event('hold', undefined, []),
    event('resume', undefined, []),
    event(
      'send_dtmf',
      {
        digits: { type: 'string', pattern: DTMF_DIGITS_PATTERN },
        duration_ms: { type: 'integer', minimum: 40, maximum: 5000 },
      },
      ['digits'],
    ),
    event('error', { code: nonEmpty, message: str }, ['code']),
  ],
} as const;

export const TWILIO_GATEWAY_FRAME_SCHEMA = {
  type: 'object',
  discriminator: { propertyName: 'event' },
  required: ['event'],
  oneOf: [
    {
      type: 'object',
      properties: { event: { const: 'connected' }, protocol: str, version: str },
      required: ['event', 'protocol', 'version'],
    },
    {
      type: 'object',
      properties: {
        event: { const: 'start' },
        sequenceNumber: numeric,
        streamSid: str,
        start: {
          type: 'object',
          properties: {
            streamSid: str,
            accountSid: str,
            callSid: str,
            tracks: { type: 'array', items: str },
            customParameters: { type: 'object', additionalProperties: str },
            mediaFormat: {
              type: 'object',
              properties: { encoding: { const: 'audio/x-mulaw' }, sampleRate: { const: 8000 }, channels: { const: 1 } },
              required: ['encoding', 'sampleRate', 'channels'],
            },
          },
          required: ['streamSid', 'accountSid', 'callSid', 'tracks', 'customParameters', 'mediaFormat'],
        },
      },
      required: ['event', 'sequenceNumber', 'streamSid', 'start'],
    },
    {
      ...event('media', { track: { const: 'inbound' }, chunk: numeric, timestamp: numeric, payload: str }, [
        'track',
        'chunk',
        'timestamp',
        'payload',
      ]),
      required: ['event', 'sequenceNumber', 'streamSid', 'media'],
    },
    {
      ...event('dtmf', { track: { const: 'inbound_track' }, digit: { type: 'string', pattern: '^[0-9A-D*#]$' } }, [
        'track',
        'digit',
      ]),
      required: ['event', 'sequenceNumber', 'streamSid', 'dtmf'],
    },
    {
      ...event('mark', { name: nonEmpty, played_ms: { type: 'integer', minimum: 0 }, truncated: { type: 'boolean' } }, [
        'name',
      ]),
      required: ['event', 'sequenceNumber', 'streamSid', 'mark'],
    },
    {
      ...event('stop', { accountSid: str, callSid: str }, ['accountSid', 'callSid']),
      required: ['event', 'sequenceNumber', 'streamSid', 'stop'],
    },
    ...(['transfer_target_answered', 'transfer_failed'] as const).map((name) => ({
      type: 'object',
      properties: {
        event: { const: name },
        sequenceNumber: numeric,
        streamSid: str,
        transfer: {
          type: 'object',
          properties: {
            target: str,
            mode: { enum: ['blind', 'bridged', 'warm'] },
            announce: str,
            reason: str,
            sip_status: { type: 'integer', minimum: 100, maximum: 699 },
          },
          required: ['target'],
        },
      },
      required: ['event', 'sequenceNumber', 'streamSid', 'transfer'],
    })),
    {
      ...event('hold', { callSid: str, held_by: { enum: ['caller', 'gateway'] } }, ['callSid', 'held_by']),
      required: ['event', 'sequenceNumber', 'streamSid', 'hold'],
    },
    {
      ...event('resume', { callSid: str, held_by: { enum: ['caller', 'gateway'] } }, ['callSid', 'held_by']),
      required: ['event', 'sequenceNumber', 'streamSid', 'resume'],
    },
  ],
} as const;

const ajv = new Ajv({ discriminator: true, allErrors: false, strict: true, strictRequired: false });
const validateAgent: ValidateFunction<TwilioAgentFrame> = ajv.compile<TwilioAgentFrame>(TWILIO_AGENT_FRAME_SCHEMA);
const validateGateway: ValidateFunction<TwilioGatewayFrame> =
  ajv.compile<TwilioGatewayFrame>(TWILIO_GATEWAY_FRAME_SCHEMA);

/** Parses and validates one frame from a Twilio-style agent. */
export function parseTwilioAgentFrame(text: string): Parsed<TwilioAgentFrame> {
  return parseJsonFrame(validateAgent, text, 'event');
}

/** Parses and validates one frame the gateway sent (the agent side of the contract). */
export function parseTwilioGatewayFrame(text: string): Parsed<TwilioGatewayFrame> {
  return parseJsonFrame(validateGateway, text, 'event');
}
