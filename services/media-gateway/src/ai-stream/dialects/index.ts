import { OlibDialect } from './olib';
import { TwilioDialect, type UlawTranscoder } from './twilio';
import type { CallInfo, DialectName, GatewayDialect } from './types';

export type { AiMessage, CallEvent, CallInfo, Decoded, DialectName, GatewayDialect } from './types';
export { OlibDialect } from './olib';
export { TwilioDialect, BRIDGE_ACCOUNT_SID, type UlawTranscoder } from './twilio';

export const DIALECTS: readonly DialectName[] = ['olib', 'twilio', 'binary'];

/** One dialect instance for one call. */
export function createDialect(name: DialectName, call: CallInfo, transcoder: () => UlawTranscoder): GatewayDialect {
  switch (name) {
    case 'olib':
      return new OlibDialect(call, { binaryAudio: false });
    case 'binary':
      return new OlibDialect(call, { binaryAudio: true });
    case 'twilio':
      return new TwilioDialect(call, transcoder());
  }
}
