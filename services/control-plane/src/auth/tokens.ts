import { createHash } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { AppError } from '../../../common/src/errors';

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

export interface TokenSecrets {
  /** JWT_SECRET_KEY */
  readonly operator: string;
  /** SIP_JWT_SECRET */
  readonly admin: string;
}

/** Who a verified token speaks for. */
export interface Principal {
  readonly role: Role;
  readonly subject: string | undefined;
}

export interface MintOptions {
  readonly role: Role;
  readonly secret: string;
  readonly ttlSeconds: number;
  readonly subject?: string;
}

/** Signs a bearer token for the API (used by `npm run token` and the tests). */
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

/** A stable, non-reversible key for a token (rate limiting, never logging). */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Verifies bearer tokens against both role secrets. The secret that verifies the
 * signature decides which roles the token may claim, so an operator-signed token
 * that says `role: "admin"` is rejected rather than promoted.
 */
export class TokenVerifier {
  private readonly keys: ReadonlyArray<{ readonly key: Uint8Array; readonly roles: ReadonlySet<Role> }>;

  constructor(secrets: TokenSecrets) {
    const bySecret = new Map<string, Set<Role>>();
    for (const role of ROLES) {
      const secret = secrets[role];
      const roles = bySecret.get(secret) ?? new Set<Role>();
      roles.add(role);
      bySecret.set(secret, roles);
    }
    this.keys = [...bySecret].map(([secret, roles]) => ({ key: new TextEncoder().encode(secret), roles }));
  }

  /** Resolves the principal or throws an `AppError` (401) that says why not. */
  async verify(token: string): Promise<Principal> {
    for (const { key, roles } of this.keys) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, { algorithms: [TOKEN_ALGORITHM], requiredClaims: ['exp'] }));
      } catch (err) {
        // jose checks the signature before the claims, so "expired" means this key signed it.
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        throw rejection(err);
      }
      const role = payload['role'];
      if (!isRole(role) || !roles.has(role)) {
        throw new AppError('ERR_UNAUTHENTICATED', 'the token role does not match the key that signed it');
      }
      return { role, subject: payload.sub };
    }
    throw new AppError('ERR_UNAUTHENTICATED', 'the bearer token signature is not valid');
  }
}

function rejection(err: unknown): AppError {
  if (err instanceof joseErrors.JWTExpired) return new AppError('ERR_TOKEN_EXPIRED');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return new AppError('ERR_UNAUTHENTICATED', `the bearer token must be signed with ${TOKEN_ALGORITHM}`);
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new AppError('ERR_UNAUTHENTICATED', `the bearer token claim "${err.claim}" is not valid (${err.reason})`);
  }
  return new AppError('ERR_UNAUTHENTICATED', 'the bearer token is malformed');
}
