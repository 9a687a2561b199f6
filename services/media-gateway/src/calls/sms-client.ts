import { mintToken } from '../../../common/src/auth/tokens';
import { e164Of } from '../../../common/src/sip-number';
import type { CallDeps } from './call';

/**
 * The gateway's way to queue the SMS an AI asks for during a call: the control-plane's
 * `POST /api/sms/send` with a short-lived operator token and an idempotency key, so the
 * message gets the API's validation, blocklist and queue (docs/sms.md), and a retry of
 * this request never sends twice.
 */
export function controlPlaneSms(api: {
  host: string;
  port: number;
  jwtSecretKey: string;
}): NonNullable<CallDeps['sendSms']> {
  const host = api.host.includes(':') ? `[${api.host}]` : api.host;
  const url = `http://${host}:${api.port}/api/sms/send`;
  return async ({ from, to, text, key }) => {
    const token = await mintToken({
      role: 'operator',
      secret: api.jwtSecretKey,
      ttlSeconds: 60,
      subject: 'media-gateway',
    });
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ from_number: e164Of(from) ?? from, to_number: e164Of(to) ?? to, message: text }),
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json().catch(() => ({}))) as {
      message_id?: string;
      error?: { code?: string; message?: string };
    };
    if ((res.status !== 202 && res.status !== 200) || !body.message_id) {
      throw new Error(
        `the SMS API answered ${res.status}${body.error ? ` ${body.error.code ?? ''}: ${body.error.message ?? ''}` : ''}`,
      );
    }
    return { messageId: body.message_id };
  };
}
