import type { IncomingHttpHeaders } from 'node:http';
import {
  AUTH_HEADERS,
  verifyAiToken,
  verifyWebhookSignature,
  type AuthSecrets,
} from '../../common/src/ai-protocol/auth';
import type { SmsWebhookResponse } from '../../common/src/ai-protocol/sms-session';
import { parseOlibGatewayFrame } from '../../common/src/ai-protocol/wire/olib';

/** What the demo agent answers to every SMS, over any transport. */
export function smsReplyText(text: string): string {
  return `Demo agent got your message: ${text}`;
}

export type SmsTransport = 'websocket' | 'webhook' | 'call';

/** One SMS the agent received. */
export interface ReceivedSms {
  readonly messageId: string;
  readonly from: string;
  readonly to: string;
  readonly text: string;
  /** `sms` session or webhook: its own delivery; `call`: an `sms` frame inside a call */
  readonly transport: SmsTransport;
}

const RECENT_SMS = 100;

/** The SMS the agent has received, for tests and logs: counts and the last RECENT_SMS. */
export class SmsStats {
  received = 0;
  readonly byTransport: Record<SmsTransport, number> = { websocket: 0, webhook: 0, call: 0 };
  readonly recent: ReceivedSms[] = [];

  record(sms: ReceivedSms): void {
    this.received++;
    this.byTransport[sms.transport]++;
    this.recent.push(sms);
    if (this.recent.length > RECENT_SMS) this.recent.shift();
  }
}

export interface WebhookAnswer {
  readonly status: number;
  readonly body: SmsWebhookResponse | { readonly error: { readonly code: string; readonly message: string } };
  /** set when the request was a valid, authenticated SMS */
  readonly sms?: Omit<ReceivedSms, 'transport'>;
}

const fail = (status: number, code: string, message: string): WebhookAnswer => ({
  status,
  body: { error: { code, message } },
});

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The SMS webhook (`POST /sms`), AI side: the signature and timestamp over the raw body
 * first, then the body (an olib `sms` frame), then the JWT against the message id it
 * names. 401 with `{"error":{code,message}}` for any credential problem, 400 for a body
 * that is not an `sms`; 200 with the reply otherwise.
 */
export async function answerSmsWebhook(
  secrets: AuthSecrets,
  headers: IncomingHttpHeaders,
  body: Buffer,
  nowMs: number = Date.now(),
): Promise<WebhookAnswer> {
  const token = header(headers, AUTH_HEADERS.authorization);
  const signature = header(headers, AUTH_HEADERS.signature);
  const timestamp = header(headers, AUTH_HEADERS.timestamp);
  if (token === undefined || signature === undefined || timestamp === undefined) {
    return fail(
      401,
      'ERR_AUTH_MALFORMED',
      `Authorization, ${AUTH_HEADERS.signature} and ${AUTH_HEADERS.timestamp} are required`,
    );
  }
  const signed = verifyWebhookSignature(secrets.sipSharedSecret, { signature, timestamp }, body, nowMs);
  if (!signed.ok) return fail(401, signed.code, signed.reason);

  const parsed = parseOlibGatewayFrame(body.toString('utf8'));
  if (!parsed.ok || parsed.frame.type !== 'sms')
    return fail(
      400,
      'ERR_BAD_REQUEST',
      `the body must be an olib sms frame (${parsed.ok ? parsed.frame.type : parsed.reason})`,
    );
  const data = parsed.frame.data;

  const verified = await verifyAiToken(secrets.jwtSecretKey, token, data.message_id, nowMs);
  if (!verified.ok) return fail(401, verified.code, verified.reason);

  return {
    status: 200,
    body: { replies: [{ text: smsReplyText(data.text), to_number: data.from_number }] },
    sms: { messageId: data.message_id, from: data.from_number, to: data.to_number, text: data.text },
  };
}
