/**
 * JSON Schemas of /api/queues (db/migrations/0053_ivr_queues.sql: queues,
 * queue_agents, queue_vips, queue_entries). Actions use the menu action schema
 * shared with the gateways (common/src/ivr/schema.ts).
 */
import { HOLD_MUSIC_NAME_PATTERN } from '../../../common/src/calls/hold-music';
import type { QueueEntryState, QueuePrioritySource, QueueStrategy } from '../../../common/src/db/schema';
import type { Action } from '../../../common/src/ivr/menu';
import {
  ACTION_SCHEMA,
  OVERFLOW_ACTION_SCHEMA,
  ROUTE_NAME_PATTERN,
  SIP_USERNAME_PATTERN,
} from '../../../common/src/ivr/schema';
import { pageSchema } from '../http/page';
export type { ListQuery } from '../http/page';

export const STRATEGIES = ['ring_all', 'round_robin', 'least_recent'] as const;
/** `GET /api/queues/stats` is all queues' statistics, so no queue may be called that. */
export const RESERVED_QUEUE_NAMES = ['stats'] as const;

const name = {
  type: 'string',
  pattern: ROUTE_NAME_PATTERN,
  description: '1–64 lower-case letters, digits, "_" or "-", starting with a letter or digit ("stats" is reserved).',
} as const;
const nullable = (schema: object, description: string): object => ({
  description,
  anyOf: [schema, { type: 'null' }],
});

const fields = {
  description: { type: ['string', 'null'], maxLength: 255 },
  strategy: {
    type: 'string',
    enum: STRATEGIES,
    description:
      'How SIP-user agents are rung: ring_all (all free agents at once), round_robin (the one after the last offered), least_recent (the one idle longest). Default ring_all.',
  },
  ring_timeout_seconds: { type: 'integer', minimum: 1, maximum: 300, description: 'Default 20.' },
  wrap_up_seconds: {
    type: 'integer',
    minimum: 0,
    maximum: 3600,
    description: 'An agent rests this long after a call (default 0).',
  },
  max_wait_seconds: { type: ['integer', 'null'], minimum: 1, maximum: 86400, description: 'null: no limit.' },
  max_wait_action: nullable(OVERFLOW_ACTION_SCHEMA, 'What a caller waiting max_wait_seconds gets; null: busy.'),
  max_length: { type: ['integer', 'null'], minimum: 1, maximum: 100000, description: 'null: no limit.' },
  max_length_action: nullable(OVERFLOW_ACTION_SCHEMA, 'What a caller finding the queue full gets; null: busy.'),
  hold_music: {
    type: ['string', 'null'],
    maxLength: 127,
    pattern: HOLD_MUSIC_NAME_PATTERN,
    description: "A WAV file in the gateways' HOLD_MUSIC_DIR; null: the default tune.",
  },
  announce_position: { type: 'boolean' },
  announce_wait: { type: 'boolean', description: 'Announce the expected wait.' },
  announce_interval_seconds: { type: 'integer', minimum: 5, maximum: 3600, description: 'Default 30.' },
  leave_digit: { type: ['string', 'null'], pattern: '^[0-9*#]$', description: 'A key that takes the caller out.' },
  leave_action: nullable(ACTION_SCHEMA, 'What the leave digit does (with leave_digit).'),
  service_level_seconds: {
    type: 'integer',
    minimum: 1,
    maximum: 3600,
    description: 'Answered within this long counts towards the service level (default 20).',
  },
} as const;

export const CREATE_QUEUE_SCHEMA = {
  type: 'object',
  properties: { name, ...fields },
  required: ['name'],
  additionalProperties: false,
} as const;

export const UPDATE_QUEUE_SCHEMA = {
  type: 'object',
  description: 'Changes only the fields given.',
  properties: fields,
  minProperties: 1,
  additionalProperties: false,
} as const;

export interface QueueFields {
  readonly description?: string | null;
  readonly strategy?: QueueStrategy;
  readonly ring_timeout_seconds?: number;
  readonly wrap_up_seconds?: number;
  readonly max_wait_seconds?: number | null;
  readonly max_wait_action?: Action | null;
  readonly max_length?: number | null;
  readonly max_length_action?: Action | null;
  readonly hold_music?: string | null;
  readonly announce_position?: boolean;
  readonly announce_wait?: boolean;
  readonly announce_interval_seconds?: number;
  readonly leave_digit?: string | null;
  readonly leave_action?: Action | null;
  readonly service_level_seconds?: number;
}

export interface CreateQueueInput extends QueueFields {
  readonly name: string;
}

export const QUEUE_PARAMS_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 64, pattern: ROUTE_NAME_PATTERN } },
  required: ['name'],
  additionalProperties: false,
} as const;

const id = { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } as const;

export const AGENT_PARAMS_SCHEMA = {
  type: 'object',
  properties: { ...QUEUE_PARAMS_SCHEMA.properties, id: { ...id, pattern: '^[1-9][0-9]{0,9}$' } },
  required: ['name', 'id'],
  additionalProperties: false,
} as const;

export const ENTRY_PARAMS_SCHEMA = {
  type: 'object',
  properties: { ...QUEUE_PARAMS_SCHEMA.properties, id },
  required: ['name', 'id'],
  additionalProperties: false,
} as const;

export const VIP_PARAMS_SCHEMA = {
  type: 'object',
  properties: {
    ...QUEUE_PARAMS_SCHEMA.properties,
    number: { type: 'string', minLength: 1, maxLength: 40, description: '+14155550123, %2B14155550123 or 14155550123' },
  },
  required: ['name', 'number'],
  additionalProperties: false,
} as const;

export interface QueueParams {
  readonly name: string;
}
export interface IdParams {
  readonly name: string;
  readonly id: string;
}
export interface VipParams {
  readonly name: string;
  readonly number: string;
}

export const STATS_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    since: {
      type: 'string',
      format: 'date-time',
      maxLength: 40,
      description: 'Start of the window (RFC 3339); default 24 hours ago.',
    },
  },
  additionalProperties: false,
} as const;

export interface StatsQuery {
  readonly since?: string;
}

const agentCommon = {
  position: { type: 'integer', minimum: 0, maximum: 100000, description: 'Round-robin order (default 0).' },
  paused: { type: 'boolean', description: 'A paused agent is offered no calls.' },
} as const;

export const CREATE_AGENT_SCHEMA = {
  type: 'object',
  description: 'kind sip_user (username) or ai (ai_route [+ max_concurrent_calls]).',
  required: ['kind'],
  properties: { kind: { type: 'string', enum: ['sip_user', 'ai'] } },
  allOf: [
    {
      if: { properties: { kind: { const: 'sip_user' } }, required: ['kind'] },
      then: {
        type: 'object',
        properties: {
          kind: { const: 'sip_user' },
          username: { type: 'string', pattern: SIP_USERNAME_PATTERN },
          ...agentCommon,
        },
        required: ['kind', 'username'],
        additionalProperties: false,
      },
    },
    {
      if: { properties: { kind: { const: 'ai' } }, required: ['kind'] },
      then: {
        type: 'object',
        properties: {
          kind: { const: 'ai' },
          ai_route: { type: 'string', pattern: ROUTE_NAME_PATTERN },
          max_concurrent_calls: {
            type: ['integer', 'null'],
            minimum: 1,
            maximum: 100000,
            description: "This agent's cap in the queue; null: the AI route's own limit.",
          },
          ...agentCommon,
        },
        required: ['kind', 'ai_route'],
        additionalProperties: false,
      },
    },
  ],
} as const;

export type CreateAgentInput =
  | { readonly kind: 'sip_user'; readonly username: string; readonly position?: number; readonly paused?: boolean }
  | {
      readonly kind: 'ai';
      readonly ai_route: string;
      readonly max_concurrent_calls?: number | null;
      readonly position?: number;
      readonly paused?: boolean;
    };

export const UPDATE_AGENT_SCHEMA = {
  type: 'object',
  properties: {
    ...agentCommon,
    max_concurrent_calls: { type: ['integer', 'null'], minimum: 1, maximum: 100000, description: 'AI agents only.' },
  },
  minProperties: 1,
  additionalProperties: false,
} as const;

export interface UpdateAgentInput {
  readonly position?: number;
  readonly paused?: boolean;
  readonly max_concurrent_calls?: number | null;
}

export const PUT_VIP_SCHEMA = {
  type: 'object',
  properties: {
    number: { type: 'string', minLength: 2, maxLength: 32, description: 'The caller number, E.164.' },
    priority: { type: 'integer', minimum: 1, maximum: 100 },
  },
  required: ['number', 'priority'],
  additionalProperties: false,
} as const;

export interface PutVipInput {
  readonly number: string;
  readonly priority: number;
}

export const MOVE_SCHEMA = {
  type: 'object',
  properties: {
    queue: { type: 'string', pattern: ROUTE_NAME_PATTERN, description: 'The queue the caller goes to.' },
    priority: { type: 'integer', minimum: 0, maximum: 100, description: 'Default: the priority the caller has.' },
  },
  required: ['queue'],
  additionalProperties: false,
} as const;

export interface MoveInput {
  readonly queue: string;
  readonly priority?: number;
}

export const ASSIGN_SCHEMA = {
  type: 'object',
  properties: { agent_id: { type: 'integer', minimum: 1, description: 'An agent of the queue (its id).' } },
  required: ['agent_id'],
  additionalProperties: false,
} as const;

export interface AssignInput {
  readonly agent_id: number;
}

// ----- responses -----

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const actionOut = { type: ['object', 'null'] } as const;

export const QUEUE_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    strategy: { type: 'string', enum: STRATEGIES },
    ring_timeout_seconds: { type: 'integer' },
    wrap_up_seconds: { type: 'integer' },
    max_wait_seconds: { type: ['integer', 'null'] },
    max_wait_action: actionOut,
    max_length: { type: ['integer', 'null'] },
    max_length_action: actionOut,
    hold_music: { type: ['string', 'null'] },
    announce_position: { type: 'boolean' },
    announce_wait: { type: 'boolean' },
    announce_interval_seconds: { type: 'integer' },
    leave_digit: { type: ['string', 'null'] },
    leave_action: actionOut,
    service_level_seconds: { type: 'integer' },
    waiting: { type: 'integer', minimum: 0, description: 'Callers waiting now.' },
    created_at: timestamp,
    updated_at: timestamp,
  },
  required: [
    'name',
    'description',
    'strategy',
    'ring_timeout_seconds',
    'wrap_up_seconds',
    'max_wait_seconds',
    'max_wait_action',
    'max_length',
    'max_length_action',
    'hold_music',
    'announce_position',
    'announce_wait',
    'announce_interval_seconds',
    'leave_digit',
    'leave_action',
    'service_level_seconds',
    'waiting',
    'created_at',
    'updated_at',
  ],
  additionalProperties: false,
} as const;

export const QUEUE_LIST_SCHEMA = pageSchema(QUEUE_SCHEMA);

export const AGENT_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    queue: { type: 'string' },
    kind: { type: 'string', enum: ['sip_user', 'ai'] },
    username: { type: ['string', 'null'] },
    ai_route: { type: ['string', 'null'] },
    max_concurrent_calls: { type: ['integer', 'null'] },
    position: { type: 'integer' },
    paused: { type: 'boolean' },
    last_offered_at: nullableTimestamp,
    last_ended_at: nullableTimestamp,
    calls_answered: { type: 'integer', minimum: 0 },
    created_at: timestamp,
  },
  required: [
    'id',
    'queue',
    'kind',
    'username',
    'ai_route',
    'max_concurrent_calls',
    'position',
    'paused',
    'last_offered_at',
    'last_ended_at',
    'calls_answered',
    'created_at',
  ],
  additionalProperties: false,
} as const;

export const AGENT_LIST_SCHEMA = pageSchema(AGENT_SCHEMA);

export const VIP_SCHEMA = {
  type: 'object',
  properties: { queue: { type: 'string' }, number: { type: 'string' }, priority: { type: 'integer' } },
  required: ['queue', 'number', 'priority'],
  additionalProperties: false,
} as const;

export const VIP_LIST_SCHEMA = pageSchema(VIP_SCHEMA);

export const ENTRY_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'queue_entries.id (a 64-bit integer, as a string).' },
    queue: { type: 'string' },
    call_id: { type: 'string' },
    gateway: { type: 'string' },
    caller: { type: 'string' },
    called: { type: 'string' },
    state: { type: 'string', enum: ['waiting', 'offered', 'connected'] },
    priority: { type: 'integer' },
    priority_source: { type: 'string', enum: ['none', 'number', 'menu', 'vip', 'api'] },
    position: {
      type: ['integer', 'null'],
      minimum: 1,
      description: 'Place in the line (1: next), waiting callers only.',
    },
    wait_seconds: { type: 'number', minimum: 0, description: 'Since the caller first entered the queue.' },
    agent_id: { type: ['integer', 'null'] },
    agent: { type: ['string', 'null'], description: "'sip_user:<name>' or 'ai:<route>' while offered or connected." },
    enqueued_at: timestamp,
    offered_at: nullableTimestamp,
    answered_at: nullableTimestamp,
  },
  required: [
    'id',
    'queue',
    'call_id',
    'gateway',
    'caller',
    'called',
    'state',
    'priority',
    'priority_source',
    'position',
    'wait_seconds',
    'agent_id',
    'agent',
    'enqueued_at',
    'offered_at',
    'answered_at',
  ],
  additionalProperties: false,
} as const;

export const ENTRY_LIST_SCHEMA = pageSchema(ENTRY_SCHEMA);

export const STATS_SCHEMA = {
  type: 'object',
  properties: {
    queue: { type: 'string' },
    since: timestamp,
    waiting: { type: 'integer', minimum: 0, description: 'Callers waiting now.' },
    longest_wait_seconds: { type: 'number', minimum: 0, description: 'Of the callers waiting now (0: none).' },
    offered: { type: 'integer', minimum: 0, description: 'Callers offered to an agent since `since`.' },
    answered: { type: 'integer', minimum: 0, description: 'Callers an agent answered since `since`.' },
    answered_within_service_level: { type: 'integer', minimum: 0 },
    abandoned: { type: 'integer', minimum: 0, description: 'Callers who hung up waiting, since `since`.' },
    overflowed: { type: 'integer', minimum: 0, description: 'Callers sent to a max-wait or max-length action.' },
    service_level: {
      type: ['number', 'null'],
      minimum: 0,
      maximum: 1,
      description: 'answered within service_level_seconds ÷ (answered + abandoned); null when both are 0.',
    },
    service_level_seconds: { type: 'integer' },
    avg_wait_seconds: {
      type: ['number', 'null'],
      minimum: 0,
      description: 'Mean time from entering the queue to being answered or hanging up, of those callers; null: none.',
    },
  },
  required: [
    'queue',
    'since',
    'waiting',
    'longest_wait_seconds',
    'offered',
    'answered',
    'answered_within_service_level',
    'abandoned',
    'overflowed',
    'service_level',
    'service_level_seconds',
    'avg_wait_seconds',
  ],
  additionalProperties: false,
} as const;

export const ALL_STATS_SCHEMA = {
  type: 'object',
  properties: { since: timestamp, items: { type: 'array', items: STATS_SCHEMA } },
  required: ['since', 'items'],
  additionalProperties: false,
} as const;

export const DELETED_SCHEMA = {
  type: 'object',
  properties: { deleted: { const: true } },
  required: ['deleted'],
  additionalProperties: true,
} as const;

export type EntryState = Exclude<QueueEntryState, 'done'>;
export type PrioritySource = QueuePrioritySource;
