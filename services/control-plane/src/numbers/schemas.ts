/**
 * JSON Schemas of the numbers (DIDs) and blocklist API. Cross-field rules (which
 * route needs which target) are checked in ./routes.ts with messages naming the
 * field; E.164 numbers are normalised in ./e164.ts.
 */
import { DIALECTS, type Dialect } from '../../../common/src/ai-protocol/dialect';
import type { ForwardFallback, NumberRouteType } from '../../../common/src/db/schema';
import { USERNAME_PATTERN } from '../sip-users/schemas';
import { pageSchema } from '../http/page';
import { HOLD_MUSIC_NAME_PATTERN } from '../../../common/src/calls/hold-music';
import { ROUTE_NAME_PATTERN } from '../../../common/src/ivr/schema';

export const MAX_PER_PAGE = 200;
export const ROUTE_TYPES = ['sip_user', 'ai', 'queue', 'ivr', 'forward'] as const;
export const FORWARD_FALLBACKS = ['none', 'ai'] as const;
/** How long a forward target rings when the number does not say. */
export const DEFAULT_FORWARD_TIMEOUT_SECONDS = 30;
/** Queue and IVR names. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
export { USERNAME_PATTERN };

const e164 = {
  type: 'string',
  minLength: 2,
  maxLength: 32,
  description:
    'E.164: "+", the country code and the number (spaces, dots, dashes and brackets are dropped), e.g. +14155550123.',
} as const;
const routeType = {
  type: 'string',
  enum: ROUTE_TYPES,
  description:
    'sip_user: ring a SIP user (target = username); ai: the AI gateway (ai_* fields); queue / ivr: a media-gateway queue or IVR (target = its name); ' +
    'forward: to target, an E.164 number (out through the trunks) or a SIP username, ringing forward_timeout_seconds, then forward_fallback.',
} as const;
const target = { type: ['string', 'null'], minLength: 1, maxLength: 64 } as const;
const aiDialect = {
  type: ['string', 'null'],
  enum: [...DIALECTS, null],
  description: 'AI WebSocket dialect (default olib).',
} as const;
const aiAgentUrl = {
  type: ['string', 'null'],
  maxLength: 1024,
  pattern: '^wss?://[^\\s]+$',
  description: 'ws:// or wss:// URL of the agent; null: the configured default. Never put credentials in it.',
} as const;
const aiOptions = {
  type: ['object', 'null'],
  description: 'Free-form options handed to the AI agent (greeting, voice, ...).',
} as const;
const forwardTimeout = {
  type: ['integer', 'null'],
  minimum: 5,
  maximum: 120,
  description: `forward only: how long the target rings before the call fails or falls back (5..120 s; default ${DEFAULT_FORWARD_TIMEOUT_SECONDS}).`,
} as const;
const forwardFallback = {
  type: ['string', 'null'],
  enum: [...FORWARD_FALLBACKS, null],
  description:
    "forward only: none (default): the caller hears the failure; ai: when the target does not answer in time, is busy, fails or is offline, the AI answers with this number's ai_* settings (defaults as for route_type ai).",
} as const;
const trunkId = {
  type: ['string', 'null'],
  maxLength: 48,
  description: 'The trunk this DID arrives on (informational; null: any).',
} as const;
const description = { type: ['string', 'null'], maxLength: 255 } as const;
const holdMusic = {
  type: ['string', 'null'],
  maxLength: 127,
  pattern: HOLD_MUSIC_NAME_PATTERN,
  description:
    "Music on hold for this number's calls: the name of a WAV file in the media gateways' HOLD_MUSIC_DIR (a bare file name, no path); null: the gateway's own tune.",
} as const;

const maxConcurrentCalls = {
  type: ['integer', 'null'],
  minimum: 1,
  maximum: 100000,
  description:
    'Calls this number takes at once; callers over it wait in `queue`, or get busy (486) without one. null: no limit.',
} as const;
const queue = {
  type: ['string', 'null'],
  pattern: ROUTE_NAME_PATTERN,
  description: 'A queue (it must exist) where callers over max_concurrent_calls wait; null: they get busy.',
} as const;
const queuePriority = {
  type: 'integer',
  minimum: 0,
  maximum: 100,
  description: "The priority this number's callers get in a queue (0..100, default 0).",
} as const;

const routeProperties = {
  route_type: routeType,
  target,
  ai_dialect: aiDialect,
  ai_agent_url: aiAgentUrl,
  ai_options: aiOptions,
  forward_timeout_seconds: forwardTimeout,
  forward_fallback: forwardFallback,
  trunk_id: trunkId,
  recording_enabled: { type: 'boolean' },
  enabled: { type: 'boolean', description: 'false: Kamailio treats the number as unknown (404).' },
  description,
  hold_music: holdMusic,
  max_concurrent_calls: maxConcurrentCalls,
  queue,
  queue_priority: queuePriority,
} as const;

export const CREATE_NUMBER_SCHEMA = {
  type: 'object',
  properties: {
    number: e164,
    ...routeProperties,
    recording_enabled: { type: 'boolean', default: false },
    enabled: { type: 'boolean', default: true },
  },
  required: ['number', 'route_type'],
  additionalProperties: false,
} as const;

export interface RouteFields {
  readonly route_type: NumberRouteType;
  readonly target?: string | null;
  readonly ai_dialect?: Dialect | null;
  readonly ai_agent_url?: string | null;
  readonly ai_options?: Record<string, unknown> | null;
  readonly forward_timeout_seconds?: number | null;
  readonly forward_fallback?: ForwardFallback | null;
}

export interface CreateNumberInput extends RouteFields {
  readonly number: string;
  readonly trunk_id?: string | null;
  readonly recording_enabled: boolean;
  readonly enabled: boolean;
  readonly description?: string | null;
  readonly hold_music?: string | null;
  readonly max_concurrent_calls?: number | null;
  readonly queue?: string | null;
  readonly queue_priority?: number;
}

export const UPDATE_NUMBER_SCHEMA = {
  type: 'object',
  description:
    'Changes only the fields given. Changing route_type replaces the route: give the new target / ai_* fields (the old ones are dropped). The number cannot change.',
  properties: routeProperties,
  minProperties: 1,
  additionalProperties: false,
} as const;

export type UpdateNumberInput = Partial<Omit<CreateNumberInput, 'number' | 'route_type'>> & {
  readonly route_type?: NumberRouteType;
};

export const LIST_NUMBERS_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
    route_type: { type: 'string', enum: ROUTE_TYPES },
    trunk_id: { type: 'string', maxLength: 48 },
    enabled: { type: 'boolean' },
    search: { type: 'string', maxLength: 32, description: 'Digits the number contains.' },
  },
  additionalProperties: false,
} as const;

export interface ListNumbersQuery {
  readonly page: number;
  readonly per_page: number;
  readonly route_type?: NumberRouteType;
  readonly trunk_id?: string;
  readonly enabled?: boolean;
  readonly search?: string;
}

export const NUMBER_PARAMS_SCHEMA = {
  type: 'object',
  properties: {
    number: {
      type: 'string',
      minLength: 1,
      maxLength: 40,
      description: 'E.164 number: +14155550123, %2B14155550123 or 14155550123',
    },
  },
  required: ['number'],
  additionalProperties: false,
} as const;

export interface NumberParams {
  readonly number: string;
}

export const BLOCK_NUMBER_SCHEMA = {
  type: 'object',
  properties: {
    number: e164,
    reason: { type: ['string', 'null'], maxLength: 255 },
  },
  required: ['number'],
  additionalProperties: false,
} as const;

export interface BlockNumberInput {
  readonly number: string;
  readonly reason?: string | null;
}

export const LIST_BLOCKED_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
  },
  additionalProperties: false,
} as const;

export interface ListBlockedQuery {
  readonly page: number;
  readonly per_page: number;
}

// ----- responses -----

const timestamp = { type: 'string', format: 'date-time' } as const;
const warning = {
  type: 'string',
  description: 'Saved, but something needs attention (Kamailio not told, unassigned number, ...).',
} as const;

export const NUMBER_SCHEMA = {
  type: 'object',
  properties: {
    number: { type: 'string' },
    route_type: routeType,
    target: { type: ['string', 'null'] },
    ai_dialect: { type: ['string', 'null'] },
    ai_agent_url: { type: ['string', 'null'] },
    ai_options: { type: ['object', 'null'] },
    forward_timeout_seconds: { type: ['integer', 'null'] },
    forward_fallback: { type: ['string', 'null'] },
    trunk_id: { type: ['string', 'null'] },
    recording_enabled: { type: 'boolean' },
    enabled: { type: 'boolean' },
    description: { type: ['string', 'null'] },
    hold_music: { type: ['string', 'null'] },
    max_concurrent_calls: { type: ['integer', 'null'] },
    queue: { type: ['string', 'null'] },
    queue_priority: { type: 'integer' },
    kamailio_route: {
      type: ['string', 'null'],
      description: "The value Kamailio's htable `did` holds for it (null when disabled).",
    },
    created_at: timestamp,
    updated_at: timestamp,
    warning,
  },
  required: [
    'number',
    'route_type',
    'target',
    'ai_dialect',
    'ai_agent_url',
    'ai_options',
    'forward_timeout_seconds',
    'forward_fallback',
    'trunk_id',
    'recording_enabled',
    'enabled',
    'description',
    'hold_music',
    'max_concurrent_calls',
    'queue',
    'queue_priority',
    'kamailio_route',
    'created_at',
    'updated_at',
  ],
  additionalProperties: false,
} as const;

export const NUMBER_LIST_SCHEMA = pageSchema(NUMBER_SCHEMA);

export const DELETED_NUMBER_SCHEMA = {
  type: 'object',
  properties: { number: { type: 'string' }, deleted: { const: true }, warning },
  required: ['number', 'deleted'],
  additionalProperties: false,
} as const;

export const BLOCKED_NUMBER_SCHEMA = {
  type: 'object',
  properties: {
    number: { type: 'string' },
    reason: { type: ['string', 'null'] },
    blocked_at: timestamp,
    updated_at: timestamp,
    blocked_calls: {
      type: ['integer', 'null'],
      description:
        'Calls Kamailio refused for this number since it started (htable blockhits); null: Kamailio did not answer.',
    },
    already_blocked: {
      type: 'boolean',
      description: 'In a block response: true when the number was blocked before (its reason is updated).',
    },
    warning,
  },
  required: ['number', 'reason', 'blocked_at', 'updated_at', 'blocked_calls'],
  additionalProperties: false,
} as const;

export const BLOCKED_LIST_SCHEMA = pageSchema(BLOCKED_NUMBER_SCHEMA, {
  kamailio_error: { type: 'string', description: 'Why blocked_calls is null.' },
});

export const UNBLOCKED_NUMBER_SCHEMA = {
  type: 'object',
  properties: { number: { type: 'string' }, unblocked: { const: true }, warning },
  required: ['number', 'unblocked'],
  additionalProperties: false,
} as const;
