import { CatalogueError } from '../../../common/src/errors';

/**
 * Failures of the AI stream, each with a stable code. `start()` rejects with one of
 * these; the stream's 'error' event carries them; 'down' carries the reason string.
 */
export const AI_STREAM_ERRORS = {
  ERR_AI_CONNECT_FAILED: 'the AI platform could not be reached',
  ERR_AI_CONNECT_TIMEOUT: 'the AI platform did not accept the connection in time',
  ERR_AI_AUTH_REJECTED: "the AI platform rejected the gateway's credentials",
  ERR_AI_BAD_FRAME: 'the AI platform sent a frame that is not part of the protocol',
  ERR_AI_REMOTE_ERROR: 'the AI platform reported an error',
  ERR_AI_STREAM_CLOSED: 'the stream was closed',
} as const;

export type AiStreamErrorCode = keyof typeof AI_STREAM_ERRORS;

export class AiStreamError extends CatalogueError(AI_STREAM_ERRORS) {}
