import { SignJWT } from 'jose';
import { mintToken } from '../../services/common/src/auth/tokens';
import { api, token } from '../support/api';
import { testStack } from '../support/stack';

interface ErrorBody {
  error: { code: string; message: string };
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const secrets = () => testStack().config.secrets;

/** Status of a plain request; the body is read so the connection is released. */
async function statusOf(path: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(`${testStack().apiUrl}${path}`, init);
  await res.arrayBuffer();
  return res.status;
}

describe('bearer tokens on /api/sip-users/* (admin only)', () => {
  test('admin token (SIP_JWT_SECRET) → 200', async () => {
    const res = await api('GET', '/api/sip-users/?per_page=1', { role: 'admin' });
    expect(res.status).toBe(200);
  });

  test('no token → 401 ERR_UNAUTHENTICATED with a Bearer challenge', async () => {
    const res = await api<ErrorBody>('GET', '/api/sip-users/');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ERR_UNAUTHENTICATED');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  test('operator token (JWT_SECRET_KEY) → 403 ERR_FORBIDDEN on every SIP user endpoint', async () => {
    const operator = await token('operator');
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/api/sip-users/'],
      ['POST', '/api/sip-users/', { username: 'operator-made' }],
      ['GET', '/api/sip-users/1'],
      ['PUT', '/api/sip-users/1', { notes: 'x' }],
      ['DELETE', '/api/sip-users/1'],
      ['POST', '/api/sip-users/1/unlock'],
      ['GET', '/api/sip-users/1/credentials'],
      ['GET', '/api/sip-users/1/stats'],
      ['POST', '/api/sip-users/bulk-create', { users: [{ username: 'operator-made' }] }],
    ];
    for (const [method, path, body] of calls) {
      const res = await api<ErrorBody>(method, path, { token: operator, body });
      expect([method, path, res.status, res.body.error.code]).toEqual([method, path, 403, 'ERR_FORBIDDEN']);
    }
  });

  test('expired admin token → 401 ERR_TOKEN_EXPIRED', async () => {
    const expired = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 300)
      .sign(new TextEncoder().encode(secrets().sipJwtSecret));
    const res = await api<ErrorBody>('GET', '/api/sip-users/', { token: expired });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ERR_TOKEN_EXPIRED');
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
  });

  test('admin role signed with the wrong secret → 401', async () => {
    const forged = await mintToken({ role: 'admin', secret: 'not-the-secret-not-the-secret-not-the', ttlSeconds: 60 });
    const res = await api<ErrorBody>('GET', '/api/sip-users/', { token: forged });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ERR_UNAUTHENTICATED');
  });

  test('admin role signed with the operator secret → 401 (no promotion)', async () => {
    const promoted = await mintToken({ role: 'admin', secret: secrets().jwtSecretKey, ttlSeconds: 60 });
    const res = await api<ErrorBody>('GET', '/api/sip-users/', { token: promoted });
    expect(res.status).toBe(401);
  });

  test('alg none → 401', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ role: 'admin', exp })}.`;
    const res = await api<ErrorBody>('GET', '/api/sip-users/', { token: unsigned });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ERR_UNAUTHENTICATED');
  });

  test('HS384 with the right secret → 401 (HS256 only)', async () => {
    const hs384 = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS384' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secrets().sipJwtSecret));
    expect((await api('GET', '/api/sip-users/', { token: hs384 })).status).toBe(401);
  });

  test('no exp claim → 401', async () => {
    const forever = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secrets().sipJwtSecret));
    expect((await api('GET', '/api/sip-users/', { token: forever })).status).toBe(401);
  });

  test('garbage and non-Bearer schemes → 401', async () => {
    expect((await api('GET', '/api/sip-users/', { token: 'garbage' })).status).toBe(401);
    expect(await statusOf('/api/sip-users/', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } })).toBe(401);
  });

  test('auth is checked before validation: a bad body without a token → 401, not 400', async () => {
    expect(
      await statusOf('/api/sip-users/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{bad',
      }),
    ).toBe(401);
  });
});

describe('bearer tokens on the other endpoints', () => {
  test('/api/config/status and /api/openapi.json → 200 for operator and admin, 401 without a token', async () => {
    for (const path of ['/api/config/status', '/api/openapi.json']) {
      expect((await api('GET', path, { role: 'operator' })).status).toBe(200);
      expect((await api('GET', path, { role: 'admin' })).status).toBe(200);
      expect((await api('GET', path)).status).toBe(401);
    }
  });

  test('expired operator token on /api/config/status → 401 ERR_TOKEN_EXPIRED', async () => {
    const expired = await new SignJWT({ role: 'operator' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(secrets().jwtSecretKey));
    const res = await api<ErrorBody>('GET', '/api/config/status', { token: expired });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('ERR_TOKEN_EXPIRED');
  });

  test('/health and /metrics → 200 without a token', async () => {
    expect(await statusOf('/health')).toBe(200);
    expect(await statusOf('/metrics')).toBe(200);
  });
});
