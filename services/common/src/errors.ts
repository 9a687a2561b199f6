/**
 * The error catalogue: every failure a client can see has a stable code, an HTTP
 * status and a default message. Foreign errors are wrapped at the boundary.
 */
export const ERRORS = {
  ERR_VALIDATION: { status: 400, message: 'request is invalid' },
  ERR_BAD_JSON: { status: 400, message: 'request body is not valid JSON' },
  ERR_BAD_REQUEST: { status: 400, message: 'request could not be read' },
  ERR_UNAUTHENTICATED: { status: 401, message: 'a valid bearer token is required' },
  ERR_TOKEN_EXPIRED: { status: 401, message: 'the bearer token has expired' },
  ERR_FORBIDDEN: { status: 403, message: 'this token may not use this endpoint' },
  ERR_SOURCE_NOT_ALLOWED: { status: 403, message: 'requests from this address are not allowed' },
  ERR_NOT_FOUND: { status: 404, message: 'no such resource' },
  ERR_SIP_USER_NOT_FOUND: { status: 404, message: 'no such SIP user' },
  ERR_SIP_USER_EXISTS: { status: 409, message: 'a SIP user with this username already exists' },
  ERR_TRUNK_NOT_FOUND: { status: 404, message: 'no such trunk' },
  ERR_TRUNK_EXISTS: { status: 409, message: 'a trunk with this trunk_id already exists' },
  ERR_NUMBER_NOT_FOUND: { status: 404, message: 'no such number' },
  ERR_NUMBER_EXISTS: { status: 409, message: 'this number already exists' },
  ERR_NUMBER_NOT_BLOCKED: { status: 404, message: 'this number is not blocked' },
  ERR_CALL_NOT_FOUND: { status: 404, message: 'no such call' },
  ERR_DIALOG_NOT_FOUND: { status: 404, message: 'no such dialog in Kamailio' },
  ERR_SMS_NOT_FOUND: { status: 404, message: 'no such message' },
  ERR_SMS_FROM_NOT_OURS: { status: 400, message: "from_number must be one of this system's numbers" },
  ERR_NUMBER_BLOCKED: { status: 403, message: 'this number is blocked' },
  ERR_IDEMPOTENCY_KEY_REUSED: { status: 409, message: 'this idempotency key was used for a different request' },
  ERR_RECORDING_NOT_AVAILABLE: { status: 404, message: 'this call has no recording to download' },
  ERR_REQUEST_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'request body is too large' },
  ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request headers are too large' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'request body must be application/json' },
  ERR_RATE_LIMITED: { status: 429, message: 'too many requests' },
  ERR_KAMAILIO_UNAVAILABLE: { status: 503, message: 'Kamailio did not answer' },
  ERR_KAMAILIO_BAD_REPLY: { status: 502, message: 'Kamailio answered with something unexpected' },
  ERR_DATABASE_UNAVAILABLE: { status: 503, message: 'the database did not answer' },
  ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERRORS[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  toJSON(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...(this.details ?? {}) } };
  }
}
