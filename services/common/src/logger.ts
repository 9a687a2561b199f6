import winston from 'winston';

export type Logger = winston.Logger;

// Keys whose values never reach a log line, whatever the caller passes.
const SECRET_KEYS = /pass(word)?|secret|token|authorization|ha1|signature|cookie/i;

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEYS.test(key)) (info as Record<string, unknown>)[key] = '[redacted]';
  }
  return info;
});

/** The logger factory: one root logger per process, children per component. */
export function createLogger(service: string, level = 'info'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(redact(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}
