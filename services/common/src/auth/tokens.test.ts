import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { isRole, mintToken, TOKEN_ALGORITHM } from './tokens';

const SECRET = 'admin-secret-admin-secret-admin-secret-0123';

describe('mintToken', () => {
  it('role, secret, ttl and subject → an HS256 JWT the secret verifies, with role, sub, iat and exp', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await mintToken({ role: 'admin', secret: SECRET, ttlSeconds: 60, subject: 'ops@example.com' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: TOKEN_ALGORITHM, typ: 'JWT' });
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: [TOKEN_ALGORITHM] });
    expect(payload).toMatchObject({ role: 'admin', sub: 'ops@example.com' });
    expect(payload.exp! - before).toBeGreaterThanOrEqual(60);
    expect(payload.exp! - before).toBeLessThanOrEqual(61);
  });

  it('no subject → no sub claim', async () => {
    const token = await mintToken({ role: 'operator', secret: SECRET, ttlSeconds: 5 });
    expect(decodeJwt(token)).not.toHaveProperty('sub');
  });

  it.each([
    [
      'an unknown role',
      { role: 'root' as never, secret: SECRET, ttlSeconds: 60 },
      /role must be one of operator, admin/,
    ],
    ['a zero ttl', { role: 'admin' as const, secret: SECRET, ttlSeconds: 0 }, /ttlSeconds/],
    ['a fractional ttl', { role: 'admin' as const, secret: SECRET, ttlSeconds: 1.5 }, /ttlSeconds/],
  ])('%s → TypeError', async (_name, options, message) => {
    await expect(mintToken(options)).rejects.toThrow(message);
    await expect(mintToken(options)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('isRole', () => {
  it('operator and admin are roles; anything else is not', () => {
    expect(['operator', 'admin', 'root', undefined, 1].map(isRole)).toEqual([true, true, false, false, false]);
  });
});
