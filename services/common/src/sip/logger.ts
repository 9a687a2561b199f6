import type { Logger } from '../logger';

/** The logger methods the SIP layer uses; the process's winston logger fits. */
export type SipLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

const noop = (): void => undefined;

/** Used when the owner passes no logger (unit tests, tools). */
export const SILENT_LOGGER: SipLogger = { debug: noop, info: noop, warn: noop, error: noop } as unknown as SipLogger;
