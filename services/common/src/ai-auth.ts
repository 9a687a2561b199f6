import { createHmac, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';

/**
 * How the gateway proves itself to the AI platform, on every (re)connection:
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

export async function createAuthMaterial(secrets: AuthSecrets, callId: string, reconnected: boolean, nowMs: number = Date.now()): Promise<AuthMaterial> {
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

export type AuthVerdict = { readonly ok: true } | { readonly ok: false; readonly code: AuthFailure; readonly reason: string };

export interface PresentedAuth {
  /** "Bearer <jwt>" as received */
  readonly token: string;
  readonly signature: string;
  readonly timestamp: string;
  readonly callId: string;
}

/** The AI side's check (used by the demo agent; an AI platform in TypeScript can reuse it). */
export async function verifyAuth(secrets: AuthSecrets, presented: PresentedAuth, nowMs: number = Date.now()): Promise<AuthVerdict> {
  const bearer = /^Bearer (.+)$/.exec(presented.token);
  if (!bearer?.[1] || !/^[0-9]{1,12}$/.test(presented.timestamp) || presented.callId === '') {
    return { ok: false, code: 'ERR_AUTH_MALFORMED', reason: 'token, timestamp or call id is malformed' };
  }
  const skew = Math.abs(Math.floor(nowMs / 1000) - Number(presented.timestamp));
  if (skew > AUTH_MAX_SKEW_S) return { ok: false, code: 'ERR_AUTH_TIMESTAMP', reason: `timestamp is ${skew} s away from now` };

  const expected = Buffer.from(authSignature(secrets.sipSharedSecret, presented.timestamp, presented.callId), 'hex');
  const given = /^[0-9a-f]{64}$/.test(presented.signature) ? Buffer.from(presented.signature, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'ERR_AUTH_SIGNATURE', reason: 'signature does not match' };
  }

  try {
    const { payload } = await jwtVerify(bearer[1], new TextEncoder().encode(secrets.jwtSecretKey), {
      algorithms: ['HS256'],
      audience: AI_JWT_AUDIENCE,
      currentDate: new Date(nowMs),
    });
    if (payload.sub !== presented.callId) return { ok: false, code: 'ERR_AUTH_TOKEN', reason: 'token subject is not this call' };
  } catch (err) {
    const reason = err instanceof joseErrors.JWTExpired ? 'token expired' : err instanceof joseErrors.JOSEError ? err.code : 'token invalid';
    return { ok: false, code: 'ERR_AUTH_TOKEN', reason };
  }
  return { ok: true };
}
