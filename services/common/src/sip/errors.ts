import { CodedError } from '../errors';

/**
 * Failures of the SIP layer. Each carries a stable `code` so the gateway maps them
 * without matching on messages; protocol failures keep their SIP status. `status` here
 * is the one every failure of that code carries (a request that cannot be parsed
 * deserves 400, RFC 3261 §21.4.1); codes without one take it from the thrower, if any.
 */
export const SIP_ERRORS = {
  ERR_SIP_PARSE: { message: 'message is not valid SIP', status: 400 },
  ERR_SIP_FRAMING: { message: 'stream framing is broken' },
  ERR_SIP_TRANSPORT: { message: 'transport failed' },
  ERR_SIP_TIMEOUT: { message: 'no final response before the transaction timed out', status: 408 },
  ERR_SIP_CALL_GONE: { message: 'the call ended before it could be answered', status: 487 },
  ERR_SIP_INVALID_STATE: { message: 'not allowed in the current state' },
  ERR_SIP_UA_CLOSED: { message: 'the user agent is closed' },
} as const satisfies Record<string, { message: string; status?: number }>;

export type SipErrorCode = keyof typeof SIP_ERRORS;

export class SipError extends CodedError<SipErrorCode> {
  /** The SIP status a peer sent (or that we should send) when one applies. */
  readonly status: number | undefined;

  constructor(code: SipErrorCode, message?: string, status?: number) {
    const entry: { message: string; status?: number } = SIP_ERRORS[code];
    super(code, message ?? entry.message);
    this.status = status ?? entry.status;
  }
}

/** A message that cannot be read; `status` is what a request deserves (400 unless said otherwise). */
export class SipParseError extends SipError {
  constructor(message: string, status?: number) {
    super('ERR_SIP_PARSE', message, status);
  }
}
