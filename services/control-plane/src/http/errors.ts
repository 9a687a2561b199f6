import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, ERRORS } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { KamailioReplyError } from '../kamailio/control';
import { KamailioRpcError, KamailioUnavailableError } from '../kamailio/rpc';

/** Every error response: `{"error": {"code", "message", ...details}}`. */
export const ERROR_RESPONSE_SCHEMA = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
        fields: {
          type: 'array',
          description: 'Which request fields are wrong (validation errors).',
          items: {
            type: 'object',
            properties: { field: { type: 'string' }, message: { type: 'string' } },
            required: ['field', 'message'],
          },
        },
        errors: {
          type: 'array',
          description: 'Per-row problems of a bulk request (nothing was created).',
          items: {
            type: 'object',
            properties: {
              index: { type: 'integer', minimum: 0 },
              field: { type: 'string' },
              code: { type: 'string' },
              message: { type: 'string' },
            },
            required: ['index', 'field', 'code', 'message'],
          },
        },
      },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

// body-parser (express.json) failures, by their `type`.
const BODY_PARSER_ERRORS: Record<string, AppError['code']> = {
  'entity.parse.failed': 'ERR_BAD_JSON',
  'entity.too.large': 'ERR_PAYLOAD_TOO_LARGE',
  'encoding.unsupported': 'ERR_UNSUPPORTED_MEDIA_TYPE',
  'charset.unsupported': 'ERR_UNSUPPORTED_MEDIA_TYPE',
};

// PostgreSQL unreachable: socket errors, SQLSTATE class 08 (connection exception),
// 57P0x (server shutting down), 53300 (too many connections).
function isDatabaseUnavailable(err: Error & { code?: unknown }): boolean {
  const code = typeof err.code === 'string' ? err.code : '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', '53300'].includes(code) ||
    /^08/.test(code) ||
    /^57P0/.test(code) ||
    /Connection terminated|timeout exceeded when trying to connect/i.test(err.message)
  );
}

/** Wraps anything thrown below the HTTP layer into a catalogue error. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof KamailioUnavailableError) return new AppError('ERR_KAMAILIO_UNAVAILABLE', err.message);
  if (err instanceof KamailioRpcError || err instanceof KamailioReplyError) return new AppError('ERR_KAMAILIO_BAD_REPLY', err.message);
  if (err instanceof Error) {
    const type = (err as Error & { type?: unknown }).type;
    if (typeof type === 'string') {
      const code = BODY_PARSER_ERRORS[type];
      if (code) return new AppError(code);
      const status = (err as Error & { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) return new AppError('ERR_BAD_REQUEST', err.message);
    }
    if (isDatabaseUnavailable(err)) return new AppError('ERR_DATABASE_UNAVAILABLE');
  }
  return new AppError('ERR_INTERNAL');
}

/** RFC 6750 §3: 401 answers name the scheme (and say why the token was refused). */
function wwwAuthenticate(err: AppError): string | undefined {
  if (err.code === 'ERR_UNAUTHENTICATED') return 'Bearer realm="sip-ai-bridge"';
  if (err.code === 'ERR_TOKEN_EXPIRED') return 'Bearer realm="sip-ai-bridge", error="invalid_token", error_description="token expired"';
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appError = toAppError(err);
    if (appError.status >= 500) {
      // Log the cause, never the request body or headers.
      logger.error('request failed', {
        method: req.method,
        route: res.locals['route'] ?? 'unmatched',
        code: appError.code,
        cause: err instanceof Error ? err.message : String(err),
        stack: appError.code === 'ERR_INTERNAL' && err instanceof Error ? err.stack : undefined,
      });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const challenge = wwwAuthenticate(appError);
    if (challenge) res.setHeader('WWW-Authenticate', challenge);
    res.status(appError.status).json(appError.toJSON());
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('ERR_NOT_FOUND', `no endpoint ${req.method} ${req.path}`));
};
