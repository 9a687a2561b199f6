import { createHmac, timingSafeEqual } from 'node:crypto';
import { HEADER_BRIDGE_PROOF } from '../kamailio/names';

/**
 * Proof that a request came through our Kamailio: the gateway and the SMS endpoint
 * take requests only from it, and a source-address allowlist alone breaks as soon as
 * Kubernetes moves a pod. Kamailio strips the header from everything clients send
 * and adds it to each request it relays to a gateway or SMS endpoint:
 *
 *    X-Bridge-Proof: <unix seconds>;<base64url HMAC-SHA256(secret, "<unix seconds>.<Call-ID>")>
 *
 * (Kamailio's `crypto_hmac_sha256` writes base64url without padding.) Kamailio signs
 * every request afresh, so in-dialog requests of a long call carry a recent proof too
 * and a short window holds. The MAC binds the proof to one Call-ID: a proof seen on
 * one call does not open another.
 */
export const PROXY_PROOF_HEADER = HEADER_BRIDGE_PROOF;

/** Why a request was refused: the label of the rejection counters. */
export type ProxyProofFailure = 'no_proof' | 'bad_proof' | 'stale_proof';

export type ProxyProofVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: ProxyProofFailure };

/** The reason phrase of the 403 every refused request gets (the SMS endpoint has always used it). */
export const NOT_THROUGH_PROXY = 'Forbidden - Not Through The Proxy';

/** 30 s: Kamailio signs each request as it relays it, so only transit and clock skew count. */
export const DEFAULT_PROOF_MAX_AGE_SECONDS = 30;

const SHA256_BYTES = 32;

function mac(secret: string, timestamp: string, callId: string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.${callId}`).digest();
}

/** The header value Kamailio computes, for tools and tests that stand in for it. */
export function signProxyProof(
  secret: string,
  callId: string,
  unixSeconds: number = Math.floor(Date.now() / 1000),
): string {
  const ts = String(Math.floor(unixSeconds));
  return `${ts};${mac(secret, ts, callId).toString('base64url')}`;
}

export interface ProxyProofOptions {
  readonly secret: string;
  /** How far the proof's timestamp may be from our clock, either way (default 30 s). */
  readonly maxAgeSeconds?: number;
  /** Unix time in ms (tests). */
  readonly now?: () => number;
}

/** Checks X-Bridge-Proof values against the shared secret. */
export class ProxyProofVerifier {
  private readonly secret: string;
  private readonly maxAgeSeconds: number;
  private readonly now: () => number;

  constructor(opts: ProxyProofOptions) {
    if (opts.secret.length === 0) throw new TypeError('the proxy proof needs a secret');
    this.secret = opts.secret;
    this.maxAgeSeconds = opts.maxAgeSeconds ?? DEFAULT_PROOF_MAX_AGE_SECONDS;
    this.now = opts.now ?? Date.now;
  }

  /** `value`: the header as received (undefined when absent); `callId`: the request's Call-ID. */
  verify(value: string | undefined, callId: string): ProxyProofVerdict {
    if (value === undefined || value.trim() === '') return { ok: false, reason: 'no_proof' };
    const m = /^\s*(\d{1,12});([A-Za-z0-9_-]{43})=?\s*$/.exec(value);
    if (!m) return { ok: false, reason: 'bad_proof' };
    const ts = m[1] as string;
    const given = Buffer.from(m[2] as string, 'base64url');
    // The MAC first: an attacker learns nothing about the window from a forged proof.
    if (given.length !== SHA256_BYTES || !timingSafeEqual(given, mac(this.secret, ts, callId)))
      return { ok: false, reason: 'bad_proof' };
    if (Math.abs(this.now() / 1000 - Number(ts)) > this.maxAgeSeconds) return { ok: false, reason: 'stale_proof' };
    return { ok: true };
  }
}
