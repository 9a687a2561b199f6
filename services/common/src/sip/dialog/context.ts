import type { SipLogger } from '../logger';
import type { ServerInviteTransaction } from '../transaction/server-invite';
import type { TransactionLayer } from '../transaction/layer';
import type { TimerValues } from '../transaction/timers';
import type { HostResolver } from '../transport/resolve';
import type { TransportProtocol } from '../transport/transport';

/** Methods we accept (answered in Allow, §20.5). */
export const ALLOWED_METHODS = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'NOTIFY'] as const;
/** Bodies we accept (Accept, §20.1): SDP, INFO DTMF, and sipfrag in NOTIFYs for our REFERs. */
export const ACCEPTED_TYPES = [
  'application/sdp',
  'application/dtmf-relay',
  'application/dtmf',
  'message/sipfrag',
] as const;

/** What the UA core lends its calls and dialogs: sending, identity, timers, bookkeeping. */
export interface UaContext {
  readonly layer: TransactionLayer;
  readonly timers: TimerValues;
  readonly logger: SipLogger;
  readonly resolver: HostResolver;
  /** Our host as written in Contact and Via (and the default From host of our calls). */
  readonly host: string;
  /** The Server / User-Agent header value. */
  readonly userAgent: string;
  /** How long a REFER waits for the NOTIFY with its final outcome. */
  readonly referTimeoutMs: number;
  /** Our Contact header value for a dialog over this transport. */
  contact(protocol: TransportProtocol): string;
  /** A Via value for a request we send over this transport, with this branch. */
  via(protocol: TransportProtocol, branch: string): string;
  /** Lets CANCEL find who owns an INVITE transaction until it is answered (§9.2). */
  trackInvite(txn: ServerInviteTransaction, localTag: string, onCancel: () => void): void;
  /** A dialog's identity became known (first 1xx/2xx with our tag). */
  dialogCreated(dialog: DialogHandle): void;
  /** A dialog is gone: forget it. */
  dialogReleased(dialog: DialogHandle): void;
}

/** What the UA core needs to know about a dialog to route to it. */
export interface DialogHandle {
  readonly key: string;
}

/** Dialog ID (§12): Call-ID, local tag, remote tag. */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}
