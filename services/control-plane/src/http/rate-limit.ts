import type { RequestHandler, Response } from 'express';
import ipaddr from 'ipaddr.js';
import { AppError } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { tokenFingerprint } from '../auth/tokens';
import { normalizeAddress } from './source-allowlist';

export interface RateLimits {
  /** Requests per window per source address (API_RATE_LIMIT_PER_IP). */
  readonly perIp: number;
  /** Requests per window per bearer token (API_RATE_LIMIT_PER_TOKEN). */
  readonly perToken: number;
  readonly windowSeconds?: number;
  /** Sources (or tokens) counted one by one per window; see WindowCounter. */
  readonly maxKeys?: number;
}

/**
 * Distinct sources a window counts one by one: about 100 bytes each, so at most
 * ~10 MB however many addresses an attacker sends from.
 */
export const MAX_RATE_LIMIT_KEYS = 100_000;

/** What a counted request learns. */
export interface WindowHit {
  readonly allowed: boolean;
  /** Requests from this key (or from the shared overflow) in this window, this one included. */
  readonly count: number;
  readonly retryAfterSeconds: number;
  /** The key was not counted on its own: the table was full. */
  readonly shared: boolean;
}

/**
 * Fixed-window request counts per key in bounded memory. The whole table is
 * dropped when the window rolls over (no timer per key: a million keys are one
 * `new Map()`), and at most `maxKeys` keys are counted one by one; once the table
 * is full, new keys share one overflow count until the window ends, so a flood
 * from more sources than that is limited as one source rather than growing the
 * heap or going unlimited.
 */
export class WindowCounter {
  private counts = new Map<string, number>();
  private overflow = 0;
  private windowStart = -Infinity;

  constructor(
    readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = MAX_RATE_LIMIT_KEYS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keys counted one by one in the current window. */
  get size(): number {
    return this.counts.size;
  }

  hit(key: string): WindowHit {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.counts = new Map();
      this.overflow = 0;
      this.windowStart = t;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((this.windowStart + this.windowMs - t) / 1000));
    const known = this.counts.get(key);
    if (known === undefined && this.counts.size >= this.maxKeys) {
      this.overflow++;
      return { allowed: this.overflow <= this.limit, count: this.overflow, retryAfterSeconds, shared: true };
    }
    const count = (known ?? 0) + 1;
    this.counts.set(key, count);
    return { allowed: count <= this.limit, count, retryAfterSeconds, shared: false };
  }
}

/**
 * The key a source address is counted under: IPv4 by address, IPv6 by its /64
 * (RFC 6177: one site gets a /64 or more, so per-address keys would let one
 * attacker count as 2^64 sources).
 */
export function sourceKey(rawAddress: string | undefined): string {
  const address = normalizeAddress(rawAddress);
  if (!ipaddr.IPv6.isValid(address)) return address;
  const parts = ipaddr.IPv6.parse(address).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}

/**
 * Fixed-window limits per source address and per bearer token, in memory (one
 * process; replicas each count their own). Every request counts against its
 * source; a token is counted only once it verified (`token()`, called by the
 * router after authentication), so forged tokens cost the limiter nothing and
 * count only against their source. Tokens are keyed by their SHA-256, so the
 * limiter never holds a usable token. The first refusal of a key in a window is
 * logged (warn) with the source; every refusal is counted as ERR_RATE_LIMITED
 * by the request log.
 */
export class RateLimiter {
  private readonly bySource: WindowCounter;
  private readonly byToken: WindowCounter;

  constructor(
    limits: RateLimits,
    private readonly logger: Logger,
  ) {
    const windowMs = (limits.windowSeconds ?? 60) * 1000;
    this.bySource = new WindowCounter(limits.perIp, windowMs, limits.maxKeys);
    this.byToken = new WindowCounter(limits.perToken, windowMs, limits.maxKeys);
  }

  /** Middleware: counts the request against its source address. */
  readonly sources: RequestHandler = (req, res, next) => {
    const hit = this.bySource.hit(sourceKey(req.socket.remoteAddress));
    if (hit.allowed) {
      next();
      return;
    }
    next(this.refuse(res, hit, 'per_ip', normalizeAddress(req.socket.remoteAddress), undefined));
  };

  /** Counts a verified token; throws ERR_RATE_LIMITED (setting Retry-After) past its limit. */
  token(token: string, res: Response, ip: string, subject: string | undefined): void {
    const hit = this.byToken.hit(tokenFingerprint(token));
    if (!hit.allowed) throw this.refuse(res, hit, 'per_token', ip, subject);
  }

  private refuse(
    res: Response,
    hit: WindowHit,
    limit: 'per_ip' | 'per_token',
    ip: string,
    subject: string | undefined,
  ): AppError {
    const counter = limit === 'per_ip' ? this.bySource : this.byToken;
    if (hit.count === counter.limit + 1) {
      this.logger.warn(
        hit.shared
          ? 'rate limit exceeded by sources beyond the limiter table (they share one allowance)'
          : 'rate limit exceeded',
        {
          limit,
          ip,
          ...(subject !== undefined ? { subject } : {}),
          requests_per_window: counter.limit,
          retry_after_seconds: hit.retryAfterSeconds,
          ...(hit.shared ? { tracked_keys: counter.size } : {}),
        },
      );
    }
    res.setHeader('Retry-After', String(hit.retryAfterSeconds));
    return new AppError('ERR_RATE_LIMITED', `too many requests; retry in ${hit.retryAfterSeconds} s`, {
      retry_after_seconds: hit.retryAfterSeconds,
    });
  }
}
