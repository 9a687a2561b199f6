import { SignJWT } from 'jose';
import { AppError } from '../../../common/src/errors';
import { authorize, bearerToken } from './access';
import { mintToken } from '../../../common/src/auth/tokens';
import { TokenVerifier, tokenFingerprint } from './tokens';

const secrets = {
  operator: 'operator-secret-operator-secret-0123456789',
  admin: 'admin-secret-admin-secret-admin-secret-0123',
};
const verifier = new TokenVerifier(secrets);

async function rejectionOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('tokens', () => {
  test('admin token signed with SIP_JWT_SECRET → principal with role admin and subject', async () => {
    const token = await mintToken({ role: 'admin', secret: secrets.admin, ttlSeconds: 60, subject: 'ops@example.com' });
    await expect(verifier.verify(token)).resolves.toEqual({ role: 'admin', subject: 'ops@example.com' });
  });

  test('operator token signed with JWT_SECRET_KEY → principal with role operator', async () => {
    const token = await mintToken({ role: 'operator', secret: secrets.operator, ttlSeconds: 60 });
    await expect(verifier.verify(token)).resolves.toEqual({ role: 'operator', subject: undefined });
  });

  test('operator-signed token claiming admin → 401, not promoted', async () => {
    const token = await mintToken({ role: 'admin', secret: secrets.operator, ttlSeconds: 60 });
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
    expect(err.message).toMatch(/role does not match/);
  });

  test('expired token → ERR_TOKEN_EXPIRED', async () => {
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 120)
      .sign(new TextEncoder().encode(secrets.admin));
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe('ERR_TOKEN_EXPIRED');
    expect(err.status).toBe(401);
  });

  test('token without exp → 401 naming the claim', async () => {
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secrets.admin));
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
    expect(err.message).toMatch(/"exp"/);
  });

  test('alg none → 401 asking for HS256', async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ role: 'admin', exp })}.`;
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
    expect(err.message).toMatch(/HS256/);
  });

  test('HS512 with the right secret → 401: only HS256 is accepted', async () => {
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS512' })
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(secrets.admin));
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
  });

  test('wrong secret → 401 with a signature message', async () => {
    const token = await mintToken({ role: 'admin', secret: 'x'.repeat(40), ttlSeconds: 60 });
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
    expect(err.message).toMatch(/signature/);
  });

  test('garbage → 401 malformed', async () => {
    const err = await rejectionOf(verifier.verify('not-a-jwt'));
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
  });

  test('one secret for both roles → the role claim decides', async () => {
    const shared = new TokenVerifier({ operator: secrets.admin, admin: secrets.admin });
    const token = await mintToken({ role: 'operator', secret: secrets.admin, ttlSeconds: 60 });
    await expect(shared.verify(token)).resolves.toMatchObject({ role: 'operator' });
  });

  test('mintToken with an unknown role or a bad ttl → TypeError', async () => {
    await expect(mintToken({ role: 'root' as never, secret: secrets.admin, ttlSeconds: 60 })).rejects.toThrow(
      TypeError,
    );
    await expect(mintToken({ role: 'admin', secret: secrets.admin, ttlSeconds: 0 })).rejects.toThrow(TypeError);
  });

  test('fingerprint → sha256 hex, never the token', () => {
    expect(tokenFingerprint('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('access', () => {
  test('bearerToken reads "Bearer <token>" case-insensitively and nothing else', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  test('operator token on an admin endpoint → 403 ERR_FORBIDDEN', async () => {
    const token = await mintToken({ role: 'operator', secret: secrets.operator, ttlSeconds: 60 });
    const err = await rejectionOf(authorize(verifier, `Bearer ${token}`, 'admin'));
    expect(err.code).toBe('ERR_FORBIDDEN');
    expect(err.status).toBe(403);
  });

  test('operator token on an any-role endpoint → principal', async () => {
    const token = await mintToken({ role: 'operator', secret: secrets.operator, ttlSeconds: 60 });
    await expect(authorize(verifier, `Bearer ${token}`, 'any-role')).resolves.toMatchObject({ role: 'operator' });
  });

  test('no header on a protected endpoint → 401; on a public one → no principal', async () => {
    expect((await rejectionOf(authorize(verifier, undefined, 'any-role'))).code).toBe('ERR_UNAUTHENTICATED');
    await expect(authorize(verifier, undefined, 'public')).resolves.toBeUndefined();
  });
});
