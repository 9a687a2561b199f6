import type { KamailioRpc } from '../../../common/src/kamailio/rpc';
import { KamailioRpcError } from '../../../common/src/kamailio/rpc';
import { calleeBye } from './dialog-bye';

/** A call Kamailio tracks (dialog module), as the API shows it. */
export interface DialogView {
  /** `<h_entry>.<h_id>`: what DELETE /api/dialogs/{dialog_id} takes. */
  readonly dialog_id: string;
  readonly call_id: string;
  /** RFC 4235 style: early (before the answer), answered_no_ack (200 sent, no ACK seen through the proxy), confirmed, ended. */
  readonly state: 'unconfirmed' | 'early' | 'answered_no_ack' | 'confirmed' | 'ended';
  readonly from_uri: string;
  readonly to_uri: string;
  readonly caller: string | null;
  readonly callee: string | null;
  readonly trunk_id: string | null;
  readonly started_at: string | null;
  readonly duration_seconds: number;
  /** When Kamailio will end it if nothing else does (its lifetime). */
  readonly expires_at: string | null;
  /** What the CDR will say if the dialog ends now. */
  readonly end_reason: string | null;
}

// dialog module states (README.dialog §3).
const DLG_STATE_CONFIRMED_NA = 3;
const DLG_STATE_CONFIRMED = 4;
const DLG_STATE_DELETED = 5;
const STATES: Record<number, DialogView['state']> = {
  1: 'unconfirmed',
  2: 'early',
  3: 'answered_no_ack',
  4: 'confirmed',
  5: 'ended',
};

/** One party of a `dlg.list` entry: its tag, remote target, last CSeq it sent, route set and Kamailio's socket to it. */
export interface RawDialogLeg {
  tag?: unknown;
  contact?: unknown;
  cseq?: unknown;
  route_set?: unknown;
  socket?: unknown;
}

/** One entry of `dlg.list` (Kamailio 5.6, dialog.c `internal_rpc_print_dlg`), the fields we read. */
export interface RawDialog {
  h_entry?: unknown;
  h_id?: unknown;
  'call-id'?: unknown;
  from_uri?: unknown;
  to_uri?: unknown;
  state?: unknown;
  start_ts?: unknown;
  timeout?: unknown;
  iflags?: unknown;
  caller?: RawDialogLeg;
  callee?: RawDialogLeg;
  variables?: unknown;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function variables(raw: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(raw)) return out;
  for (const item of raw) {
    if (item && typeof item === 'object')
      for (const [k, v] of Object.entries(item as Record<string, unknown>)) if (typeof v === 'string') out.set(k, v);
  }
  return out;
}

/** Maps one entry of `dlg.list` (Kamailio 5.6) to the API's view. */
export function dialogView(raw: RawDialog, nowSeconds: number): DialogView {
  const vars = variables(raw.variables);
  const start = num(raw.start_ts);
  const timeout = num(raw.timeout);
  return {
    dialog_id: `${num(raw.h_entry)}.${num(raw.h_id)}`,
    call_id: text(raw['call-id']),
    state: STATES[num(raw.state)] ?? 'unconfirmed',
    from_uri: text(raw.from_uri),
    to_uri: text(raw.to_uri),
    caller: vars.get('src_user') || null,
    callee: vars.get('dst_user') || null,
    trunk_id: vars.get('trunk') || null,
    started_at: start > 0 ? new Date(start * 1000).toISOString() : null,
    duration_seconds: start > 0 ? Math.max(0, nowSeconds - start) : 0,
    expires_at: timeout > 0 ? new Date(timeout * 1000).toISOString() : null,
    end_reason: vars.get('end_reason') || null,
  };
}

const DIALOG_ID = /^(\d{1,10})\.(\d{1,10})$/;

/** What KamailioDialogs logs through (a winston logger is one). */
export interface DialogsLogger {
  warn(message: string, meta: Record<string, unknown>): void;
}

/**
 * Kamailio's dialogs over JSON-RPC: `dlg.list`, and `dlg.end_dlg` (which sends a BYE
 * to both parties and writes the CDR) after the callee's BYE of our own
 * ({@link calleeBye}: `dlg.end_dlg` alone may leave the callee without one).
 */
export class KamailioDialogs {
  constructor(
    private readonly rpc: KamailioRpc,
    private readonly logger: DialogsLogger,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  async list(): Promise<DialogView[]> {
    const now = this.nowSeconds();
    return (await this.raw()).map((d) => dialogView(d, now));
  }

  /** Ends a dialog; false when Kamailio has no such dialog (any more). */
  async end(dialogId: string): Promise<boolean> {
    const m = DIALOG_ID.exec(dialogId);
    if (!m) return false;
    const [, entry, id] = m as unknown as [string, string, string];
    const known = (await this.raw()).find((d) => `${num(d.h_entry)}.${num(d.h_id)}` === dialogId);
    if (!known || known.state === DLG_STATE_DELETED) return false;
    const bye = calleeBye(known);
    if (bye.ok) {
      const { method, requestUri, nextHop, socket, headers } = bye.request;
      // Sent (not answered) before the RPC returns, so it leaves before dlg.end_dlg's BYEs.
      await this.rpc.call('bridge.t_uac_send', method, requestUri, nextHop, socket, headers).catch((err: Error) => {
        if (!(err instanceof KamailioRpcError)) throw err;
        this.logger.warn("callee's BYE not sent; dlg.end_dlg alone may leave the callee in the call", {
          dialog_id: dialogId,
          err: err.message,
        });
      });
    } else if (known.state === DLG_STATE_CONFIRMED || known.state === DLG_STATE_CONFIRMED_NA) {
      this.logger.warn("callee's BYE not built; dlg.end_dlg alone may leave the callee in the call", {
        dialog_id: dialogId,
        reason: bye.reason,
      });
    }
    try {
      await this.rpc.call('dlg.end_dlg', Number(entry), Number(id));
      return true;
    } catch (err) {
      if (err instanceof KamailioRpcError && err.rpcCode === 404) return false;
      throw err;
    }
  }

  private async raw(): Promise<RawDialog[]> {
    const reply = await this.rpc.call('dlg.list');
    if (!Array.isArray(reply)) return [];
    return reply.filter((d): d is RawDialog => !!d && typeof d === 'object');
  }
}
