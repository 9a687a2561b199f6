import Ajv, { type ValidateFunction } from 'ajv';
import {
  OLIB_AI_FRAME_SCHEMA,
  OLIB_GATEWAY_FRAME_SCHEMA,
  type OlibAiFrame,
  type OlibAuth,
  type OlibSmsIn,
} from './wire/olib';
import { parseJsonFrame, type Parsed } from './wire/parse';

/**
 * The SMS session and the SMS webhook (docs/ai-protocol.md, "SMS"): how the bridge's
 * control plane hands one inbound SMS to the AI platform, and what the agent answers.
 * Both ends validate against these definitions: the control plane
 * (control-plane/src/sms/ai-delivery.ts) sends, the demo agent answers.
 *
 * - **WebSocket `sms` session** (olib and binary dialects): one short connection per
 *   message. First frame `auth` exactly as for a call, with the message id where the
 *   call id goes, `"session":"sms"` and `"call":null`; then the olib `sms` frame with
 *   `segments` and `custom`. The agent answers with any number of olib `sms` replies,
 *   then `sms_ack`; the bridge closes with 1000.
 * - **Signed webhook**: `POST`, body the same `sms` frame, 2xx body `{"replies":[…]}`
 *   (optional), each reply the `data` of an olib `sms` frame.
 *
 * The `twilio` dialect has no SMS (Twilio Media Streams has none).
 */

/** One inbound SMS as the bridge hands it to the AI. */
export interface InboundSmsForAi {
  readonly messageId: string;
  /** E.164 of the sender (or a SIP user name) */
  readonly from: string;
  /** E.164 of our number */
  readonly to: string;
  /** whole text (parts already reassembled) */
  readonly text: string;
  readonly segments: number;
  readonly receivedAt: Date;
}

/** First frame of an SMS session: a call's `auth` with the message id as `call_id`, no call. */
export interface OlibSmsSessionAuth {
  readonly type: 'auth';
  readonly session: 'sms';
  readonly auth: OlibAuth['auth'];
  readonly call: null;
}

/** The olib `sms` frame as an SMS session and the webhook carry it. */
export interface OlibSmsDelivery extends OlibSmsIn {
  readonly data: OlibSmsIn['data'] & { readonly segments: number; readonly custom: Readonly<Record<string, string>> };
}

/** AI → bridge, SMS session only: the message is taken; replies, if any, came before. */
export interface OlibSmsAck {
  readonly type: 'sms_ack';
  readonly data: { readonly message_id: string };
}

export type SmsSessionAiFrame = OlibAiFrame | OlibSmsAck;

/** A webhook's 2xx body (optional). */
export interface SmsWebhookResponse {
  readonly replies?: readonly { readonly text: string; readonly to_number?: string; readonly in_reply_to?: string }[];
}

const callAuthSchema = OLIB_GATEWAY_FRAME_SCHEMA.oneOf[0];

export const SMS_SESSION_AUTH_SCHEMA = {
  type: 'object',
  properties: {
    type: { const: 'auth' },
    session: { const: 'sms' },
    auth: callAuthSchema.properties.auth,
    call: { type: 'null' },
  },
  required: ['type', 'session', 'auth'],
} as const;

export const SMS_ACK_SCHEMA = {
  type: 'object',
  properties: {
    type: { const: 'sms_ack' },
    data: {
      type: 'object',
      properties: { message_id: { type: 'string', minLength: 1, maxLength: 256 } },
      required: ['message_id'],
    },
  },
  required: ['type', 'data'],
} as const;

/** What an agent may send in an SMS session: the olib AI frames plus `sms_ack`. */
export const SMS_SESSION_AI_FRAME_SCHEMA = {
  ...OLIB_AI_FRAME_SCHEMA,
  oneOf: [...OLIB_AI_FRAME_SCHEMA.oneOf, SMS_ACK_SCHEMA],
} as const;

/** Each reply is then checked as the `data` of an olib `sms` frame (the same rules as over the WebSocket). */
export const SMS_WEBHOOK_RESPONSE_SCHEMA = {
  type: 'object',
  properties: { replies: { type: 'array', items: { type: 'object' } } },
} as const;

const ajv = new Ajv({ discriminator: true, allErrors: false, strict: true, strictRequired: false });
const validateSessionAuth: ValidateFunction<OlibSmsSessionAuth> =
  ajv.compile<OlibSmsSessionAuth>(SMS_SESSION_AUTH_SCHEMA);
const validateSessionAi: ValidateFunction<SmsSessionAiFrame> =
  ajv.compile<SmsSessionAiFrame>(SMS_SESSION_AI_FRAME_SCHEMA);
const validateWebhookResponse: ValidateFunction<SmsWebhookResponse> =
  ajv.compile<SmsWebhookResponse>(SMS_WEBHOOK_RESPONSE_SCHEMA);

/** AI side: is this first frame an SMS session's `auth`? */
export function parseSmsSessionAuth(text: string): Parsed<OlibSmsSessionAuth> {
  return parseJsonFrame(validateSessionAuth, text, 'type');
}

/** Bridge side: one text frame from the agent in an SMS session. */
export function parseSmsSessionAiFrame(text: string): Parsed<SmsSessionAiFrame> {
  return parseJsonFrame(validateSessionAi, text, 'type');
}

/** Bridge side: a webhook's 2xx body. */
export function parseSmsWebhookResponse(text: string): Parsed<SmsWebhookResponse> {
  const parsed = parseJsonFrame(validateWebhookResponse, text, 'type');
  if (!parsed.ok) return parsed;
  for (const [i, reply] of (parsed.frame.replies ?? []).entries()) {
    if (!validateSessionAi({ type: 'sms', data: reply }))
      return {
        ok: false,
        reason: `/replies/${i}${validateSessionAi.errors?.[0]?.instancePath.replace(/^\/data/, '') ?? ''} ${validateSessionAi.errors?.[0]?.message ?? 'is invalid'}`,
      };
  }
  return parsed;
}

/** The `sms` frame / webhook body for one message. Key order is fixed: the webhook signs these bytes. */
export function smsDeliveryFrame(
  sms: InboundSmsForAi,
  custom: Readonly<Record<string, unknown>> | undefined,
): OlibSmsDelivery {
  return {
    type: 'sms',
    data: {
      message_id: sms.messageId,
      from_number: sms.from,
      to_number: sms.to,
      text: sms.text,
      timestamp: sms.receivedAt.getTime() / 1000,
      segments: sms.segments,
      custom: scalarStrings(custom),
    },
  };
}

/** ai_options as calls pass them: strings, numbers and booleans as strings; the rest left out. */
function scalarStrings(options: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const custom: Record<string, string> = {};
  for (const [k, v] of Object.entries(options ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') custom[k] = String(v);
  }
  return custom;
}
