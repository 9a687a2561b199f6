/**
 * The AI WebSocket bridge: one {@link AiStream} per call, in the `olib`, `twilio` or
 * `binary` dialect (docs/ai-protocol.md). The wire contract itself (frames, close
 * codes, socket, auth) is common/src/ai-protocol.
 */
export {
  AiStream,
  type AiStreamEvents,
  type AiStreamOptions,
  type AiStreamStats,
  type AiSmsRequest,
  type StreamLogger,
} from './ai-stream';
export { AiStreamError, AI_STREAM_ERRORS, type AiStreamErrorCode } from './errors';
export { type CallEvent, type CallInfo } from './dialects';
export { type ReconnectPolicy } from './backoff';
export { type StreamState } from './state';
