import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, ERRORS, isCodedError, type ErrorCode } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import type { DeadlineError } from '../health/deadline';
import type { KamailioReplyError } from '../kamailio/control';
import type { InvalidKamailioEventError } from '../kamailio/events';
import type { NetstringError } from '../kamailio/netstring';
import type { KamailioRpcError, KamailioUnavailableError } from '../../../common/src/kamailio/rpc';
import type { NumberExistsError, UnknownTrunkError } from '../numbers/store';
import type { DuplicateUsernamesError } from '../sip-users/store';
import type { TrunkExistsError } from '../trunks/store';
import { normalizeAddress } from './source-allowlist';

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

/** Every code the control-plane's own layers (Kamailio, the stores, the probes) raise. */
export type DomainErrorCode = (
  | KamailioUnavailableError
  | KamailioRpcError
  | KamailioReplyError
  | InvalidKamailioEventError
  | NetstringError
  | DuplicateUsernamesError
  | TrunkExistsError
  | NumberExistsError
  | UnknownTrunkError
  | DeadlineError
)['code'];

/**
 * What the API answers for a domain error that reaches it, by code. The client gets
 * the domain error's message (it names the Kamailio method or the row), except for
 * ERR_INTERNAL, whose cause only the log sees. The services answer the stores'
 * conflicts themselves, with `fields`; these rows are the fallback.
 */
export const API_ERROR_OF: Readonly<Record<DomainErrorCode, ErrorCode>> = {
  ERR_KAMAILIO_UNAVAILABLE: 'ERR_KAMAILIO_UNAVAILABLE',
  ERR_KAMAILIO_RPC: 'ERR_KAMAILIO_BAD_REPLY',
  ERR_KAMAILIO_BAD_REPLY: 'ERR_KAMAILIO_BAD_REPLY',
  ERR_SIP_USER_EXISTS: 'ERR_SIP_USER_EXISTS',
  ERR_TRUNK_EXISTS: 'ERR_TRUNK_EXISTS',
  ERR_NUMBER_EXISTS: 'ERR_NUMBER_EXISTS',
  ERR_NUMBER_TRUNK_UNKNOWN: 'ERR_VALIDATION',
  // Raised outside requests (evapi, health probes, metric scrapes): one inside a request is a bug.
  ERR_KAMAILIO_EVENT_INVALID: 'ERR_INTERNAL',
  ERR_NETSTRING: 'ERR_INTERNAL',
  ERR_DEADLINE_EXCEEDED: 'ERR_INTERNAL',
};

function isDomainErrorCode(code: string): code is DomainErrorCode {
  return Object.hasOwn(API_ERROR_OF, code);
}

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
  // The router decodes path parameters with decodeURIComponent: `%E0%A4%A` is the client's mistake.
  if (err instanceof URIError) {
    return new AppError('ERR_VALIDATION', 'path is invalid: a segment is not valid percent-encoding (RFC 3986 §2.1)', {
      fields: [{ field: 'path', message: 'is not valid percent-encoding' }],
    });
  }
  if (isCodedError(err) && isDomainErrorCode(err.code)) {
    const code = API_ERROR_OF[err.code];
    return new AppError(code, code === 'ERR_INTERNAL' ? undefined : err.message);
  }
  if (err instanceof Error) {
    const type = (err as Error & { type?: unknown }).type;
    if (typeof type === 'string') {
      const code = BODY_PARSER_ERRORS[type];
      if (code) return new AppError(code);
      const status = (err as Error & { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500)
        return new AppError('ERR_BAD_REQUEST', err.message);
    }
    if (isDatabaseUnavailable(err)) return new AppError('ERR_DATABASE_UNAVAILABLE');
    // Anything else Express or its parsers refuse as the client's fault (http-errors' 4xx).
    const status = (err as Error & { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) return new AppError('ERR_BAD_REQUEST');
  }
  return new AppError('ERR_INTERNAL');
}

/** RFC 6750 §3: 401 answers name the scheme (and say why the token was refused). */
function wwwAuthenticate(err: AppError): string | undefined {
  if (err.code === 'ERR_UNAUTHENTICATED') return 'Bearer realm="sip-ai-bridge"';
  if (err.code === 'ERR_TOKEN_EXPIRED')
    return 'Bearer realm="sip-ai-bridge", error="invalid_token", error_description="token expired"';
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appError = toAppError(err);
    // For the request log and the rejection counter (requestLog).
    res.locals['errorCode'] = appError.code;
    if (appError.status >= 500) {
      // Log the cause, never the request body or headers.
      logger.error('request failed', {
        method: req.method,
        route: (res.locals['route'] as string | undefined) ?? 'unmatched',
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

/**
 * Node's HTTP parser refuses some requests before Express sees them: a malformed
 * request line or header, an invalid Content-Length, headers beyond
 * --max-http-header-size (16 KiB), a request that does not arrive within
 * server.requestTimeout. Node would answer with a bare status line; this answers in
 * the API's error format, logs the source and counts the refusal.
 */
export function clientErrorHandler(
  logger: Logger,
  count: (code: ErrorCode) => void,
): (err: Error & { code?: string }, socket: Duplex) => void {
  return (err, socket) => {
    const ip = normalizeAddress((socket as Duplex & { remoteAddress?: string }).remoteAddress);
    // The client left, or a response to this request is under way: nothing to answer.
    const inFlight =
      (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight) {
      socket.destroy();
      return;
    }
    const appError =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new AppError('ERR_HEADERS_TOO_LARGE')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new AppError('ERR_REQUEST_TIMEOUT')
          : new AppError('ERR_BAD_REQUEST', 'the request is not valid HTTP/1.1 (RFC 9112)');
    const body = JSON.stringify(appError.toJSON());
    socket.end(
      `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    count(appError.code);
    logger.info('http request refused by the parser', { ip, code: appError.code, reason: err.code ?? err.message });
  };
}
