/**
 * `GET /api/calls/active`: the AI calls (table calls) and the calls Kamailio only
 * proxies (its dialogs) as one list. Pure: the rows, the dialogs and the time are
 * handed in.
 */
import type { Selectable } from 'kysely';
import type { CallsTable } from '../../../common/src/db/schema';
import type { DialogView } from '../kamailio/dialogs';
import { displayAiUrl } from './view';
import type { ActiveCallsQuery } from './schemas';

export type LiveCallRow = Pick<
  Selectable<CallsTable>,
  | 'call_id'
  | 'sip_call_id'
  | 'direction'
  | 'from_number'
  | 'to_number'
  | 'route'
  | 'ai_dialect'
  | 'ai_url'
  | 'codec'
  | 'state'
  | 'gateway'
  | 'started_at'
  | 'answered_at'
  | 'on_hold'
  | 'trunk_id'
  | 'recording_path'
>;

/** One live call as the list shows it. */
export interface ActiveCallView {
  /** AI calls: their call_id. Proxied calls: `kd-<h_entry>-<h_id>` (Kamailio's dialog), what hangup takes. */
  readonly call_id: string;
  /** `ai`: a media gateway is a party (the AI). `proxied`: two people, Kamailio only relays. */
  readonly kind: 'ai' | 'proxied';
  readonly sip_call_id: string;
  /** inbound: from a trunk (or, for AI calls, to the gateway); outbound: to a trunk; internal: user to user. */
  readonly direction: 'inbound' | 'outbound' | 'internal';
  readonly from_number: string;
  readonly to_number: string;
  readonly trunk_id: string | null;
  readonly state: 'initiated' | 'ringing' | 'active';
  /** null: not known (Kamailio does not track the hold state of calls it proxies). */
  readonly on_hold: boolean | null;
  readonly codec: string | null;
  readonly gateway: string | null;
  readonly ai: { readonly dialect: string | null; readonly url: string | null } | null;
  readonly recorded: boolean;
  readonly started_at: string | null;
  readonly answered_at: string | null;
  /** So far, from the start of the call (AI: its row; proxied: the dialog). */
  readonly duration_seconds: number;
}

export interface ActivePage {
  readonly items: ActiveCallView[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
  /** `unavailable`: Kamailio did not answer, the proxied calls are missing from this list. */
  readonly kamailio: 'ok' | 'unavailable';
}

const PROXIED_ID = /^kd-([0-9]{1,10})-([0-9]{1,10})$/;

/** `kd-<h_entry>-<h_id>` → Kamailio's `<h_entry>.<h_id>`, or null for any other id. */
export function proxiedDialogId(callId: string): string | null {
  const m = PROXIED_ID.exec(callId);
  return m ? `${m[1]}.${m[2]}` : null;
}

function seconds(ms: number): number {
  return Math.max(0, Math.round(ms)) / 1000;
}

function aiView(row: LiveCallRow, nowMs: number): ActiveCallView {
  return {
    call_id: row.call_id,
    kind: 'ai',
    sip_call_id: row.sip_call_id,
    direction: row.direction,
    from_number: row.from_number,
    to_number: row.to_number,
    trunk_id: row.trunk_id,
    state: row.state === 'ended' ? 'active' : row.state,
    on_hold: row.on_hold,
    codec: row.codec,
    gateway: row.gateway,
    ai: { dialect: row.ai_dialect, url: displayAiUrl(row.ai_url) },
    recorded: row.recording_path !== null,
    started_at: row.started_at.toISOString(),
    answered_at: row.answered_at ? row.answered_at.toISOString() : null,
    duration_seconds: seconds(nowMs - row.started_at.getTime()),
  };
}

/** The user part of a SIP URI (`sip:alice@example.com;tag` → alice), or the text itself. */
function uriUser(uri: string): string {
  const m = /^sips?:([^@;>]+)@/.exec(uri.replace(/^<|>$/g, ''));
  return m?.[1] ?? uri;
}

function proxiedView(d: DialogView, ourNumbers: ReadonlySet<string>, nowMs: number): ActiveCallView {
  const [entry, id] = d.dialog_id.split('.');
  const to = d.callee ?? uriUser(d.to_uri);
  const direction = d.trunk_id === null ? 'internal' : ourNumbers.has(to.replace(/^\+/, '')) ? 'inbound' : 'outbound';
  const started = d.started_at ? Date.parse(d.started_at) : null;
  return {
    call_id: `kd-${entry}-${id}`,
    kind: 'proxied',
    sip_call_id: d.call_id,
    direction,
    from_number: d.caller ?? uriUser(d.from_uri),
    to_number: to,
    trunk_id: d.trunk_id,
    state: d.state === 'confirmed' || d.state === 'answered_no_ack' ? 'active' : 'ringing',
    on_hold: null,
    codec: null,
    gateway: null,
    ai: null,
    recorded: false,
    started_at: d.started_at,
    answered_at: null,
    duration_seconds: started === null ? d.duration_seconds : seconds(nowMs - started),
  };
}

/** Digits of a party, for the from_number / to_number filters (with or without "+", a "+" read as a space). */
function partyKey(value: string): string {
  return value.trim().replace(/^\+/, '');
}

/**
 * AI calls first by start (newest first), with Kamailio's dialogs merged in by start;
 * a dialog whose SIP Call-ID is an AI call's is that call (the caller's leg through the
 * proxy) and is not listed twice. Ended dialogs (kept a moment for the CDR) are left out.
 */
export function activeCalls(input: {
  readonly rows: readonly LiveCallRow[];
  readonly dialogs: readonly DialogView[] | null;
  readonly ourNumbers: ReadonlySet<string>;
  readonly query: ActiveCallsQuery;
  readonly nowMs: number;
}): ActivePage {
  const { rows, dialogs, ourNumbers, query, nowMs } = input;
  const aiCallIds = new Set(rows.map((r) => r.sip_call_id).filter((id) => id !== ''));
  const all: ActiveCallView[] = [
    ...rows.map((r) => aiView(r, nowMs)),
    ...(dialogs ?? [])
      .filter((d) => d.state !== 'ended' && !aiCallIds.has(d.call_id))
      .map((d) => proxiedView(d, ourNumbers, nowMs)),
  ];
  const from = query.from_number === undefined ? null : partyKey(query.from_number);
  const to = query.to_number === undefined ? null : partyKey(query.to_number);
  const kept = all
    .filter((c) => (from === null || partyKey(c.from_number) === from) && (to === null || partyKey(c.to_number) === to))
    .map((c, i) => ({ c, i, at: c.started_at ? Date.parse(c.started_at) : 0 }))
    // Newest first; ties keep the order above (the database's, then Kamailio's).
    .sort((a, b) => b.at - a.at || a.i - b.i)
    .map((x) => x.c);
  const start = (query.page - 1) * query.per_page;
  return {
    items: kept.slice(start, start + query.per_page),
    total: kept.length,
    page: query.page,
    per_page: query.per_page,
    kamailio: dialogs === null ? 'unavailable' : 'ok',
  };
}
