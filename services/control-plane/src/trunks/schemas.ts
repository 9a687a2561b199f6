/**
 * JSON Schemas of the trunk API, compiled by the validator and published in the
 * OpenAPI document. Each request schema has a TypeScript twin: the shape values
 * have once they passed validation.
 */
import type { TrunkStatus, TrunkTransport } from '../../../common/src/db/schema';
import { pageSchema } from '../http/page';

/** Lower-case slug: it is a key in dispatcher attrs, address tags, uacreg and htables. */
export const TRUNK_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,47}$';
export const MAX_PER_PAGE = 200;
export const CODECS = ['PCMU', 'PCMA', 'G722', 'G729', 'GSM', 'iLBC', 'opus', 'AMR', 'AMR-WB', 'speex'] as const;
export type Codec = (typeof CODECS)[number];

const trunkId = {
  type: 'string',
  pattern: TRUNK_ID_PATTERN,
  description:
    'The trunk\'s key: 1–48 lower-case letters, digits, "_" or "-", starting with a letter or digit. Cannot change.',
} as const;
const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
const provider = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  description: 'Provider label (skyetel, didforsale, twilio, ...): 1–64 letters, digits, "_", "." or "-".',
} as const;
const proxyAddress = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  description: "The provider's SIP proxy: a host name or an IP address (checked by the service, one message for both).",
} as const;
const proxyPort = {
  type: 'integer',
  minimum: 1,
  maximum: 65535,
  description: 'Default 5060, or 5061 for TLS.',
} as const;
const transport = { type: 'string', enum: ['UDP', 'TCP', 'TLS'] } as const;
const credential = { type: ['string', 'null'], minLength: 1, maxLength: 64 } as const;
const username = { ...credential, pattern: '^[^\\s:;@]+$', description: 'Digest / registration user name.' } as const;
const password = {
  ...credential,
  writeOnly: true,
  description: 'Digest password. Stored (Kamailio needs it to answer challenges); shown only by GET …/credentials.',
} as const;
const realm = {
  ...credential,
  description: 'Digest realm the provider challenges with; default: accept the realm it sends.',
} as const;
const codecs = {
  type: 'array',
  minItems: 1,
  maxItems: CODECS.length,
  uniqueItems: true,
  items: { type: 'string', enum: CODECS },
  description: 'In order of preference.',
} as const;
const maxCalls = {
  type: 'integer',
  minimum: 1,
  maximum: 100000,
  description: 'Concurrent calls through the trunk, both directions.',
} as const;
const cps = { type: 'integer', minimum: 1, maximum: 10000, description: 'New outbound calls per second.' } as const;
const allowedIps = {
  type: ['array', 'null'],
  maxItems: 64,
  uniqueItems: true,
  items: { type: 'string', minLength: 2, maxLength: 49, description: 'An IPv4/IPv6 address or CIDR range.' },
  description:
    "Source addresses whose INVITEs are accepted as this trunk's (no digest). Omitted or null: the proxy address when it is an IP address, else none.",
} as const;
const priority = {
  type: 'integer',
  minimum: 1,
  maximum: 1000,
  description: 'Lower is tried first (like DNS SRV).',
} as const;
const weight = {
  type: 'integer',
  minimum: 1,
  maximum: 100,
  description: 'Share among trunks of equal priority.',
} as const;
const status = { type: 'string', enum: ['active', 'inactive'] } as const;
/** NUMERIC(12,6) in the database: the service also checks there are at most 6 decimals. */
export const MAX_RATE_PER_MINUTE = 999999.999999;
const ratePerMinute = {
  type: 'number',
  minimum: 0,
  maximum: MAX_RATE_PER_MINUTE,
  description:
    'What one minute through this trunk costs, in `currency`, at most 6 decimals (cost estimates in the call history).',
} as const;
const billingIncrement = {
  type: 'integer',
  minimum: 1,
  maximum: 3600,
  description:
    'Billable time is rounded up to a multiple of this many seconds (60: whole minutes, 6: six-second steps).',
} as const;
const minimumBillable = {
  type: 'integer',
  minimum: 0,
  maximum: 3600,
  description: 'An answered call bills at least this many seconds.',
} as const;
const currency = {
  type: 'string',
  pattern: '^[A-Z]{3}$',
  description: 'ISO 4217 code of the rate, e.g. USD, EUR.',
} as const;

const writableProperties = {
  name,
  provider,
  proxy_address: proxyAddress,
  proxy_port: proxyPort,
  transport,
  username,
  password,
  realm,
  supports_inbound: { type: 'boolean' },
  supports_outbound: { type: 'boolean' },
  preferred_codecs: codecs,
  max_concurrent_calls: maxCalls,
  calls_per_second_limit: cps,
  sms_rate_limit: {
    type: 'integer',
    minimum: 0,
    maximum: 100000,
    description: 'SMS (SIP MESSAGE) per second through this trunk; 0 = no limit.',
  },
  sms_split_segments: {
    type: 'boolean',
    description:
      'Send multi-segment SMS as one MESSAGE per 3GPP segment (with an X-SMS-Part header) for providers with a MESSAGE size limit.',
  },
  allowed_ips: allowedIps,
  priority,
  weight,
  requires_registration: { type: 'boolean', description: 'Register to the provider (needs username and password).' },
  status,
  rate_per_minute: ratePerMinute,
  billing_increment_seconds: billingIncrement,
  minimum_billable_seconds: minimumBillable,
  currency,
} as const;

export const CREATE_TRUNK_SCHEMA = {
  type: 'object',
  properties: {
    trunk_id: trunkId,
    ...writableProperties,
    transport: { ...transport, default: 'UDP' },
    supports_inbound: { type: 'boolean', default: true },
    supports_outbound: { type: 'boolean', default: true },
    preferred_codecs: { ...codecs, default: ['PCMU', 'PCMA'] },
    max_concurrent_calls: { ...maxCalls, default: 100 },
    calls_per_second_limit: { ...cps, default: 10 },
    sms_rate_limit: { ...writableProperties.sms_rate_limit, default: 0 },
    sms_split_segments: { ...writableProperties.sms_split_segments, default: false },
    priority: { ...priority, default: 100 },
    weight: { ...weight, default: 1 },
    requires_registration: { ...writableProperties.requires_registration, default: false },
    status: { ...status, default: 'active' },
    rate_per_minute: { ...ratePerMinute, default: 0 },
    billing_increment_seconds: { ...billingIncrement, default: 60 },
    minimum_billable_seconds: { ...minimumBillable, default: 0 },
    currency: { ...currency, default: 'USD' },
  },
  required: ['trunk_id', 'name', 'provider', 'proxy_address'],
  additionalProperties: false,
} as const;

export interface CreateTrunkInput {
  readonly trunk_id: string;
  readonly name: string;
  readonly provider: string;
  readonly proxy_address: string;
  readonly proxy_port?: number;
  readonly transport: TrunkTransport;
  readonly username?: string | null;
  readonly password?: string | null;
  readonly realm?: string | null;
  readonly supports_inbound: boolean;
  readonly supports_outbound: boolean;
  readonly preferred_codecs: readonly Codec[];
  readonly max_concurrent_calls: number;
  readonly calls_per_second_limit: number;
  readonly sms_rate_limit: number;
  readonly sms_split_segments: boolean;
  readonly allowed_ips?: readonly string[] | null;
  readonly priority: number;
  readonly weight: number;
  readonly requires_registration: boolean;
  readonly status: TrunkStatus;
  readonly rate_per_minute: number;
  readonly billing_increment_seconds: number;
  readonly minimum_billable_seconds: number;
  readonly currency: string;
}

export const UPDATE_TRUNK_SCHEMA = {
  type: 'object',
  description:
    'Changes only the fields given; null clears username, password, realm or allowed_ips. trunk_id cannot change.',
  properties: writableProperties,
  minProperties: 1,
  additionalProperties: false,
} as const;

export type UpdateTrunkInput = Partial<Omit<CreateTrunkInput, 'trunk_id'>>;

export const LIST_TRUNKS_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
    provider: { type: 'string', maxLength: 64, description: 'Exact provider label.' },
    status,
  },
  additionalProperties: false,
} as const;

export interface ListTrunksQuery {
  readonly page: number;
  readonly per_page: number;
  readonly provider?: string;
  readonly status?: TrunkStatus;
}

export const TRUNK_ID_PARAMS_SCHEMA = {
  type: 'object',
  properties: { trunk_id: { type: 'string', minLength: 1, maxLength: 64, description: 'The trunk_id' } },
  required: ['trunk_id'],
  additionalProperties: false,
} as const;

export interface TrunkIdParams {
  readonly trunk_id: string;
}

// ----- responses -----

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const warning = {
  type: 'string',
  description: 'Saved, but something needs attention (Kamailio not told, no inbound source allowed, ...).',
} as const;

export const TRUNK_SCHEMA = {
  type: 'object',
  properties: {
    trunk_id: { type: 'string' },
    name: { type: 'string' },
    provider: { type: 'string' },
    proxy_address: { type: 'string' },
    proxy_port: { type: 'integer' },
    transport,
    username: { type: ['string', 'null'] },
    has_password: { type: 'boolean', description: 'The password itself is only shown by GET …/credentials.' },
    realm: { type: ['string', 'null'] },
    supports_inbound: { type: 'boolean' },
    supports_outbound: { type: 'boolean' },
    preferred_codecs: { type: 'array', items: { type: 'string' } },
    max_concurrent_calls: { type: 'integer' },
    calls_per_second_limit: { type: 'integer' },
    sms_rate_limit: { type: 'integer' },
    sms_split_segments: { type: 'boolean' },
    allowed_ips: {
      type: 'array',
      items: { type: 'string' },
      description: 'The effective allowlist (CIDR ranges in network form).',
    },
    allowed_ips_default: { type: 'boolean', description: 'true when allowed_ips was derived from proxy_address.' },
    priority: { type: 'integer' },
    weight: { type: 'integer' },
    requires_registration: { type: 'boolean' },
    status,
    rate_per_minute: { type: 'number', minimum: 0 },
    billing_increment_seconds: { type: 'integer', minimum: 1 },
    minimum_billable_seconds: { type: 'integer', minimum: 0 },
    currency: { type: 'string' },
    created_at: timestamp,
    updated_at: timestamp,
    warning,
  },
  required: [
    'trunk_id',
    'name',
    'provider',
    'proxy_address',
    'proxy_port',
    'transport',
    'username',
    'has_password',
    'realm',
    'supports_inbound',
    'supports_outbound',
    'preferred_codecs',
    'max_concurrent_calls',
    'calls_per_second_limit',
    'sms_rate_limit',
    'sms_split_segments',
    'allowed_ips',
    'allowed_ips_default',
    'priority',
    'weight',
    'requires_registration',
    'status',
    'rate_per_minute',
    'billing_increment_seconds',
    'minimum_billable_seconds',
    'currency',
    'created_at',
    'updated_at',
  ],
  additionalProperties: false,
} as const;

export const TRUNK_LIST_SCHEMA = pageSchema(TRUNK_SCHEMA);

export const DELETED_TRUNK_SCHEMA = {
  type: 'object',
  properties: {
    trunk_id: { type: 'string' },
    deleted: { const: true },
    numbers_detached: { type: 'integer', minimum: 0, description: 'Numbers that named this trunk and now name none.' },
    warning,
  },
  required: ['trunk_id', 'deleted', 'numbers_detached'],
  additionalProperties: false,
} as const;

export const TRUNK_CREDENTIALS_SCHEMA = {
  type: 'object',
  description: 'What a SIP client (or Kamailio) needs to authenticate to the provider as this trunk.',
  properties: {
    trunk_id: { type: 'string' },
    username: { type: ['string', 'null'] },
    auth_username: { type: ['string', 'null'] },
    password: { type: ['string', 'null'] },
    realm: { type: ['string', 'null'], description: 'Configured realm, else null (any realm the provider sends).' },
    proxy_address: { type: 'string' },
    proxy_port: { type: 'integer' },
    transport,
    registrar: { type: 'string', description: 'SIP URI REGISTER goes to.' },
    sip_uri: { type: ['string', 'null'], description: "The account's address of record at the provider." },
    requires_registration: { type: 'boolean' },
  },
  required: [
    'trunk_id',
    'username',
    'auth_username',
    'password',
    'realm',
    'proxy_address',
    'proxy_port',
    'transport',
    'registrar',
    'sip_uri',
    'requires_registration',
  ],
  additionalProperties: false,
} as const;

const dispatcherState = {
  type: ['object', 'null'],
  description: "The trunk's outbound destination in Kamailio's dispatcher set 1 (null: it should have none).",
  properties: {
    state: {
      type: 'string',
      enum: ['active', 'inactive', 'trying', 'disabled', 'not_loaded'],
      description:
        'From dispatcher.list flags (A/I/T/D); not_loaded: Kamailio has no such destination (host names that do not resolve are skipped).',
    },
    flags: {
      type: ['string', 'null'],
      description: "Kamailio's flags, e.g. AP = active and probed by OPTIONS, IP = unreachable.",
    },
    probing: { type: 'boolean' },
    uri: { type: 'string' },
    priority: { type: ['integer', 'null'] },
  },
  required: ['state', 'flags', 'probing', 'uri', 'priority'],
  additionalProperties: false,
} as const;

const registrationState = {
  type: ['object', 'null'],
  description: 'The uac registration to the provider (null: requires_registration is false).',
  properties: {
    state: {
      type: 'string',
      enum: ['registered', 'registering', 'failed', 'disabled', 'pending', 'expired', 'not_loaded'],
      description:
        'pending: not tried yet; failed: the last attempt was refused or timed out (retried later); not_loaded: Kamailio has no such record.',
    },
    flags: { type: ['integer', 'null'] },
    expires_in: {
      type: ['integer', 'null'],
      description: 'Seconds until the registration lapses (registered) or the next attempt.',
    },
    expires: { type: ['integer', 'null'], description: 'Expiry asked for, seconds.' },
  },
  required: ['state', 'flags', 'expires_in', 'expires'],
  additionalProperties: false,
} as const;

export const TRUNK_STATUS_SCHEMA = {
  type: 'object',
  properties: {
    trunk_id: { type: 'string' },
    status,
    dispatcher: dispatcherState,
    registration: registrationState,
    active_calls: {
      type: ['integer', 'null'],
      description: "Dialogs in Kamailio's profile `trunk` with this trunk_id.",
    },
    max_concurrent_calls: { type: 'integer' },
    calls_per_second_limit: { type: 'integer' },
    cps: {
      type: 'object',
      description: 'Call attempts through the trunk over the last 60 s (acc records).',
      properties: { last_minute_attempts: { type: 'integer', minimum: 0 }, average: { type: 'number', minimum: 0 } },
      required: ['last_minute_attempts', 'average'],
      additionalProperties: false,
    },
    calls: {
      type: 'object',
      description: 'Answered calls (CDRs in acc_cdrs).',
      properties: {
        today: { type: 'integer', minimum: 0 },
        total: { type: 'integer', minimum: 0 },
        total_duration_seconds: { type: 'number', minimum: 0 },
        last_call_at: nullableTimestamp,
      },
      required: ['today', 'total', 'total_duration_seconds', 'last_call_at'],
      additionalProperties: false,
    },
    last_error: {
      type: ['object', 'null'],
      description: 'The latest failed call attempt through the trunk (acc, SIP status >= 300).',
      properties: {
        sip_code: { type: 'integer' },
        sip_reason: { type: 'string' },
        at: timestamp,
        call_id: { type: 'string' },
      },
      required: ['sip_code', 'sip_reason', 'at', 'call_id'],
      additionalProperties: false,
    },
    kamailio_error: { type: 'string', description: 'Why dispatcher, registration or active_calls could not be read.' },
  },
  required: [
    'trunk_id',
    'status',
    'dispatcher',
    'registration',
    'active_calls',
    'max_concurrent_calls',
    'calls_per_second_limit',
    'cps',
    'calls',
    'last_error',
  ],
  additionalProperties: false,
} as const;

export const TRUNK_SUMMARY_SCHEMA = {
  type: 'object',
  properties: {
    total: { type: 'integer', minimum: 0 },
    by_status: {
      type: 'object',
      properties: { active: { type: 'integer', minimum: 0 }, inactive: { type: 'integer', minimum: 0 } },
      required: ['active', 'inactive'],
      additionalProperties: false,
    },
    by_provider: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
    outbound_active: { type: 'integer', minimum: 0, description: 'Active trunks that carry outbound calls.' },
    inbound_active: { type: 'integer', minimum: 0, description: 'Active trunks that accept inbound calls.' },
    registrations: {
      type: 'object',
      properties: {
        required: { type: 'integer', minimum: 0, description: 'Active trunks that register to their provider.' },
        registered: {
          type: ['integer', 'null'],
          description: 'Of those, registered now (null: Kamailio did not answer).',
        },
      },
      required: ['required', 'registered'],
      additionalProperties: false,
    },
    active_calls: { type: ['integer', 'null'], description: 'Calls through any trunk now (dialog profile `trunk`).' },
    calls_today: {
      type: 'integer',
      minimum: 0,
      description: 'Answered trunk calls since midnight (database time zone).',
    },
    kamailio_error: { type: 'string' },
  },
  required: [
    'total',
    'by_status',
    'by_provider',
    'outbound_active',
    'inbound_active',
    'registrations',
    'active_calls',
    'calls_today',
  ],
  additionalProperties: false,
} as const;
