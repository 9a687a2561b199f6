import { pageSchema } from '../http/page';

/** JSON Schemas of the SMS API, compiled by the validator and published in the OpenAPI document. */

export const SMS_STATUSES = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'received',
  'delivering',
] as const;
const timestamp = { type: 'string', format: 'date-time' } as const;
const nullable = (schema: object): object => ({ anyOf: [schema, { type: 'null' }] });

export const SEND_SMS_BODY_SCHEMA = {
  type: 'object',
  properties: {
    from_number: { type: 'string', minLength: 1, maxLength: 32, description: "One of this system's numbers (E.164)." },
    to_number: { type: 'string', minLength: 1, maxLength: 32, description: 'The recipient (E.164).' },
    message: {
      type: 'string',
      minLength: 1,
      maxLength: 1600,
      description: 'The text; GSM-7 or UCS-2 is chosen from it, and segments counted.',
    },
    idempotency_key: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description:
        'Same as the Idempotency-Key header (the header wins): a retry with the same key and body queues nothing new.',
    },
  },
  required: ['from_number', 'to_number', 'message'],
  additionalProperties: false,
} as const;

const smsProperties = {
  message_id: { type: 'string' },
  direction: { type: 'string', enum: ['inbound', 'outbound'] },
  from_number: { type: 'string' },
  to_number: { type: 'string' },
  message: { type: 'string' },
  status: { type: 'string', enum: SMS_STATUSES },
  encoding: { type: 'string', enum: ['gsm7', 'ucs2'] },
  segments: { type: 'integer', minimum: 1 },
  source: { type: 'string', enum: ['api', 'ai', 'trunk', 'user'] },
  trunk_id: nullable({ type: 'string' }),
  attempts: { type: 'integer', minimum: 0 },
  last_sip_status: nullable({ type: 'integer' }),
  error: nullable({ type: 'string' }),
  in_reply_to: nullable({ type: 'string' }),
  created_at: timestamp,
  updated_at: timestamp,
  sent_at: nullable(timestamp),
  delivered_at: nullable(timestamp),
} as const;

export const SMS_SCHEMA = {
  type: 'object',
  properties: smsProperties,
  required: Object.keys(smsProperties),
  additionalProperties: false,
} as const;

export const SMS_DETAIL_SCHEMA = {
  type: 'object',
  properties: {
    ...smsProperties,
    parts: {
      type: 'array',
      description: 'For a message reassembled from concatenated parts: the parts as they arrived.',
      items: {
        type: 'object',
        properties: { message_id: { type: 'string' }, seq: { type: 'integer' }, total: { type: 'integer' } },
        required: ['message_id', 'seq', 'total'],
        additionalProperties: false,
      },
    },
    history: {
      type: 'array',
      description:
        'Every status the message went through, oldest first, with the SIP answer and trunk of each attempt.',
      items: {
        type: 'object',
        properties: {
          status: { type: 'string' },
          at: timestamp,
          attempt: { type: 'integer' },
          sip_status: nullable({ type: 'integer' }),
          trunk_id: nullable({ type: 'string' }),
          detail: nullable({ type: 'string' }),
        },
        required: ['status', 'at', 'attempt', 'sip_status', 'trunk_id', 'detail'],
        additionalProperties: false,
      },
    },
  },
  required: [...Object.keys(smsProperties), 'parts', 'history'],
  additionalProperties: false,
} as const;

export const SMS_HISTORY_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
    number: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'Messages from or to this number (with or without "+").',
    },
    direction: { type: 'string', enum: ['inbound', 'outbound'] },
    status: { type: 'string', enum: SMS_STATUSES },
    since: { type: 'string', format: 'date-time', description: 'Created at or after (inclusive).' },
    until: { type: 'string', format: 'date-time', description: 'Created before (exclusive).' },
  },
  additionalProperties: false,
} as const;

export const SMS_LIST_SCHEMA = pageSchema(SMS_SCHEMA);

export const SMS_PARAMS_SCHEMA = {
  type: 'object',
  properties: { message_id: { type: 'string', pattern: '^sms_[0-9a-f]{24}(-r[0-9]{1,3})?$' } },
  required: ['message_id'],
  additionalProperties: false,
} as const;
