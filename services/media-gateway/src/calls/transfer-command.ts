import Ajv, { type JSONSchemaType } from 'ajv';
import { TRANSFER_MODES, type TransferMode } from '../../../common/src/ai-protocol/wire/olib';
import type { CommandHandler } from '../../../common/src/calls/commands';
import { TransferError, type TransferResult } from './transfer';

/**
 * The `transfer` command's arguments (POST /api/calls/{id}/transfer, contract §3):
 * start a transfer (`mode` defaults to `auto`: REFER, bridged when refused), or act on
 * a warm one (`action: complete | cancel`).
 */
export interface TransferCommandArgs {
  readonly action?: 'start' | 'complete' | 'cancel';
  readonly mode?: TransferMode;
  readonly target?: string;
  readonly announce?: string;
  readonly wait_for_outcome?: boolean;
}

const SCHEMA: JSONSchemaType<TransferCommandArgs> = {
  type: 'object',
  properties: {
    action: { type: 'string', nullable: true, enum: ['start', 'complete', 'cancel'] },
    mode: { type: 'string', nullable: true, enum: [...TRANSFER_MODES] },
    target: { type: 'string', nullable: true, minLength: 1, maxLength: 256 },
    announce: { type: 'string', nullable: true, maxLength: 2000 },
    wait_for_outcome: { type: 'boolean', nullable: true },
  },
};
const validate = new Ajv({ allErrors: false }).compile(SCHEMA);

/** What the handler needs of a live call on this gateway. */
export interface TransferableCall {
  transfer(req: {
    mode: TransferMode;
    target: string;
    announce?: string;
    waitForOutcome?: boolean;
    requestedBy: 'api';
  }): Promise<TransferResult>;
  transferControl(action: 'complete' | 'cancel'): Promise<TransferResult>;
}

/**
 * The gateway's handler of `transfer` commands: finds the call among this gateway's,
 * checks the arguments (the control-plane validated the body; a row that fails here
 * was not written by it) and runs the transfer. Failures are {@link TransferError}s,
 * whose code and details (`sip_status`) become the command's result.
 */
export function transferCommand(
  findCall: (callId: string) => TransferableCall | undefined,
  log: { warn(m: string, meta?: object): unknown },
): CommandHandler {
  return async (cmd) => {
    const args: unknown = cmd.args;
    if (!validate(args)) {
      const e = validate.errors?.[0];
      const message = `transfer arguments rejected: ${e?.instancePath ?? ''} ${e?.message ?? ''}`.trim();
      log.warn(message, { call_id: cmd.callId });
      throw new TransferError('ERR_TRANSFER_TARGET_INVALID', message);
    }
    const call = findCall(cmd.callId);
    if (!call) throw new TransferError('ERR_CALL_NOT_ACTIVE', 'the call is not live on this gateway');
    const action = args.action ?? 'start';
    if (action !== 'start') return { ...(await call.transferControl(action)) };
    if (!args.target) throw new TransferError('ERR_TRANSFER_TARGET_INVALID', 'a transfer needs a target');
    const result = await call.transfer({
      mode: args.mode ?? 'auto',
      target: args.target,
      ...(args.announce ? { announce: args.announce } : {}),
      waitForOutcome: args.wait_for_outcome ?? false,
      requestedBy: 'api',
    });
    return { ...result };
  };
}
