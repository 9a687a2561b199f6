import type { RequestHandler } from 'express';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../../common/src/errors';
import { bearerToken } from '../auth/access';
import { tokenFingerprint } from '../auth/tokens';
import { normalizeAddress } from './source-allowlist';

export interface RateLimits {
  /** Requests per window per source address (API_RATE_LIMIT_PER_IP). */
  readonly perIp: number;
  /** Requests per window per bearer token (API_RATE_LIMIT_PER_TOKEN). */
  readonly perToken: number;
  readonly windowSeconds?: number;
}

/**
 * Fixed-window limits per source address and per bearer token, in memory (one
 * process; replicas each count their own). Tokens are keyed by their SHA-256, so
 * the limiter never holds a usable token. A request without a token only counts
 * against its address; a request that is limited is not counted twice.
 */
export function rateLimit(limits: RateLimits): RequestHandler {
  const duration = limits.windowSeconds ?? 60;
  const byIp = new RateLimiterMemory({ keyPrefix: 'ip', points: limits.perIp, duration });
  const byToken = new RateLimiterMemory({ keyPrefix: 'token', points: limits.perToken, duration });
  return async (req, res, next) => {
    const token = bearerToken(req.headers.authorization);
    try {
      await byIp.consume(normalizeAddress(req.socket.remoteAddress));
      if (token !== undefined) await byToken.consume(tokenFingerprint(token));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      res.setHeader('Retry-After', String(seconds));
      next(new AppError('ERR_RATE_LIMITED', `too many requests; retry in ${seconds} s`, { retry_after_seconds: seconds }));
      return;
    }
    next();
  };
}
