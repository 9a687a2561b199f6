/**
 * JSON Schemas of the brute-force lock API (`/api/security/locks`), compiled by the
 * validator and published in the OpenAPI document.
 */

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;

/**
 * A username as Kamailio saw it. Locks can name accounts that do not exist (an
 * attacker's guesses), so this is looser than a SIP user's username; '@' separates
 * the account from the source in Kamailio's keys and cannot be part of it.
 */
const username = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[^@\\s/]+$',
  description: 'The account (SIP username) as the requests named it.',
} as const;
const source = { type: 'string', minLength: 2, maxLength: 45, description: 'An IPv4 or IPv6 source address.' } as const;

export const ACCOUNT_PARAMS_SCHEMA = {
  type: 'object',
  properties: { username },
  required: ['username'],
  additionalProperties: false,
} as const;

export const ACCOUNT_SOURCE_PARAMS_SCHEMA = {
  type: 'object',
  properties: { username, source },
  required: ['username', 'source'],
  additionalProperties: false,
} as const;

export const SOURCE_PARAMS_SCHEMA = {
  type: 'object',
  properties: { source },
  required: ['source'],
  additionalProperties: false,
} as const;

export interface AccountParams {
  readonly username: string;
}
export interface AccountSourceParams {
  readonly username: string;
  readonly source: string;
}
export interface SourceParams {
  readonly source: string;
}

export const SECURITY_LOCKS_SCHEMA = {
  type: 'object',
  description: 'Every brute-force lock and source ban Kamailio holds now.',
  properties: {
    accounts: {
      type: 'array',
      description:
        'Accounts locked account-wide (failures from SIP_ACCOUNT_LOCK_SOURCES sources); their trusted sources still get in.',
      items: {
        type: 'object',
        properties: { username: { type: 'string' }, locked_at: timestamp, locked_until: timestamp },
        required: ['username', 'locked_at', 'locked_until'],
        additionalProperties: false,
      },
    },
    account_sources: {
      type: 'array',
      description:
        'Sources locked out of one account (SIP_LOCKOUT_MAX_FAILURES failures from them): 403 to them for that account only.',
      items: {
        type: 'object',
        properties: {
          username: { type: 'string' },
          source: { type: 'string' },
          locked_at: timestamp,
          locked_until: timestamp,
        },
        required: ['username', 'source', 'locked_at', 'locked_until'],
        additionalProperties: false,
      },
    },
    sources: {
      type: 'array',
      description: 'Banned sources: Kamailio drops everything they send, unanswered.',
      items: {
        type: 'object',
        properties: {
          source: { type: 'string' },
          reason: { type: 'string', enum: ['flood', 'brute_force', 'credential_stuffing', 'unknown'] },
          banned_at: nullableTimestamp,
          banned_until: nullableTimestamp,
        },
        required: ['source', 'reason', 'banned_at', 'banned_until'],
        additionalProperties: false,
      },
    },
  },
  required: ['accounts', 'account_sources', 'sources'],
  additionalProperties: false,
} as const;

export const CLEARED_SCHEMA = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    source: { type: 'string' },
    cleared: {
      type: 'boolean',
      description: 'Whether there was a lock or ban to lift (the failure counts behind it are reset either way).',
    },
  },
  required: ['cleared'],
  additionalProperties: false,
} as const;
