import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../../../common/src/logger';
import { normalizeAddress } from './source-allowlist';

/** `code`: the catalogue code of an error answer (bounded: the catalogue), else undefined. */
export interface RequestObserver {
  (method: string, route: string, status: number, seconds: number, code: string | undefined): void;
}

// Probes and scrapes arrive every few seconds; they are logged only when they fail.
const QUIET_ROUTES = new Set(['/health', '/metrics']);

// A caller-supplied request id is echoed only if it is short and harmless.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// A path can be 16 KiB (the header limit); a log line keeps its start.
const MAX_LOGGED_PATH = 256;

/** The route template a request matched (set by the router), for logs and metrics. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * One log line per request: method, route template, path, status, error code,
 * duration, source address, role and request id. Never headers (Authorization), never
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
      const code = res.locals['errorCode'] as string | undefined;
      observe(req.method, route, res.statusCode, seconds, code);
      const level = res.statusCode >= 500 ? 'warn' : res.statusCode < 400 && QUIET_ROUTES.has(route) ? 'debug' : 'info';
      logger.log(level, 'http request', {
        request_id: requestId,
        method: req.method,
        route,
        path: req.path.length > MAX_LOGGED_PATH ? `${req.path.slice(0, MAX_LOGGED_PATH)}…` : req.path,
        status: res.statusCode,
        // Which defence refused it (ERR_VALIDATION, ERR_UNAUTHENTICATED, ERR_RATE_LIMITED, ...).
        ...(code ? { code } : {}),
        duration_ms: Math.round(seconds * 1e6) / 1e3,
        ip: normalizeAddress(req.socket.remoteAddress),
        role: (res.locals['role'] as string | undefined) ?? null,
      });
    });
    next();
  };
}
