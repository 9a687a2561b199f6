import { createHash } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { isRole, ROLES, TOKEN_ALGORITHM, type Role } from '../../../common/src/auth/tokens';
import { AppError } from '../../../common/src/errors';

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
