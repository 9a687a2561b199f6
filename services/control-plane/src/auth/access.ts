import { AppError } from '../../../common/src/errors';
import type { Role } from '../../../common/src/auth/tokens';
import type { Principal, TokenVerifier } from './tokens';

/**
 * Who may call an endpoint: anyone (probes, Prometheus), any valid token, or only
 * admin tokens (SIP user management).
 */
export type Access = 'public' | 'any-role' | 'admin';

/** The roles an access level admits, for docs and the OpenAPI document. */
export function rolesFor(access: Access): readonly Role[] {
  if (access === 'admin') return ['admin'];
  if (access === 'any-role') return ['operator', 'admin'];
  return [];
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
  return match?.[1];
}

/** Checks a request's credentials against an endpoint's access level. */
export async function authorize(
  verifier: TokenVerifier,
  authorization: string | undefined,
  access: Access,
): Promise<Principal | undefined> {
  if (access === 'public') return undefined;
  const token = bearerToken(authorization);
  if (token === undefined) throw new AppError('ERR_UNAUTHENTICATED');
  const principal = await verifier.verify(token);
  if (!rolesFor(access).includes(principal.role)) {
    throw new AppError('ERR_FORBIDDEN', `this endpoint requires a token with role ${rolesFor(access).join(' or ')}`);
  }
  return principal;
}
