import { CodedError } from '../../../common/src/errors';
import type { EndedBy } from '../calls/call';
import type { CommandRegistry } from './registry';

/** What the hangup command needs of a live call. */
export interface HangupTarget {
  readonly id: string;
  readonly state: string;
  end(reason: string, by: EndedBy): Promise<void>;
}

/**
 * `hangup {reason?}`: ends the AI call with this call_id on this gateway (BYE to the
 * caller, AI stream closed, end reason `api hangup: <reason>`, ended_by `api`).
 * ERR_CALL_NOT_ACTIVE when the gateway has no such live call (it ended meanwhile).
 */
export function registerHangup(registry: CommandRegistry, calls: () => Iterable<HangupTarget>): void {
  registry.registerCommand('hangup', async ({ callId, args }) => {
    let call: HangupTarget | undefined;
    for (const c of calls()) if (c.id === callId) call = c;
    if (!call || call.state === 'ended')
      throw new CodedError('ERR_CALL_NOT_ACTIVE', `call ${callId} is not active on this gateway`);
    const reason = typeof args['reason'] === 'string' && args['reason'] !== '' ? args['reason'] : 'requested';
    await call.end(`api hangup: ${reason}`, 'api');
    return { call_id: callId, ended: true };
  });
}
