import { OlibDialect } from './olib';
import { TwilioDialect, type UlawTranscoder } from './twilio';
import type { Dialect } from '../../../../common/src/ai-protocol/dialect';
import type { CallInfo, GatewayDialect } from './types';

export type { AiMessage, CallEvent, CallInfo, Decoded, GatewayDialect } from './types';
export { OlibDialect } from './olib';
export { TwilioDialect, BRIDGE_ACCOUNT_SID, type UlawTranscoder } from './twilio';

/** One dialect instance for one call. */
export function createDialect(name: Dialect, call: CallInfo, transcoder: () => UlawTranscoder): GatewayDialect {
  switch (name) {
    case 'olib':
      return new OlibDialect(call, { binaryAudio: false });
    case 'binary':
      return new OlibDialect(call, { binaryAudio: true });
    case 'twilio':
      return new TwilioDialect(call, transcoder());
  }
}
