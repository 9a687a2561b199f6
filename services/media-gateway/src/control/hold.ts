import { HoldError } from '../calls/hold';
import type { CommandRegistry } from './registry';

/** The calls the handlers act on: a live call by its call_id. */
export interface HeldCalls {
  get(callId: string):
    | {
        hold(requestedBy: 'api'): Promise<Record<string, unknown>>;
        resume(requestedBy: 'api'): Promise<Record<string, unknown>>;
      }
    | undefined;
}

/**
 * `hold {}` and `resume {}` from the API (POST /api/calls/{id}/hold | /resume): the
 * call on this gateway re-INVITEs its caller (calls/hold.ts). A call that is not (or
 * no longer) here fails with ERR_CALL_NOT_ACTIVE; the HoldError codes (409) and the
 * SIP status of a refused re-INVITE go back as the command's failure.
 */
export function registerHoldCommands(registry: Pick<CommandRegistry, 'registerCommand'>, calls: HeldCalls): void {
  for (const action of ['hold', 'resume'] as const) {
    registry.registerCommand(action, async ({ callId }) => {
      const call = calls.get(callId);
      if (!call) throw new HoldError('ERR_CALL_NOT_ACTIVE', `call ${callId} is not active on this gateway`);
      return action === 'hold' ? call.hold('api') : call.resume('api');
    });
  }
}
