import { pageSchema } from '../http/page';

/**
 * JSON Schemas of the SIP user API: the validator compiles them and the OpenAPI
 * document publishes them, so the two cannot disagree. Each request schema has a
 * TypeScript twin below that values have once they passed validation.
 */

export const USERNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$';
export const MAX_BULK_USERS = 1000;
export const MAX_PER_PAGE = 200;

const username = {
  type: 'string',
  pattern: USERNAME_PATTERN,
  description:
    'SIP username (digest user and AoR): 3–64 letters, digits, "_", "." or "-", starting with a letter or digit.',
} as const;
const password = {
  type: 'string',
  minLength: 8,
  maxLength: 128,
  writeOnly: true,
  description: 'Plain password; only its HA1 hashes are stored. Omit it to have a strong one generated.',
} as const;
const displayName = { type: ['string', 'null'], maxLength: 128 } as const;
const maxConcurrentCalls = {
  type: 'integer',
  minimum: 0,
  maximum: 1000,
  description: 'Calls the user may have up at once (0 blocks outgoing calls).',
} as const;
const email = { type: ['string', 'null'], format: 'email', maxLength: 255 } as const;
const notes = { type: ['string', 'null'], maxLength: 1024 } as const;

export const CREATE_SIP_USER_SCHEMA = {
  type: 'object',
  properties: {
    username,
    password,
    display_name: displayName,
    max_concurrent_calls: { ...maxConcurrentCalls, default: 3 },
    enabled: { type: 'boolean', default: true },
    email,
    notes,
  },
  required: ['username'],
  additionalProperties: false,
} as const;

export interface CreateSipUserInput {
  readonly username: string;
  readonly password?: string;
  readonly display_name?: string | null;
  readonly max_concurrent_calls: number;
  readonly enabled: boolean;
  readonly email?: string | null;
  readonly notes?: string | null;
}

export const UPDATE_SIP_USER_SCHEMA = {
  type: 'object',
  description: 'Changes only the fields given. The username cannot change (the HA1 hashes depend on it).',
  properties: {
    password,
    reset_password: {
      type: 'boolean',
      description: 'true: generate a new password and show it once in `credentials`.',
    },
    display_name: displayName,
    max_concurrent_calls: maxConcurrentCalls,
    enabled: { type: 'boolean', description: "false also removes the user's current registrations." },
    email,
    notes,
  },
  minProperties: 1,
  additionalProperties: false,
} as const;

export interface UpdateSipUserInput {
  readonly password?: string;
  readonly reset_password?: boolean;
  readonly display_name?: string | null;
  readonly max_concurrent_calls?: number;
  readonly enabled?: boolean;
  readonly email?: string | null;
  readonly notes?: string | null;
}

export const BULK_CREATE_SIP_USERS_SCHEMA = {
  type: 'object',
  properties: {
    users: { type: 'array', minItems: 1, maxItems: MAX_BULK_USERS, items: CREATE_SIP_USER_SCHEMA },
  },
  required: ['users'],
  additionalProperties: false,
} as const;

export interface BulkCreateSipUsersInput {
  readonly users: readonly CreateSipUserInput[];
}

export const LIST_SIP_USERS_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
    search: { type: 'string', maxLength: 128, description: 'Case-insensitive substring of username or display_name.' },
    enabled: { type: 'boolean' },
  },
  additionalProperties: false,
} as const;

export interface ListSipUsersQuery {
  readonly page: number;
  readonly per_page: number;
  readonly search?: string;
  readonly enabled?: boolean;
}

export const SIP_USER_ID_PARAMS_SCHEMA = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1, maximum: 2147483647, description: 'SIP user id' } },
  required: ['id'],
  additionalProperties: false,
} as const;

export interface SipUserIdParams {
  readonly id: number;
}

// ----- responses -----

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;

export const SOURCE_LOCK_SCHEMA = {
  type: 'object',
  description: 'One source address locked out of the account after SIP_LOCKOUT_MAX_FAILURES failures from it.',
  properties: { source: { type: 'string' }, locked_at: timestamp, locked_until: timestamp },
  required: ['source', 'locked_at', 'locked_until'],
  additionalProperties: false,
} as const;

export const LOCK_STATE_SCHEMA = {
  type: 'object',
  description:
    "Brute-force locks of the account in Kamailio. `locked`: locked account-wide (failures from SIP_ACCOUNT_LOCK_SOURCES sources; the account's trusted sources still get in). " +
    "`locked_sources`: sources locked out of this account only; every other source, the owner's among them, is unaffected.",
  properties: {
    locked: { type: 'boolean' },
    failed_attempts: {
      type: 'integer',
      minimum: 0,
      description: 'Failures in the current window, summed over sources.',
    },
    max_failures: {
      type: 'integer',
      minimum: 1,
      description: 'Failures from one source before that source is locked out.',
    },
    locked_at: nullableTimestamp,
    locked_until: nullableTimestamp,
    locked_sources: { type: 'array', items: SOURCE_LOCK_SCHEMA },
  },
  required: ['locked', 'failed_attempts', 'max_failures', 'locked_at', 'locked_until', 'locked_sources'],
  additionalProperties: false,
} as const;

export const ONE_TIME_CREDENTIALS_SCHEMA = {
  type: 'object',
  description: 'Shown once, in the response that set the password; never again.',
  properties: {
    username: { type: 'string' },
    password: { type: 'string' },
    domain: { type: 'string' },
    realm: { type: 'string' },
    generated: { type: 'boolean', description: 'true when the server chose the password.' },
  },
  required: ['username', 'password', 'domain', 'realm', 'generated'],
  additionalProperties: false,
} as const;

export const SIP_USER_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    domain: { type: 'string' },
    display_name: { type: ['string', 'null'] },
    max_concurrent_calls: { type: 'integer' },
    enabled: { type: 'boolean' },
    email: { type: ['string', 'null'] },
    notes: { type: ['string', 'null'] },
    created_at: timestamp,
    updated_at: timestamp,
    password_changed_at: timestamp,
    lock: { anyOf: [LOCK_STATE_SCHEMA, { type: 'null' }] },
    lock_error: { type: 'string', description: 'Why `lock` is null (Kamailio did not answer).' },
    credentials: ONE_TIME_CREDENTIALS_SCHEMA,
    warning: {
      type: 'string',
      description: 'The change is stored, but Kamailio could not be told (e.g. registrations not removed).',
    },
  },
  required: [
    'id',
    'username',
    'domain',
    'display_name',
    'max_concurrent_calls',
    'enabled',
    'email',
    'notes',
    'created_at',
    'updated_at',
    'password_changed_at',
    'lock',
  ],
  additionalProperties: false,
} as const;

export const SIP_USER_LIST_SCHEMA = pageSchema(SIP_USER_SCHEMA);

export const BULK_CREATE_RESULT_SCHEMA = {
  type: 'object',
  properties: {
    created: { type: 'integer', minimum: 1 },
    users: { type: 'array', items: SIP_USER_SCHEMA },
  },
  required: ['created', 'users'],
  additionalProperties: false,
} as const;

export const CLIENT_CONFIG_SCHEMA = {
  type: 'object',
  description: 'What to type into a softphone. The password is never shown again after it was set.',
  properties: {
    username: { type: 'string' },
    auth_username: { type: 'string' },
    domain: { type: 'string' },
    realm: { type: 'string' },
    proxy: { type: 'string' },
    port: { type: 'integer' },
    transport: { type: 'string', enum: ['UDP', 'TCP'] },
    transports: { type: 'array', items: { type: 'string', enum: ['UDP', 'TCP'] } },
    sip_uri: { type: 'string' },
    display_name: { type: ['string', 'null'] },
    password: { type: 'null' },
    password_hint: { type: 'string' },
    enabled: { type: 'boolean' },
  },
  required: [
    'username',
    'auth_username',
    'domain',
    'realm',
    'proxy',
    'port',
    'transport',
    'transports',
    'sip_uri',
    'password',
    'password_hint',
    'enabled',
  ],
  additionalProperties: false,
} as const;

const callTotals = {
  type: 'object',
  properties: {
    count: { type: 'integer', minimum: 0 },
    total_duration_seconds: { type: 'number', minimum: 0 },
    last_call_at: nullableTimestamp,
  },
  required: ['count', 'total_duration_seconds', 'last_call_at'],
  additionalProperties: false,
} as const;

export const REGISTRATION_SCHEMA = {
  type: 'object',
  properties: {
    contact: { type: 'string' },
    state: { type: 'string', enum: ['active', 'permanent', 'expired', 'deleted'] },
    expires_in: { type: ['integer', 'null'] },
    expires_at: nullableTimestamp,
    user_agent: { type: ['string', 'null'] },
    received: { type: ['string', 'null'] },
    socket: { type: ['string', 'null'] },
    instance: { type: ['string', 'null'] },
    call_id: { type: ['string', 'null'] },
    last_modified: nullableTimestamp,
  },
  required: ['contact', 'state', 'expires_in', 'expires_at', 'user_agent', 'received'],
  additionalProperties: false,
} as const;

export const SIP_USER_STATS_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    registrations: { anyOf: [{ type: 'array', items: REGISTRATION_SCHEMA }, { type: 'null' }] },
    active_calls: { type: ['integer', 'null'] },
    max_concurrent_calls: { type: 'integer' },
    lock: { anyOf: [LOCK_STATE_SCHEMA, { type: 'null' }] },
    calls: {
      type: 'object',
      description: 'Totals over the CDRs in acc_cdrs.',
      properties: { as_caller: callTotals, as_callee: callTotals },
      required: ['as_caller', 'as_callee'],
      additionalProperties: false,
    },
    kamailio_error: { type: 'string', description: 'Why registrations, active_calls and lock are null.' },
  },
  required: ['id', 'username', 'registrations', 'active_calls', 'max_concurrent_calls', 'lock', 'calls'],
  additionalProperties: false,
} as const;

export const DELETED_SIP_USER_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    deleted: { const: true },
    registrations_removed: { type: 'boolean' },
    warning: { type: 'string' },
  },
  required: ['id', 'username', 'deleted', 'registrations_removed'],
  additionalProperties: false,
} as const;
