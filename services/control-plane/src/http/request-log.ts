import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../../../common/src/logger';
import { normalizeAddress } from './source-allowlist';

export interface RequestObserver {
  (method: string, route: string, status: number, seconds: number): void;
}

// Probes and scrapes arrive every few seconds; they are logged only when they fail.
const QUIET_ROUTES = new Set(['/health', '/metrics']);

// A caller-supplied request id is echoed only if it is short and harmless.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The route template a request matched (set by the router), for logs and metrics. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * One log line per request: method, route template, path, status, duration,
 * source address, role and request id. Never headers (Authorization), never
 * bodies (passwords), never the query string.
 */
export function requestLog(logger: Logger, observe: RequestObserver): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const supplied = req.headers['x-request-id'];
    const requestId = typeof supplied === 'string' && REQUEST_ID.test(supplied) ? supplied : randomUUID();
    res.locals['requestId'] = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (res.locals['route'] as string | undefined) ?? UNMATCHED_ROUTE;
      observe(req.method, route, res.statusCode, seconds);
      const level = res.statusCode >= 500 ? 'warn' : res.statusCode < 400 && QUIET_ROUTES.has(route) ? 'debug' : 'info';
      logger.log(level, 'http request', {
        request_id: requestId,
        method: req.method,
        route,
        path: req.path,
        status: res.statusCode,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
        ip: normalizeAddress(req.socket.remoteAddress),
        role: (res.locals['role'] as string | undefined) ?? null,
      });
    });
    next();
  };
}
