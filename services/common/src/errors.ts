/**
 * One error model (STYLE.md §10). Every error the project raises on purpose is a
 * `CodedError`: a stable `code` callers branch on (never the message), a message, and
 * optional details and cause. Each layer keeps its own catalogue of codes beside its
 * code (SIP, SDP, RTP, DTMF, the AI stream, the media relay, Kamailio, the stores,
 * config); the HTTP API's catalogue is `ERRORS` below, and the control-plane maps
 * domain codes onto it with a table. Foreign errors (pg, Node, body-parser) are
 * wrapped at the boundary that meets them; programmer mistakes stay plain `TypeError`s.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, details?: Readonly<Record<string, unknown>>, options?: ErrorOptions) {
    super(message, options);
    // The subclass's own name ('SipParseError', 'AppError'), for logs and stack traces.
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** `instanceof CodedError` with the code typed as a string (instanceof alone leaves it `any`). */
export function isCodedError(err: unknown): err is CodedError {
  return err instanceof CodedError;
}

/** A layer's catalogue when a code needs nothing but its default message. */
export type MessageCatalogue<C extends string> = Readonly<Record<C, string>>;

/**
 * The error class of a layer whose catalogue is code → default message:
 * `class RtpError extends CatalogueError(RTP_ERRORS) {}` is `new RtpError(code, message?, details?)`.
 */
export function CatalogueError<C extends string>(
  catalogue: MessageCatalogue<C>,
): new (code: C, message?: string, details?: Readonly<Record<string, unknown>>) => CodedError<C> {
  return class extends CodedError<C> {
    constructor(code: C, message?: string, details?: Readonly<Record<string, unknown>>) {
      super(code, message ?? catalogue[code], details);
    }
  };
}

/**
 * The HTTP API's catalogue: every failure a client can see has a stable code, an HTTP
 * status, a default message and when it is given (docs/api.md's error table is
 * generated from `when` by scripts/error-docs.ts).
 */
export const ERRORS = {
  ERR_VALIDATION: {
    status: 400,
    message: 'request is invalid',
    when: 'body, query string or path does not match its schema; `fields` / `errors` say where',
  },
  ERR_BAD_JSON: { status: 400, message: 'request body is not valid JSON', when: 'the body is not JSON' },
  ERR_BAD_REQUEST: {
    status: 400,
    message: 'request could not be read',
    when: 'the request could not be read (a truncated body, an invalid `Content-Length`, not HTTP/1.1)',
  },
  ERR_UNAUTHENTICATED: {
    status: 401,
    message: 'a valid bearer token is required',
    when: 'no token, bad signature, wrong algorithm, no `exp`, garbage',
  },
  ERR_TOKEN_EXPIRED: { status: 401, message: 'the bearer token has expired', when: "the token's `exp` has passed" },
  ERR_FORBIDDEN: {
    status: 403,
    message: 'this token may not use this endpoint',
    when: 'an operator token on an admin endpoint',
  },
  ERR_SOURCE_NOT_ALLOWED: {
    status: 403,
    message: 'requests from this address are not allowed',
    when: 'the source address is outside `API_ALLOWED_CIDRS`',
  },
  ERR_NOT_FOUND: { status: 404, message: 'no such resource', when: 'no such endpoint' },
  ERR_SIP_USER_NOT_FOUND: { status: 404, message: 'no such SIP user', when: 'no SIP user with that id' },
  ERR_SIP_USER_EXISTS: {
    status: 409,
    message: 'a SIP user with this username already exists',
    when: 'username taken (single create: `fields`; bulk: `errors`)',
  },
  ERR_TRUNK_NOT_FOUND: { status: 404, message: 'no such trunk', when: 'no trunk with that trunk_id' },
  ERR_TRUNK_EXISTS: { status: 409, message: 'a trunk with this trunk_id already exists', when: 'trunk_id taken' },
  ERR_NUMBER_NOT_FOUND: { status: 404, message: 'no such number', when: 'no such number (DID)' },
  ERR_NUMBER_EXISTS: { status: 409, message: 'this number already exists', when: 'the number exists already' },
  ERR_NUMBER_NOT_BLOCKED: {
    status: 404,
    message: 'this number is not blocked',
    when: 'unblocking a number that is not blocked',
  },
  ERR_CALL_NOT_FOUND: { status: 404, message: 'no such call', when: 'no call with that call_id' },
  // Hold and resume (POST /api/calls/{call_id}/hold | /resume).
  ERR_CALL_ON_HOLD: {
    status: 409,
    message: 'the call is on hold already',
    when: 'hold of a call already on hold (by the gateway or by the caller), or while a resume is under way',
  },
  ERR_CALL_NOT_ON_HOLD: {
    status: 409,
    message: 'the call is not on hold by the gateway',
    when: 'resume of a call the gateway does not hold (not on hold, held by the caller itself, or a hold under way)',
  },
  ERR_CALL_HOLD_FAILED: {
    status: 409,
    message: 'the caller refused the re-INVITE',
    when: "the caller's side refused the hold or resume re-INVITE (`sip_status` says how); the call stays as it was",
  },
  ERR_DIALOG_NOT_FOUND: {
    status: 404,
    message: 'no such dialog in Kamailio',
    when: 'Kamailio has no dialog with that dialog_id (any more)',
  },
  // Call control (issue 14): commands to live calls and outbound calls.
  ERR_CALL_NOT_ACTIVE: {
    status: 409,
    message: 'the call is not active',
    when: 'a hangup, transfer, hold or resume of a call that has ended (or is not up on its gateway)',
  },
  ERR_CALL_GATEWAY_LOST: {
    status: 410,
    message: 'the gateway that owns the call is gone',
    when: "the call's gateway stopped without ending it (its lease expired or its command connection left PostgreSQL); the call is closed by the lost-gateway sweep",
  },
  ERR_CALL_COMMAND_TIMEOUT: {
    status: 504,
    message: 'the gateway did not carry out the command in time',
    when: 'the owning gateway did not complete the command within `CALL_COMMAND_TIMEOUT_MS`',
  },
  // Listen-only forks (docs/listen-forks.md).
  ERR_LISTEN_FORK_NOT_FOUND: { status: 404, message: 'no such listen-only fork rule', when: 'no rule with that id' },
  ERR_LISTEN_FORK_EXISTS: {
    status: 409,
    message: 'a listen-only fork rule for this scope and value already exists',
    when: 'another rule has the same scope and value',
  },
  ERR_LISTEN_FORK_FAILED: {
    status: 502,
    message: 'the listen-only fork could not be set up',
    when: 'the media relay refused the subscription (a fork command result; the call itself is untouched)',
  },
  ERR_CALL_COMMAND_UNSUPPORTED: {
    status: 409,
    message: 'the gateway cannot carry out this command',
    when: 'the gateway that owns the call has no handler for the command (a gateway of an older version)',
  },
  ERR_CALL_COMMAND_FAILED: {
    status: 502,
    message: 'the gateway could not carry out the command',
    when: 'the gateway failed the command for a reason of its own; its log has the cause',
  },
  ERR_CALL_TRANSFER_FAILED: {
    status: 409,
    message: 'the transfer failed',
    when: 'the transfer target refused or did not answer; `sip_status` is its final SIP status',
  },
  // Transfers (issue 14): refusals by the gateway that owns the call.
  ERR_TRANSFER_TARGET_INVALID: {
    status: 400,
    message: 'the transfer target is not one we can transfer to',
    when: 'the `target` of a transfer is neither an E.164 number nor a user name (nor a SIP URI of our `SIP_DOMAIN` naming one)',
  },
  ERR_TRANSFER_IN_PROGRESS: {
    status: 409,
    message: 'a transfer of this call is already under way',
    when: 'a transfer was asked for while another one of the same call is still ringing, consulting or waiting for its outcome',
  },
  ERR_TRANSFER_NOT_PENDING: {
    status: 409,
    message: 'no transfer is waiting for this action',
    when: '`action: complete` without a warm transfer whose target answered, or `action: cancel` without a transfer ringing or consulting',
  },
  ERR_TRANSFER_UNAVAILABLE: {
    status: 409,
    message: 'this transfer is not available on the gateway',
    when: 'a bridged or warm transfer on a gateway that cannot place calls',
  },
  ERR_CALLER_ID_NOT_ALLOWED: {
    status: 400,
    message: 'from_number may not be used as the caller ID',
    when: "`from_number` of POST /api/calls/initiate is neither one of this system's numbers nor the `from_user`'s own username",
  },
  ERR_SMS_NOT_FOUND: { status: 404, message: 'no such message', when: 'no message with that message_id' },
  ERR_SMS_FROM_NOT_OURS: {
    status: 400,
    message: "from_number must be one of this system's numbers",
    when: "`from_number` is not one of this system's numbers",
  },
  ERR_NUMBER_BLOCKED: { status: 403, message: 'this number is blocked', when: 'an SMS to a blocked `to_number`' },
  ERR_WEBHOOK_URL_INVALID: {
    status: 400,
    message: 'webhook_url cannot be used',
    when: '`webhook_url` is not an absolute http(s) URL of at most 2048 characters without credentials, or names a loopback, private or link-local address literally (or `localhost`) while `WEBHOOK_ALLOW_PRIVATE_ADDRESSES` is false; `reason` says which',
  },
  ERR_IDEMPOTENCY_KEY_REUSED: {
    status: 409,
    message: 'this idempotency key was used for a different request',
    when: 'an idempotency key already used with another body',
  },
  ERR_RECORDING_NOT_AVAILABLE: {
    status: 404,
    message: 'this call has no recording to download',
    when: 'the call has no recording to download; `reason` says why (`not_recorded`, `in_progress`, `file_missing`)',
  },
  // AI routes, IVR menus and prompts, queues (docs/ivr-and-queues-api.md).
  ERR_AI_ROUTE_NOT_FOUND: { status: 404, message: 'no such AI route', when: 'no AI route with that name' },
  ERR_AI_ROUTE_EXISTS: { status: 409, message: 'an AI route with this name already exists', when: 'name taken' },
  ERR_AI_ROUTE_IN_USE: {
    status: 409,
    message: 'the AI route is still in use',
    when: 'deleting an AI route a menu, a queue action or a queue agent still names; `used_by` lists them',
  },
  ERR_AI_URL_INVALID: {
    status: 400,
    message: 'agent_url cannot be used',
    when: '`agent_url` is not a ws:// or wss:// URL of at most 1024 characters without credentials, or names a loopback, private or link-local address literally (or `localhost`) while `AI_ROUTE_ALLOW_PRIVATE_ADDRESSES` is false; `reason` says which',
  },
  ERR_IVR_MENU_NOT_FOUND: { status: 404, message: 'no such IVR menu', when: 'no menu with that name' },
  ERR_IVR_MENU_EXISTS: { status: 409, message: 'an IVR menu with this name already exists', when: 'name taken' },
  ERR_IVR_MENU_IN_USE: {
    status: 409,
    message: 'the IVR menu is still in use',
    when: 'deleting a menu a number, a queue action or another menu still names; `used_by` lists them',
  },
  ERR_IVR_TARGET_NOT_FOUND: {
    status: 400,
    message: 'an action names something that does not exist',
    when: "a menu, queue action, queue agent, AI route or number names an AI route, queue, menu, SIP user, prompt or AI number that does not exist; `target` names it (e.g. `queue 'sales'`) and `field` says where",
  },
  ERR_IVR_CYCLE: {
    status: 400,
    message: 'menus loop without a key press',
    when: 'menus lead back to themselves through timeout, invalid-input or retries-exhausted actions only (a caller who presses nothing would loop for ever); `cycle` lists the menus',
  },
  ERR_IVR_PROMPT_NOT_FOUND: { status: 404, message: 'no such IVR prompt', when: 'no uploaded prompt with that name' },
  ERR_IVR_PROMPT_INVALID: {
    status: 400,
    message: 'the prompt is not a usable WAV file',
    when: 'the uploaded body is not a RIFF/WAVE file of 16-bit PCM, A-law or μ-law, or holds no audio; `reason` says why',
  },
  ERR_IVR_PROMPT_IN_USE: {
    status: 409,
    message: 'the prompt is still in use',
    when: 'deleting a prompt a menu still plays; `used_by` lists the menus',
  },
  ERR_QUEUE_NOT_FOUND: { status: 404, message: 'no such queue', when: 'no queue with that name' },
  ERR_QUEUE_EXISTS: { status: 409, message: 'a queue with this name already exists', when: 'name taken' },
  ERR_QUEUE_IN_USE: {
    status: 409,
    message: 'the queue is still in use',
    when: 'deleting a queue a number, an AI route, a menu or another queue names, or with callers in it; `used_by` lists them',
  },
  ERR_QUEUE_AGENT_NOT_FOUND: {
    status: 404,
    message: 'no such queue agent',
    when: 'no agent with that id in the queue',
  },
  ERR_QUEUE_AGENT_EXISTS: {
    status: 409,
    message: 'this agent is in the queue already',
    when: 'the SIP user or AI route is an agent of the queue already',
  },
  ERR_QUEUE_VIP_NOT_FOUND: {
    status: 404,
    message: 'no such VIP number in the queue',
    when: "the number is not on the queue's VIP list",
  },
  ERR_QUEUE_ENTRY_NOT_FOUND: {
    status: 404,
    message: 'no such caller in the queue',
    when: 'no live entry with that id in the queue (it never existed, or the caller has left)',
  },
  ERR_QUEUE_ENTRY_NOT_WAITING: {
    status: 409,
    message: 'the caller is not waiting',
    when: 'an operator move of a caller already offered to an agent or connected; `state` says which',
  },
  ERR_REQUEST_TIMEOUT: {
    status: 408,
    message: 'the request did not arrive in time',
    when: "the request did not arrive within the server's request timeout",
  },
  ERR_PAYLOAD_TOO_LARGE: {
    status: 413,
    message: 'request body is too large',
    when: 'body over 2 MiB (a prompt upload: over 10 MiB)',
  },
  ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request headers are too large', when: 'request headers over 16 KiB' },
  ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'request body must be application/json',
    when: 'body is not `application/json` (`audio/wav` for a prompt upload)',
  },
  ERR_RATE_LIMITED: { status: 429, message: 'too many requests', when: 'over a rate limit; see `Retry-After`' },
  ERR_KAMAILIO_UNAVAILABLE: {
    status: 503,
    message: 'Kamailio did not answer',
    when: 'Kamailio did not answer and the request needs it (unlock)',
  },
  ERR_KAMAILIO_BAD_REPLY: {
    status: 502,
    message: 'Kamailio answered with something unexpected',
    when: 'Kamailio answered something unexpected',
  },
  ERR_DATABASE_UNAVAILABLE: { status: 503, message: 'the database did not answer', when: 'PostgreSQL did not answer' },
  ERR_INTERNAL: { status: 500, message: 'internal error', when: 'a bug; the log has the cause' },
} as const satisfies Record<string, { status: number; message: string; when: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** An error the HTTP API answers with, `{"error": {"code", "message", ...details}}`. */
export class AppError extends CodedError<ErrorCode> {
  readonly status: number;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(code, message ?? ERRORS[code].message, details);
    this.status = ERRORS[code].status;
  }

  toJSON(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...(this.details ?? {}) } };
  }
}
