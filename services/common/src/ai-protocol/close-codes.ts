/**
 * WebSocket close codes with a meaning here (RFC 6455 §7.4.1 for 1000–1015; the
 * 4000–4999 range is the application's). 4401/4403 mean "do not come back".
 */
export const CLOSE_CODES = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  ABNORMAL: 1006,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  AUTH_FAILED: 4401,
  FORBIDDEN: 4403,
} as const;
