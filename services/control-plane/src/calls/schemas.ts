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
