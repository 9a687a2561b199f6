import { pageSchema } from '../http/page';

/**
 * JSON Schemas of the call history API (calls the media gateways answered, their
 * events, transcripts and recordings), compiled by the validator and published in
 * the OpenAPI document. Each request schema has a TypeScript twin: the shape values
 * have once they passed validation.
 */

export const MAX_PER_PAGE = 200;
export const CALL_STATES = ['initiated', 'ringing', 'active', 'ended'] as const;
export type CallState = (typeof CALL_STATES)[number];

/** Why a recording cannot be downloaded (404 ERR_RECORDING_NOT_AVAILABLE `reason`, detail `recording.reason`). */
export const RECORDING_PROBLEMS = ['not_recorded', 'in_progress', 'file_missing'] as const;
export type RecordingProblem = (typeof RECORDING_PROBLEMS)[number];

const page = { type: 'integer', minimum: 1, default: 1 } as const;
const perPage = { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 } as const;
const partyFilter = (who: string): object => ({
  type: 'string',
  minLength: 1,
  maxLength: 128,
  description:
    `The ${who} exactly as the gateway saw it (the SIP URI's user part). Digits match with or without a leading "+" ` +
    '(a "+" left unencoded in the query string reads as a space and still matches).',
});

const activeQueryProperties = {
  page,
  per_page: perPage,
  from_number: partyFilter('caller'),
  to_number: partyFilter('number dialled'),
} as const;

export const ACTIVE_CALLS_QUERY_SCHEMA = {
  type: 'object',
  properties: activeQueryProperties,
  additionalProperties: false,
} as const;

export interface ActiveCallsQuery {
  readonly page: number;
  readonly per_page: number;
  readonly from_number?: string;
  readonly to_number?: string;
}

export const LIST_CALLS_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    ...activeQueryProperties,
    state: { type: 'string', enum: CALL_STATES },
    started_after: {
      type: 'string',
      format: 'date-time',
      description: 'Calls that started at or after this time (RFC 3339, with a zone).',
    },
    started_before: {
      type: 'string',
      format: 'date-time',
      description: 'Calls that started before this time (RFC 3339, with a zone).',
    },
  },
  additionalProperties: false,
} as const;

export interface ListCallsQuery extends ActiveCallsQuery {
  readonly state?: CallState;
  readonly started_after?: string;
  readonly started_before?: string;
}

export const CALL_PARAMS_SCHEMA = {
  type: 'object',
  properties: {
    call_id: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: "The gateway's call id (a UUID), as in `call_id` of the call.",
    },
  },
  required: ['call_id'],
  additionalProperties: false,
} as const;

export interface CallParams {
  readonly call_id: string;
}

// ----- responses -----

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const nullableString = { type: ['string', 'null'] } as const;

export const CALL_SCHEMA = {
  type: 'object',
  properties: {
    call_id: { type: 'string' },
    sip_call_id: { type: 'string', description: "Call-ID of the gateway's SIP dialog." },
    direction: { type: 'string', enum: ['inbound', 'outbound'] },
    from_number: { type: 'string' },
    to_number: { type: 'string' },
    route: { type: 'string', description: 'What Kamailio routed the call as (X-Route), e.g. `ai|15557770001`.' },
    ai: {
      type: 'object',
      properties: {
        dialect: { ...nullableString, description: 'olib, twilio or binary.' },
        url: {
          ...nullableString,
          description: 'The AI WebSocket URL the call was bridged to (any user:password part is dropped).',
        },
      },
      required: ['dialect', 'url'],
      additionalProperties: false,
    },
    codec: { ...nullableString, description: 'PCMU or PCMA on the gateway leg.' },
    state: { type: 'string', enum: CALL_STATES },
    gateway: {
      type: ['string', 'null'],
      description: 'The media gateway that answered (or placed) it; null while an outbound call waits for one.',
    },
    started_at: timestamp,
    ended_at: nullableTimestamp,
    duration_seconds: {
      type: ['number', 'null'],
      minimum: 0,
      description: 'Ended calls: from answer to end. Active calls: so far. Millisecond precision.',
    },
    end_reason: nullableString,
    ended_by: { ...nullableString, description: 'caller, ai, gateway, ...' },
    recorded: {
      type: 'boolean',
      description: 'Whether the gateway recorded the call (see `recording` of GET /api/calls/{call_id}).',
    },
    stats: {
      type: ['object', 'null'],
      description: "The media leg's counters when the call ended (packets, frames lost and concealed, ...).",
    },
  },
  required: [
    'call_id',
    'sip_call_id',
    'direction',
    'from_number',
    'to_number',
    'route',
    'ai',
    'codec',
    'state',
    'gateway',
    'started_at',
    'ended_at',
    'duration_seconds',
    'end_reason',
    'ended_by',
    'recorded',
    'stats',
  ],
  additionalProperties: false,
} as const;

export const CALL_LIST_SCHEMA = pageSchema(CALL_SCHEMA);

const TRANSCRIPT_ENTRY_SCHEMA = {
  type: 'object',
  properties: {
    at: timestamp,
    speaker: { type: 'string', description: '`ai` for what the AI platform sent as text.' },
    text: { type: 'string' },
    final: { type: 'boolean', description: 'false: an interim text the AI may still revise.' },
  },
  required: ['at', 'speaker', 'text', 'final'],
  additionalProperties: false,
} as const;

const EVENT_SCHEMA = {
  type: 'object',
  properties: {
    at: timestamp,
    type: {
      type: 'string',
      description:
        'transcript ({speaker, text, final}), dtmf ({digit, duration_ms, source}), hold, resume, ai_reconnecting ({attempt}), ai_reconnected, transfer ({target}), ...',
    },
    data: { type: 'object' },
  },
  required: ['at', 'type', 'data'],
  additionalProperties: false,
} as const;

const RECORDING_SCHEMA = {
  type: ['object', 'null'],
  description: 'null when the call was not recorded.',
  properties: {
    available: { type: 'boolean', description: 'true when GET download_url answers the WAV.' },
    bytes: {
      type: ['integer', 'null'],
      minimum: 0,
      description: 'Size of the WAV file (null until it can be downloaded).',
    },
    download_url: { type: 'string' },
    reason: {
      type: ['string', 'null'],
      enum: [...RECORDING_PROBLEMS.filter((p) => p !== 'not_recorded'), null],
      description: 'Why it is not available: in_progress (the call has not ended) or file_missing.',
    },
  },
  required: ['available', 'bytes', 'download_url', 'reason'],
  additionalProperties: false,
} as const;

export const CALL_DETAIL_SCHEMA = {
  type: 'object',
  properties: {
    ...CALL_SCHEMA.properties,
    transcript: { type: 'array', items: TRANSCRIPT_ENTRY_SCHEMA, description: 'The transcript events, in order.' },
    events: { type: 'array', items: EVENT_SCHEMA, description: 'Every event of the call, in order.' },
    recording: RECORDING_SCHEMA,
  },
  required: [...CALL_SCHEMA.required, 'transcript', 'events', 'recording'],
  additionalProperties: false,
} as const;

/** The WAV download (OpenAPI 3.1: a binary body is a string with its media type). */
export const RECORDING_BODY_SCHEMA = { type: 'string', contentMediaType: 'audio/wav' } as const;

// ----- call control (POST /api/calls/initiate, /{call_id}/hangup|transfer|hold|resume, GET /active) -----

/** A SIP user name or E.164 number as a party (RFC 3261 §25.1 user part, no escapes). */
const SIP_USER_PATTERN = "^\\+?[A-Za-z0-9_.!~*'()&=$,;?/-]{1,64}$";

export const CALL_COMMAND_PARAMS_SCHEMA = {
  type: 'object',
  properties: {
    call_id: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9._:-]{1,64}$',
      description:
        "An AI call's `call_id`, or `kd-<h_entry>-<h_id>` for a call Kamailio only proxies (as GET /api/calls/active lists it).",
    },
  },
  required: ['call_id'],
  additionalProperties: false,
} as const;

export const CALL_COMMAND_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    wait: {
      type: 'boolean',
      default: true,
      description: 'false: answer 202 with the command id at once instead of waiting for the result.',
    },
  },
  additionalProperties: false,
} as const;

export interface CallCommandQuery {
  readonly wait: boolean;
}

export const HANGUP_BODY_SCHEMA = {
  type: 'object',
  properties: {
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 100,
      pattern: '^[^\\u0000-\\u001f\\u007f]+$',
      description: 'Recorded as the end reason `api hangup: <reason>` (default `requested`).',
    },
  },
  additionalProperties: false,
} as const;

export interface HangupBody {
  readonly reason?: string;
}

export const TRANSFER_MODES = ['blind', 'bridged', 'warm'] as const;

export const TRANSFER_BODY_SCHEMA = {
  type: 'object',
  properties: {
    mode: {
      type: 'string',
      enum: TRANSFER_MODES,
      default: 'blind',
      description:
        'blind: REFER to the caller (falls back to bridged when the far end refuses REFER); bridged: the gateway dials the target and joins the two; warm: the AI speaks to the target first.',
    },
    target: {
      type: 'string',
      pattern: SIP_USER_PATTERN,
      description: 'A SIP user name or an E.164 number.',
    },
    announce: {
      type: 'string',
      minLength: 1,
      maxLength: 1000,
      description: 'warm: what the target is told before the caller joins.',
    },
  },
  required: ['target'],
  additionalProperties: false,
} as const;

export interface TransferBody {
  readonly mode: (typeof TRANSFER_MODES)[number];
  readonly target: string;
  readonly announce?: string;
}

export const INITIATE_BODY_SCHEMA = {
  type: 'object',
  properties: {
    from_number: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description:
        "The caller ID: one of this system's numbers (E.164), or, with from_user, that SIP user's own username.",
    },
    from_user: {
      type: 'string',
      pattern: SIP_USER_PATTERN,
      description: 'Place the call as this SIP user (from_number must then be its username).',
    },
    to_number: {
      type: 'string',
      minLength: 1,
      maxLength: 32,
      description: 'E.164: out through the trunks, or one of our numbers.',
    },
    to_user: { type: 'string', pattern: SIP_USER_PATTERN, description: 'A registered SIP user instead of a number.' },
    webhook_url: {
      type: 'string',
      maxLength: 2048,
      pattern: '^https?://[^\\s]+$',
      description:
        'Receives the signed status events (initiated, ringing, answered, completed, failed); see docs/webhooks.md.',
    },
    ai: {
      type: 'object',
      properties: {
        url: { type: 'string', maxLength: 1024, pattern: '^wss?://[^\\s]+$', description: 'The AI WebSocket.' },
        dialect: { type: 'string', enum: ['olib', 'twilio', 'binary'] },
      },
      required: ['url'],
      additionalProperties: false,
      description: "Default: the from_number's AI settings, else the platform's default AI.",
    },
    custom_parameters: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      additionalProperties: { type: 'string', maxLength: 512 },
      description: 'Passed to the AI with the call (olib `call.custom_parameters`, Twilio `customParameters`).',
    },
    record: { type: 'boolean', description: "Record the call (default: the from_number's setting)." },
    ring_timeout_seconds: { type: 'integer', minimum: 5, maximum: 120, default: 30 },
  },
  // Exactly one of to_number and to_user: checked by CallControl.initiate (ajv's strict
  // mode refuses `required` inside oneOf without the properties repeated there).
  required: ['from_number'],
  additionalProperties: false,
} as const;

export interface InitiateCallBody {
  readonly from_number: string;
  readonly from_user?: string;
  readonly to_number?: string;
  readonly to_user?: string;
  readonly webhook_url?: string;
  readonly ai?: { readonly url: string; readonly dialect?: 'olib' | 'twilio' | 'binary' };
  readonly custom_parameters?: Readonly<Record<string, string>>;
  readonly record?: boolean;
  readonly ring_timeout_seconds: number;
}

export const INITIATED_SCHEMA = {
  type: 'object',
  properties: {
    call_id: { type: 'string' },
    state: { type: 'string', enum: ['initiated'] },
    direction: { type: 'string', enum: ['outbound'] },
    from_number: { type: 'string' },
    to_number: { type: 'string' },
    webhook_url: nullableString,
    ring_timeout_seconds: { type: 'integer' },
    created_at: timestamp,
    command_id: { type: 'string', description: 'The originate command a gateway takes.' },
  },
  required: ['call_id', 'state', 'direction', 'from_number', 'to_number', 'created_at', 'command_id'],
} as const;

export const COMMAND_RESULT_SCHEMA = {
  type: 'object',
  properties: {
    ok: { type: 'boolean', enum: [true] },
    call_id: { type: 'string' },
    command: { type: 'string', enum: ['hangup', 'transfer', 'hold', 'resume'] },
    command_id: { type: 'string', description: 'Absent for calls Kamailio proxies (no gateway involved).' },
  },
  required: ['ok', 'call_id', 'command'],
  description: 'What the gateway reported, e.g. `ended` for a hangup, `sip_status` for a transfer.',
} as const;

export const COMMAND_ACCEPTED_SCHEMA = {
  type: 'object',
  properties: { call_id: { type: 'string' }, command_id: { type: 'string' } },
  required: ['call_id', 'command_id'],
} as const;

const ACTIVE_CALL_SCHEMA = {
  type: 'object',
  properties: {
    call_id: {
      type: 'string',
      description: 'AI calls: their call_id. Calls Kamailio only proxies: `kd-<h_entry>-<h_id>` (hangup takes it).',
    },
    kind: { type: 'string', enum: ['ai', 'proxied'] },
    sip_call_id: { type: 'string' },
    direction: { type: 'string', enum: ['inbound', 'outbound', 'internal'] },
    from_number: { type: 'string' },
    to_number: { type: 'string' },
    trunk_id: nullableString,
    state: { type: 'string', enum: ['initiated', 'ringing', 'active'] },
    on_hold: { type: ['boolean', 'null'], description: 'null: not known (calls Kamailio proxies).' },
    codec: nullableString,
    gateway: nullableString,
    ai: {
      type: ['object', 'null'],
      properties: { dialect: nullableString, url: nullableString },
      required: ['dialect', 'url'],
      additionalProperties: false,
    },
    recorded: { type: 'boolean' },
    started_at: nullableTimestamp,
    answered_at: nullableTimestamp,
    duration_seconds: { type: 'number', minimum: 0 },
  },
  required: [
    'call_id',
    'kind',
    'sip_call_id',
    'direction',
    'from_number',
    'to_number',
    'trunk_id',
    'state',
    'on_hold',
    'codec',
    'gateway',
    'ai',
    'recorded',
    'started_at',
    'answered_at',
    'duration_seconds',
  ],
  additionalProperties: false,
} as const;

export const ACTIVE_CALL_PAGE_SCHEMA = {
  ...pageSchema(ACTIVE_CALL_SCHEMA, {
    kamailio: {
      type: 'string',
      enum: ['ok', 'unavailable'],
      description: 'unavailable: Kamailio did not answer; the calls it proxies are missing from this page.',
    },
  }),
  required: ['items', 'total', 'page', 'per_page', 'kamailio'],
} as const;
