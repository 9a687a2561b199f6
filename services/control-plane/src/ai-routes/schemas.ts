/** JSON Schemas of /api/ai-routes (db/migrations/0053_ivr_queues.sql ai_routes). */
import { DIALECTS, type Dialect } from '../../../common/src/ai-protocol/dialect';
import { ROUTE_NAME_PATTERN } from '../../../common/src/ivr/schema';
import { pageSchema } from '../http/page';

const name = {
  type: 'string',
  pattern: ROUTE_NAME_PATTERN,
  description: '1–64 lower-case letters, digits, "_" or "-", starting with a letter or digit.',
} as const;

const fields = {
  agent_url: {
    type: ['string', 'null'],
    maxLength: 1024,
    description:
      'ws:// or wss:// URL of the agent; null: the platform default (AI_WS_URL). No credentials in it; non-public addresses only with AI_ROUTE_ALLOW_PRIVATE_ADDRESSES.',
  },
  dialect: { type: 'string', enum: [...DIALECTS], description: 'AI WebSocket dialect (default olib).' },
  options: {
    type: 'object',
    maxProperties: 64,
    description: 'Handed to the AI as custom parameters (greeting, voice, ...).',
  },
  max_concurrent_calls: {
    type: ['integer', 'null'],
    minimum: 1,
    maximum: 100000,
    description: 'Calls this AI takes at once; null: no limit.',
  },
  queue: {
    type: ['string', 'null'],
    pattern: ROUTE_NAME_PATTERN,
    description: 'Callers over max_concurrent_calls wait in this queue; null: they get busy (486).',
  },
} as const;

export const CREATE_AI_ROUTE_SCHEMA = {
  type: 'object',
  properties: { name, ...fields },
  required: ['name'],
  additionalProperties: false,
} as const;

export const UPDATE_AI_ROUTE_SCHEMA = {
  type: 'object',
  description: 'Changes only the fields given.',
  properties: fields,
  minProperties: 1,
  additionalProperties: false,
} as const;

export interface AiRouteFields {
  readonly agent_url?: string | null;
  readonly dialect?: Dialect;
  readonly options?: Record<string, unknown>;
  readonly max_concurrent_calls?: number | null;
  readonly queue?: string | null;
}

export interface CreateAiRouteInput extends AiRouteFields {
  readonly name: string;
}

const timestamp = { type: 'string', format: 'date-time' } as const;

export const AI_ROUTE_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    agent_url: { type: ['string', 'null'] },
    dialect: { type: 'string' },
    options: { type: 'object' },
    max_concurrent_calls: { type: ['integer', 'null'] },
    queue: { type: ['string', 'null'] },
    active_calls: { type: 'integer', minimum: 0, description: 'Calls holding a seat of this route now.' },
    created_at: timestamp,
    updated_at: timestamp,
  },
  required: [
    'name',
    'agent_url',
    'dialect',
    'options',
    'max_concurrent_calls',
    'queue',
    'active_calls',
    'created_at',
    'updated_at',
  ],
  additionalProperties: false,
} as const;

export const AI_ROUTE_LIST_SCHEMA = pageSchema(AI_ROUTE_SCHEMA);
