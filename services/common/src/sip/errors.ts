/**
 * Failures of the SIP layer. Each carries a stable `code` so the gateway maps them
 * without matching on messages; protocol failures keep their SIP status.
 */
export const SIP_ERRORS = {
  ERR_SIP_PARSE: 'message is not valid SIP',
  ERR_SIP_FRAMING: 'stream framing is broken',
  ERR_SIP_TRANSPORT: 'transport failed',
  ERR_SIP_TIMEOUT: 'no final response before the transaction timed out',
  ERR_SIP_CALL_GONE: 'the call ended before it could be answered',
  ERR_SIP_INVALID_STATE: 'not allowed in the current state',
  ERR_SIP_UA_CLOSED: 'the user agent is closed',
} as const;

export type SipErrorCode = keyof typeof SIP_ERRORS;

export class SipError extends Error {
  readonly code: SipErrorCode;
  /** The SIP status a peer sent (or that we should send) when one applies. */
  readonly status: number | undefined;

  constructor(code: SipErrorCode, message?: string, status?: number) {
    super(message ?? SIP_ERRORS[code]);
    this.name = 'SipError';
    this.code = code;
    this.status = status;
  }
}

/** A message that cannot be read; `status` is what a request deserves (400 unless said otherwise). */
export class SipParseError extends SipError {
  constructor(message: string, status = 400) {
    super('ERR_SIP_PARSE', message, status);
    this.name = 'SipParseError';
  }
}
