import { ProxyProofVerifier, signProxyProof } from './proxy-proof';

const SECRET = 'proxy-proof-unit-test-secret-0123456789';
const NOW_S = 1_700_000_000;
const verifier = new ProxyProofVerifier({ secret: SECRET, maxAgeSeconds: 30, now: () => NOW_S * 1000 });

describe('proxy proof (X-Bridge-Proof)', () => {
  test("Kamailio's value (crypto_hmac_sha256, base64url without padding) → admitted", () => {
    // Computed by Kamailio 5.6's crypto module: crypto_hmac_sha256("$var(ts).$ci", "sekret-key-0123456789", ...)
    // for Call-ID call-xyz@host at 1796593178.
    const kamailio = new ProxyProofVerifier({ secret: 'sekret-key-0123456789', now: () => 1796593178_000 });
    expect(kamailio.verify('1796593178;yqyZzAi0ZHWtFgpdMUoB2c261j4WgUBwf9bDnWbTOK0', 'call-xyz@host')).toEqual({
      ok: true,
    });
  });

  test('signed now for this Call-ID → admitted; with base64 padding too', () => {
    const proof = signProxyProof(SECRET, 'abc@host', NOW_S);
    expect(verifier.verify(proof, 'abc@host')).toEqual({ ok: true });
    expect(verifier.verify(`${proof}=`, 'abc@host')).toEqual({ ok: true });
  });

  test('no header, or an empty one → no_proof', () => {
    expect(verifier.verify(undefined, 'abc@host')).toEqual({ ok: false, reason: 'no_proof' });
    expect(verifier.verify('  ', 'abc@host')).toEqual({ ok: false, reason: 'no_proof' });
  });

  test('another Call-ID, another secret, a changed timestamp or garbage → bad_proof', () => {
    const proof = signProxyProof(SECRET, 'abc@host', NOW_S);
    const [, mac] = proof.split(';');
    expect(verifier.verify(proof, 'other@host')).toEqual({ ok: false, reason: 'bad_proof' });
    expect(
      verifier.verify(signProxyProof('another-secret-of-enough-length-000000', 'abc@host', NOW_S), 'abc@host'),
    ).toEqual({ ok: false, reason: 'bad_proof' });
    expect(verifier.verify(`${NOW_S + 1};${mac}`, 'abc@host')).toEqual({ ok: false, reason: 'bad_proof' });
    for (const junk of [
      'yes',
      `${NOW_S}`,
      `${NOW_S};`,
      `${NOW_S};${'A'.repeat(42)}`,
      `${NOW_S};${'A'.repeat(44)}`,
      `-5;${mac}`,
      `${NOW_S};${mac};x`,
    ]) {
      expect({ junk, verdict: verifier.verify(junk, 'abc@host') }).toEqual({
        junk,
        verdict: { ok: false, reason: 'bad_proof' },
      });
    }
  });

  test('a genuine proof older or newer than the window → stale_proof; at the edge → admitted', () => {
    expect(verifier.verify(signProxyProof(SECRET, 'abc@host', NOW_S - 31), 'abc@host')).toEqual({
      ok: false,
      reason: 'stale_proof',
    });
    expect(verifier.verify(signProxyProof(SECRET, 'abc@host', NOW_S + 31), 'abc@host')).toEqual({
      ok: false,
      reason: 'stale_proof',
    });
    expect(verifier.verify(signProxyProof(SECRET, 'abc@host', NOW_S - 30), 'abc@host')).toEqual({ ok: true });
    expect(verifier.verify(signProxyProof(SECRET, 'abc@host', NOW_S + 30), 'abc@host')).toEqual({ ok: true });
  });

  test('an empty secret is a programming error', () => {
    expect(() => new ProxyProofVerifier({ secret: '' })).toThrow(TypeError);
  });
});
