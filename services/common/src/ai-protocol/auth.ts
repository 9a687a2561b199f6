import { createHmac, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';

/**
 * How the bridge proves itself to the AI platform: the media gateway on every call
 * (re)connection, the control-plane on every SMS delivery (WebSocket `sms` session or
 * webhook; the message id stands where the call id is):
 *
 * - a JWT, HS256 with JWT_SECRET_KEY, claims `sub` = call id, `iat`, `exp` = iat + 300 s,
 *   `aud` = "ai-platform", sent as "Bearer <jwt>";
 * - a signature: lowercase hex HMAC-SHA256 keyed with SIP_SHARED_SECRET over the ASCII
 *   string `${timestamp}.${call_id}`, where timestamp is the unix time in whole seconds
 *   as a decimal string (the same string that is sent).
 *
 * The AI side accepts a timestamp within ±300 s of its clock. Neither value ever goes
 * into the URL: olib/binary send them in the first frame, twilio in upgrade headers.
 */

export const AI_JWT_AUDIENCE = 'ai-platform';
export const AI_JWT_TTL_S = 300;
export const AUTH_MAX_SKEW_S = 300;

export interface AuthSecrets {
  /** JWT_SECRET_KEY */
  readonly jwtSecretKey: string;
  /** SIP_SHARED_SECRET */
  readonly sipSharedSecret: string;
}

/** What one connection attempt presents. */
export interface AuthMaterial {
  /** the bare JWT (dialects add "Bearer ") */
  readonly jwt: string;
  readonly signature: string;
  readonly timestamp: string;
  readonly callId: string;
  readonly reconnected: boolean;
}

/** hex HMAC-SHA256(secret, `${timestamp}.${callId}`) */
export function authSignature(sipSharedSecret: string, timestamp: string, callId: string): string {
  return createHmac('sha256', sipSharedSecret).update(`${timestamp}.${callId}`).digest('hex');
}

export async function createAuthMaterial(
  secrets: AuthSecrets,
  callId: string,
  reconnected: boolean,
  nowMs: number = Date.now(),
): Promise<AuthMaterial> {
  const iat = Math.floor(nowMs / 1000);
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(callId)
    .setAudience(AI_JWT_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + AI_JWT_TTL_S)
    .sign(new TextEncoder().encode(secrets.jwtSecretKey));
  const timestamp = String(iat);
  return { jwt, signature: authSignature(secrets.sipSharedSecret, timestamp, callId), timestamp, callId, reconnected };
}

/** Upgrade-request headers carrying the same proof (twilio dialect). */
export const AUTH_HEADERS = {
  authorization: 'authorization',
  signature: 'x-bridge-signature',
  timestamp: 'x-bridge-timestamp',
  callId: 'x-bridge-call-id',
  reconnected: 'x-bridge-reconnected',
} as const;

export function authHeaders(auth: AuthMaterial): Record<string, string> {
  return {
    [AUTH_HEADERS.authorization]: `Bearer ${auth.jwt}`,
    [AUTH_HEADERS.signature]: auth.signature,
    [AUTH_HEADERS.timestamp]: auth.timestamp,
    [AUTH_HEADERS.callId]: auth.callId,
    [AUTH_HEADERS.reconnected]: String(auth.reconnected),
  };
}

export type AuthFailure = 'ERR_AUTH_MALFORMED' | 'ERR_AUTH_TOKEN' | 'ERR_AUTH_SIGNATURE' | 'ERR_AUTH_TIMESTAMP';

export type AuthVerdict =
  { readonly ok: true } | { readonly ok: false; readonly code: AuthFailure; readonly reason: string };

export interface PresentedAuth {
  /** "Bearer <jwt>" as received */
  readonly token: string;
  readonly signature: string;
  readonly timestamp: string;
  readonly callId: string;
}

/** The AI side's check (used by the demo agent; an AI platform in TypeScript can reuse it). */
export async function verifyAuth(
  secrets: AuthSecrets,
  presented: PresentedAuth,
  nowMs: number = Date.now(),
): Promise<AuthVerdict> {
  if (!/^Bearer .+$/.test(presented.token) || presented.callId === '') {
    return { ok: false, code: 'ERR_AUTH_MALFORMED', reason: 'token, timestamp or call id is malformed' };
  }
  const signed = checkSignature(
    authSignature(secrets.sipSharedSecret, presented.timestamp, presented.callId),
    presented,
    nowMs,
  );
  if (!signed.ok) return signed;
  return verifyAiToken(secrets.jwtSecretKey, presented.token, presented.callId, nowMs);
}

/**
 * The JWT half of the check: HS256 only, audience `ai-platform`, not expired, `sub`
 * equal to the call or message id. `token` is "Bearer <jwt>" as received.
 */
export async function verifyAiToken(
  jwtSecretKey: string,
  token: string,
  subject: string,
  nowMs: number = Date.now(),
): Promise<AuthVerdict> {
  const bearer = /^Bearer (.+)$/.exec(token);
  if (!bearer?.[1]) return { ok: false, code: 'ERR_AUTH_MALFORMED', reason: 'token is not "Bearer <jwt>"' };
  try {
    const { payload } = await jwtVerify(bearer[1], new TextEncoder().encode(jwtSecretKey), {
      algorithms: ['HS256'],
      audience: AI_JWT_AUDIENCE,
      currentDate: new Date(nowMs),
    });
    if (payload.sub !== subject)
      return { ok: false, code: 'ERR_AUTH_TOKEN', reason: 'token subject is not this call or message' };
  } catch (err) {
    const reason =
      err instanceof joseErrors.JWTExpired
        ? 'token expired'
        : err instanceof joseErrors.JOSEError
          ? err.code
          : 'token invalid';
    return { ok: false, code: 'ERR_AUTH_TOKEN', reason };
  }
  return { ok: true };
}

// ─── SMS webhook ─────────────────────────────────────────────────────────────────
//
// A webhook has no first frame to sign, so the signature covers the request body:
// the same HMAC, over `${timestamp}.${raw body}` instead of `${timestamp}.${call_id}`
// (the Stripe / Slack construction: the timestamp inside the MAC bounds replays).

/** hex HMAC-SHA256(SIP_SHARED_SECRET, `${timestamp}.` followed by the body's exact bytes) */
export function webhookSignature(sipSharedSecret: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', sipSharedSecret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The headers of a signed webhook request (besides Content-Type). */
export async function webhookAuthHeaders(
  secrets: AuthSecrets,
  subject: string,
  body: string | Uint8Array,
  nowMs: number = Date.now(),
): Promise<Record<string, string>> {
  const auth = await createAuthMaterial(secrets, subject, false, nowMs);
  return {
    [AUTH_HEADERS.authorization]: `Bearer ${auth.jwt}`,
    [AUTH_HEADERS.timestamp]: auth.timestamp,
    [AUTH_HEADERS.signature]: webhookSignature(secrets.sipSharedSecret, auth.timestamp, body),
  };
}

/**
 * The signature half of a webhook check, done before the body is parsed: timestamp
 * within ±AUTH_MAX_SKEW_S, signature over the body's exact bytes. The JWT is checked
 * afterwards with {@link verifyAiToken}, against the message id the body names.
 */
export function verifyWebhookSignature(
  sipSharedSecret: string,
  presented: { readonly signature: string; readonly timestamp: string },
  body: Uint8Array,
  nowMs: number = Date.now(),
): AuthVerdict {
  return checkSignature(webhookSignature(sipSharedSecret, presented.timestamp, body), presented, nowMs);
}

function checkSignature(
  expectedHex: string,
  presented: { readonly signature: string; readonly timestamp: string },
  nowMs: number,
): AuthVerdict {
  if (!/^[0-9]{1,12}$/.test(presented.timestamp))
    return { ok: false, code: 'ERR_AUTH_MALFORMED', reason: 'timestamp is malformed' };
  const skew = Math.abs(Math.floor(nowMs / 1000) - Number(presented.timestamp));
  if (skew > AUTH_MAX_SKEW_S)
    return { ok: false, code: 'ERR_AUTH_TIMESTAMP', reason: `timestamp is ${skew} s away from now` };
  const expected = Buffer.from(expectedHex, 'hex');
  const given = /^[0-9a-f]{64}$/.test(presented.signature) ? Buffer.from(presented.signature, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'ERR_AUTH_SIGNATURE', reason: 'signature does not match' };
  }
  return { ok: true };
}
