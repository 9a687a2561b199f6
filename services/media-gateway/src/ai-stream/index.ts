/**
 * The AI WebSocket bridge: one {@link AiStream} per call, in the `olib`, `twilio` or
 * `binary` dialect (docs/ai-protocol.md).
 */
export {
  AiStream,
  type AiStreamEvents,
  type AiStreamOptions,
  type AiStreamStats,
  type AiSmsRequest,
  type StreamLogger,
} from './ai-stream';
export { AiStreamError, AI_STREAM_ERRORS, CLOSE_CODES, type AiStreamErrorCode } from './errors';
export { type CallEvent, type CallInfo, type DialectName, DIALECTS } from './dialects';
export { type WebSocketFactory, type WebSocketLike, type SocketOptions } from './socket';
export { type ReconnectPolicy } from './backoff';
export { type AuthSecrets } from '../../../common/src/ai-auth';
export { type StreamState } from './state';
