/**
 * JSON Schemas of the IVR API (/api/ivr/menus, /api/ivr/prompts). The menu
 * definition's own schema is shared with the gateways (common/src/ivr/schema.ts);
 * referential checks (targets exist, no silent loops) are in ./targets.ts.
 */
import { MENU_DEFINITION_SCHEMA, PROMPT_NAME_PATTERN, ROUTE_NAME_PATTERN } from '../../../common/src/ivr/schema';
import type { MenuDefinition } from '../../../common/src/ivr/menu';
import { pageSchema } from '../http/page';
export type { ListQuery } from '../http/page';

/** Largest prompt upload: a minute of 48 kHz stereo PCM is 11 MB; telephony needs far less. */
export const MAX_PROMPT_BYTES = 10 * 1024 * 1024;
export const PROMPT_CONTENT_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'] as const;

const name = {
  type: 'string',
  pattern: ROUTE_NAME_PATTERN,
  description: '1–64 lower-case letters, digits, "_" or "-", starting with a letter or digit.',
} as const;
const description = { type: ['string', 'null'], maxLength: 255 } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

export const CREATE_MENU_SCHEMA = {
  type: 'object',
  properties: { name, description, definition: MENU_DEFINITION_SCHEMA },
  required: ['name', 'definition'],
  additionalProperties: false,
} as const;

export interface CreateMenuInput {
  readonly name: string;
  readonly description?: string | null;
  readonly definition: MenuDefinition;
}

export const UPDATE_MENU_SCHEMA = {
  type: 'object',
  description: 'Changes only the fields given; a new definition replaces the whole one and bumps `version`.',
  properties: { description, definition: MENU_DEFINITION_SCHEMA },
  minProperties: 1,
  additionalProperties: false,
} as const;

export interface UpdateMenuInput {
  readonly description?: string | null;
  readonly definition?: MenuDefinition;
}

export const MENU_PARAMS_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 64, pattern: ROUTE_NAME_PATTERN } },
  required: ['name'],
  additionalProperties: false,
} as const;

export const PROMPT_PARAMS_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 64, pattern: PROMPT_NAME_PATTERN } },
  required: ['name'],
  additionalProperties: false,
} as const;

export interface NameParams {
  readonly name: string;
}

export const MENU_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    definition: MENU_DEFINITION_SCHEMA,
    version: { type: 'integer', minimum: 1, description: 'Bumped by every update; gateways cache a menu by it.' },
    created_at: timestamp,
    updated_at: timestamp,
  },
  required: ['name', 'description', 'definition', 'version', 'created_at', 'updated_at'],
  additionalProperties: false,
} as const;

export const MENU_LIST_SCHEMA = pageSchema(MENU_SCHEMA);

export const VALID_SCHEMA = {
  type: 'object',
  properties: { valid: { const: true } },
  required: ['valid'],
  additionalProperties: false,
} as const;

export const DELETED_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string' }, deleted: { const: true } },
  required: ['name', 'deleted'],
  additionalProperties: false,
} as const;

export const PROMPT_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    bytes: { type: 'integer', minimum: 0, description: 'Size of the WAV file.' },
    sha256: { type: 'string', description: 'Of the WAV file, hex.' },
    duration_ms: { type: 'integer', minimum: 0 },
    created_at: timestamp,
    updated_at: timestamp,
  },
  required: ['name', 'bytes', 'sha256', 'duration_ms', 'created_at', 'updated_at'],
  additionalProperties: false,
} as const;

export const PROMPT_LIST_SCHEMA = pageSchema(PROMPT_SCHEMA);
