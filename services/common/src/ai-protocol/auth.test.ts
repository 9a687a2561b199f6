import { decodeJwt, decodeProtectedHeader } from 'jose';
import {
  AI_JWT_AUDIENCE,
  authHeaders,
  authSignature,
  createAuthMaterial,
  verifyAiToken,
  verifyAuth,
  verifyWebhookSignature,
  webhookAuthHeaders,
  webhookSignature,
  type AuthSecrets,
} from './auth';

const secrets: AuthSecrets = {
  jwtSecretKey: 'jwt-secret-for-tests-0123456789abcdef',
  sipSharedSecret: 'shared-secret-for-tests-0123456789abcdef',
};
const NOW = 1_700_000_000_000;

function presented(auth: { jwt: string; signature: string; timestamp: string; callId: string }) {
  return { token: `Bearer ${auth.jwt}`, signature: auth.signature, timestamp: auth.timestamp, callId: auth.callId };
}

describe('authSignature', () => {
  test('HMAC-SHA256 over "timestamp.call_id" in lowercase hex matches openssl', () => {
    // printf '%s' '1700000000.call-abc@10.0.0.1' | openssl dgst -sha256 -hmac 'shared-secret-for-tests-0123456789abcdef'
    expect(authSignature(secrets.sipSharedSecret, '1700000000', 'call-abc@10.0.0.1')).toBe(
      '6d143ec736a2732ccb08f06a76fa6e657dd0fea393695d131492e3c761678dd0',
    );
  });
});

describe('createAuthMaterial', () => {
  test('JWT is HS256 with sub = call id, aud ai-platform, iat now and a 5-minute expiry', async () => {
    const auth = await createAuthMaterial(secrets, 'call-1', false, NOW);
    expect(decodeProtectedHeader(auth.jwt)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(auth.jwt);
    expect(claims).toEqual({ sub: 'call-1', aud: AI_JWT_AUDIENCE, iat: NOW / 1000, exp: NOW / 1000 + 300 });
    expect(auth.timestamp).toBe(String(NOW / 1000));
    expect(auth.signature).toBe(authSignature(secrets.sipSharedSecret, auth.timestamp, 'call-1'));
  });

  test('headers carry the same proof for the twilio dialect, never the URL', async () => {
    const auth = await createAuthMaterial(secrets, 'call-1', true, NOW);
    expect(authHeaders(auth)).toEqual({
      authorization: `Bearer ${auth.jwt}`,
      'x-bridge-signature': auth.signature,
      'x-bridge-timestamp': auth.timestamp,
      'x-bridge-call-id': 'call-1',
      'x-bridge-reconnected': 'true',
    });
  });
});

describe('verifyAuth', () => {
  test('what the gateway signs verifies', async () => {
    const auth = await createAuthMaterial(secrets, 'call-1', false, NOW);
    await expect(verifyAuth(secrets, presented(auth), NOW + 1000)).resolves.toEqual({ ok: true });
  });

  test('a JWT signed with another secret → ERR_AUTH_TOKEN', async () => {
    const auth = await createAuthMaterial(
      { ...secrets, jwtSecretKey: 'another-jwt-secret-0123456789abcdefgh' },
      'call-1',
      false,
      NOW,
    );
    await expect(verifyAuth(secrets, presented(auth), NOW)).resolves.toMatchObject({
      ok: false,
      code: 'ERR_AUTH_TOKEN',
    });
  });

  test('a signature with another shared secret → ERR_AUTH_SIGNATURE', async () => {
    const auth = await createAuthMaterial(
      { ...secrets, sipSharedSecret: 'another-shared-secret-0123456789abcdef' },
      'call-1',
      false,
      NOW,
    );
    await expect(verifyAuth(secrets, presented(auth), NOW)).resolves.toMatchObject({
      ok: false,
      code: 'ERR_AUTH_SIGNATURE',
    });
  });

  test('a timestamp 301 s away → ERR_AUTH_TIMESTAMP; 300 s is still fine for the timestamp', async () => {
    const auth = await createAuthMaterial(secrets, 'call-1', false, NOW);
    await expect(verifyAuth(secrets, presented(auth), NOW + 301_000)).resolves.toMatchObject({
      ok: false,
      code: 'ERR_AUTH_TIMESTAMP',
    });
    await expect(verifyAuth(secrets, presented(auth), NOW - 301_000)).resolves.toMatchObject({
      ok: false,
      code: 'ERR_AUTH_TIMESTAMP',
    });
    await expect(verifyAuth(secrets, presented(auth), NOW - 300_000)).resolves.toEqual({ ok: true });
  });

  test('an expired JWT → ERR_AUTH_TOKEN "token expired"', async () => {
    const auth = await createAuthMaterial(secrets, 'call-1', false, NOW);
    const fresh = {
      ...presented(auth),
      timestamp: String(NOW / 1000 + 299),
      signature: authSignature(secrets.sipSharedSecret, String(NOW / 1000 + 299), 'call-1'),
    };
    await expect(verifyAuth(secrets, fresh, NOW + 299_000 + 2000)).resolves.toEqual({
      ok: false,
      code: 'ERR_AUTH_TOKEN',
      reason: 'token expired',
    });
  });

  test('a JWT for another call → ERR_AUTH_TOKEN', async () => {
    const other = await createAuthMaterial(secrets, 'call-2', false, NOW);
    const mine = await createAuthMaterial(secrets, 'call-1', false, NOW);
    await expect(verifyAuth(secrets, { ...presented(mine), token: `Bearer ${other.jwt}` }, NOW)).resolves.toMatchObject(
      { ok: false, code: 'ERR_AUTH_TOKEN' },
    );
  });

  test('a token without "Bearer " or a non-numeric timestamp → ERR_AUTH_MALFORMED', async () => {
    const auth = await createAuthMaterial(secrets, 'call-1', false, NOW);
    await expect(verifyAuth(secrets, { ...presented(auth), token: auth.jwt }, NOW)).resolves.toMatchObject({
      ok: false,
      code: 'ERR_AUTH_MALFORMED',
    });
    await expect(verifyAuth(secrets, { ...presented(auth), timestamp: '17e8' }, NOW)).resolves.toMatchObject({
      ok: false,
      code: 'ERR_AUTH_MALFORMED',
    });
  });
});

describe('webhook signatures (SMS)', () => {
  const body = Buffer.from('{"type":"sms","data":{"message_id":"sms-1","text":"hi"}}');

  test('HMAC-SHA256 over "timestamp." and the body\'s bytes matches openssl', () => {
    // printf '%s' '1700000000.{"type":"sms","data":{"message_id":"sms-1","text":"hi"}}' | openssl dgst -sha256 -hmac 'shared-secret-for-tests-0123456789abcdef'
    expect(webhookSignature(secrets.sipSharedSecret, '1700000000', body)).toBe(
      webhookSignature(secrets.sipSharedSecret, '1700000000', body.toString()),
    );
    expect(webhookSignature(secrets.sipSharedSecret, '1700000000', body)).toBe(
      'f79017c174340930b6795602038338b2d73f9f50b698c6470b773a86a54fe938',
    );
  });

  test('what webhookAuthHeaders signs verifies: signature over the body, then the JWT against the message id', async () => {
    const headers = await webhookAuthHeaders(secrets, 'sms-1', body, NOW);
    expect(Object.keys(headers).sort()).toEqual(['authorization', 'x-bridge-signature', 'x-bridge-timestamp']);
    const presentedSig = {
      signature: headers['x-bridge-signature'] as string,
      timestamp: headers['x-bridge-timestamp'] as string,
    };
    expect(verifyWebhookSignature(secrets.sipSharedSecret, presentedSig, body, NOW + 2000)).toEqual({ ok: true });
    await expect(
      verifyAiToken(secrets.jwtSecretKey, headers['authorization'] as string, 'sms-1', NOW),
    ).resolves.toEqual({ ok: true });
    await expect(
      verifyAiToken(secrets.jwtSecretKey, headers['authorization'] as string, 'sms-2', NOW),
    ).resolves.toMatchObject({ ok: false, code: 'ERR_AUTH_TOKEN' });
  });

  test('one changed byte, another secret or a stale timestamp → refused', async () => {
    const headers = await webhookAuthHeaders(secrets, 'sms-1', body, NOW);
    const presentedSig = {
      signature: headers['x-bridge-signature'] as string,
      timestamp: headers['x-bridge-timestamp'] as string,
    };
    const tampered = Buffer.from(body);
    tampered[tampered.length - 3] = 0x21;
    expect(verifyWebhookSignature(secrets.sipSharedSecret, presentedSig, tampered, NOW)).toMatchObject({
      ok: false,
      code: 'ERR_AUTH_SIGNATURE',
    });
    expect(verifyWebhookSignature('another-shared-secret-0123456789abcdef', presentedSig, body, NOW)).toMatchObject({
      ok: false,
      code: 'ERR_AUTH_SIGNATURE',
    });
    expect(verifyWebhookSignature(secrets.sipSharedSecret, presentedSig, body, NOW + 301_000)).toMatchObject({
      ok: false,
      code: 'ERR_AUTH_TIMESTAMP',
    });
    expect(
      verifyWebhookSignature(secrets.sipSharedSecret, { ...presentedSig, timestamp: 'now' }, body, NOW),
    ).toMatchObject({ ok: false, code: 'ERR_AUTH_MALFORMED' });
  });
});
