import type { KamailioRpc } from '../../../common/src/kamailio/rpc';
import { KamailioRpcError } from '../../../common/src/kamailio/rpc';

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
const STATES: Record<number, DialogView['state']> = {
  1: 'unconfirmed',
  2: 'early',
  3: 'answered_no_ack',
  4: 'confirmed',
  5: 'ended',
};

interface RawDialog {
  h_entry?: unknown;
  h_id?: unknown;
  'call-id'?: unknown;
  from_uri?: unknown;
  to_uri?: unknown;
  state?: unknown;
  start_ts?: unknown;
  timeout?: unknown;
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

/**
 * Kamailio's dialogs over JSON-RPC: `dlg.list` and `dlg.end_dlg` (which sends a BYE
 * to both parties and writes the CDR).
 */
export class KamailioDialogs {
  constructor(
    private readonly rpc: KamailioRpc,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  async list(): Promise<DialogView[]> {
    const reply = await this.rpc.call('dlg.list');
    if (!Array.isArray(reply)) return [];
    const now = this.nowSeconds();
    return reply.filter((d): d is RawDialog => !!d && typeof d === 'object').map((d) => dialogView(d, now));
  }

  /** Ends a dialog; false when Kamailio has no such dialog (any more). */
  async end(dialogId: string): Promise<boolean> {
    const m = DIALOG_ID.exec(dialogId);
    if (!m) return false;
    const [, entry, id] = m as unknown as [string, string, string];
    const known = (await this.list()).find((d) => d.dialog_id === dialogId);
    if (!known) return false;
    try {
      await this.rpc.call('dlg.end_dlg', Number(entry), Number(id));
      return true;
    } catch (err) {
      if (err instanceof KamailioRpcError && err.rpcCode === 404) return false;
      throw err;
    }
  }
}
