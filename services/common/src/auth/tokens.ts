import { SignJWT } from 'jose';

/**
 * API bearer tokens as both sides see them: what a token may claim and how one is
 * signed. The control-plane verifies them (services/control-plane/src/auth); the
 * media gateway, `npm run token`, the tests and the benches mint them.
 */

/**
 * API roles. Operators run the platform (calls, trunks, SMS, status); admins also
 * manage SIP users. Each role has its own signing secret so that leaking the
 * operator secret never grants SIP user management.
 */
export const ROLES = ['operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The one algorithm tokens may use: an HMAC shared secret per role. */
export const TOKEN_ALGORITHM = 'HS256';

export interface MintOptions {
  readonly role: Role;
  readonly secret: string;
  readonly ttlSeconds: number;
  readonly subject?: string;
}

/** Signs a bearer token for the API (the gateway's SMS client, `npm run token`, the tests and benches). */
export async function mintToken({ role, secret, ttlSeconds, subject }: MintOptions): Promise<string> {
  if (!isRole(role)) throw new TypeError(`role must be one of ${ROLES.join(', ')}, not ${String(role)}`);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new TypeError('ttlSeconds must be a positive integer');
  const jwt = new SignJWT({ role })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (subject !== undefined) jwt.setSubject(subject);
  return jwt.sign(new TextEncoder().encode(secret));
}
