/**
 * JSON Schemas of the call history (`GET /api/calls/history`): every finished call,
 * the AI calls the gateways handled and the calls Kamailio only proxied, with billable
 * time and a cost estimate. Compiled by the validator and published in the OpenAPI
 * document; each request schema has a TypeScript twin.
 */
import { USERNAME_PATTERN } from '../sip-users/schemas';
import { TRUNK_ID_PATTERN } from '../trunks/schemas';
import { pageSchema } from '../http/page';
import { MAX_PER_PAGE } from './schemas';

export const HISTORY_KINDS = ['ai', 'proxied'] as const;
export type HistoryKind = (typeof HISTORY_KINDS)[number];

/** inbound: from a trunk (or, for AI calls, to the AI); outbound: out through a trunk (or placed by the AI); internal: user to user. */
export const HISTORY_DIRECTIONS = ['inbound', 'outbound', 'internal'] as const;
export type HistoryDirection = (typeof HISTORY_DIRECTIONS)[number];

export const DISPOSITIONS = ['answered', 'busy', 'no_answer', 'failed', 'cancelled'] as const;
export type Disposition = (typeof DISPOSITIONS)[number];

export const HISTORY_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
    number: {
      type: 'string',
      pattern: '^[ +]?[0-9]{3,15}$',
      description:
        'Calls from or to this number, E.164 with or without the "+" (an unencoded "+" reads as a space and still matches).',
    },
    user: { type: 'string', pattern: USERNAME_PATTERN, description: 'Calls of this SIP user, as caller or callee.' },
    trunk: { type: 'string', pattern: TRUNK_ID_PATTERN, description: 'Calls through this trunk (its trunk_id).' },
    direction: { type: 'string', enum: HISTORY_DIRECTIONS },
    disposition: { type: 'string', enum: DISPOSITIONS },
    kind: { type: 'string', enum: HISTORY_KINDS },
    from: {
      type: 'string',
      format: 'date-time',
      description: 'Calls that started at or after this time (RFC 3339, with a zone).',
    },
    to: {
      type: 'string',
      format: 'date-time',
      description: 'Calls that started before this time (RFC 3339, with a zone).',
    },
  },
  additionalProperties: false,
} as const;

export interface HistoryQuery {
  readonly page: number;
  readonly per_page: number;
  readonly number?: string;
  readonly user?: string;
  readonly trunk?: string;
  readonly direction?: HistoryDirection;
  readonly disposition?: Disposition;
  readonly kind?: HistoryKind;
  readonly from?: string;
  readonly to?: string;
}

// ----- responses -----

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const nullableString = { type: ['string', 'null'] } as const;

export const HISTORY_ITEM_SCHEMA = {
  type: 'object',
  properties: {
    id: {
      type: 'string',
      description:
        "AI calls: the call_id (GET /api/calls/{call_id}). Proxied calls: `cdr:<n>`, their record in Kamailio's CDRs.",
    },
    kind: {
      type: 'string',
      enum: HISTORY_KINDS,
      description: 'ai: handled by a media gateway; proxied: only Kamailio.',
    },
    sip_call_id: {
      type: 'string',
      description: 'The SIP Call-ID (one call, one item: an AI call is not listed twice).',
    },
    direction: { type: 'string', enum: HISTORY_DIRECTIONS },
    from: { type: 'string', description: 'The caller: a number (digits, with or without "+") or a SIP user name.' },
    to: { type: 'string', description: 'Who was called: a number or a SIP user name.' },
    user: { ...nullableString, description: 'The SIP user on the call (the caller when both are users), if any.' },
    trunk: { ...nullableString, description: 'The trunk the call went through, if any.' },
    started_at: timestamp,
    answered_at: nullableTimestamp,
    ended_at: nullableTimestamp,
    duration_seconds: { type: 'number', minimum: 0, description: 'Answer to end (ms precision); 0 when not answered.' },
    billable_seconds: {
      type: 'integer',
      minimum: 0,
      description:
        "Through a trunk: the duration raised to the trunk's minimum and rounded up to its billing increment. Otherwise whole seconds. 0 when not answered.",
    },
    cost_estimate: {
      type: ['object', 'null'],
      description: "Calls through a trunk: billable minutes × the trunk's current rate_per_minute. null otherwise.",
      properties: {
        amount: { type: 'number', minimum: 0, description: 'At most 6 decimals.' },
        currency: { type: 'string', description: 'ISO 4217, the trunk’s.' },
      },
      required: ['amount', 'currency'],
      additionalProperties: false,
    },
    disposition: { type: 'string', enum: DISPOSITIONS },
    sip_status: { type: ['integer', 'null'], description: 'The final SIP status (200 when answered).' },
    end_reason: {
      ...nullableString,
      description:
        'AI calls: as GET /api/calls/{call_id} says (remote, cancelled, ai hangup: …). Proxied calls: bye, no_ack or no_bye when answered, else the SIP reason phrase.',
    },
    links: {
      type: 'object',
      properties: {
        recording: { ...nullableString, description: 'The recording to download (AI calls that were recorded).' },
        transcript: { ...nullableString, description: 'The call with its transcript and events (AI calls).' },
      },
      required: ['recording', 'transcript'],
      additionalProperties: false,
    },
  },
  required: [
    'id',
    'kind',
    'sip_call_id',
    'direction',
    'from',
    'to',
    'user',
    'trunk',
    'started_at',
    'answered_at',
    'ended_at',
    'duration_seconds',
    'billable_seconds',
    'cost_estimate',
    'disposition',
    'sip_status',
    'end_reason',
    'links',
  ],
  additionalProperties: false,
} as const;

export const HISTORY_LIST_SCHEMA = pageSchema(HISTORY_ITEM_SCHEMA);
