import { parseNameAddr } from '../../../common/src/sip/message/name-addr';
import { splitHeaderList } from '../../../common/src/sip/message/headers';
import { formatUri, isLooseRouter, parseUri } from '../../../common/src/sip/message/uri';
import type { RawDialog, RawDialogLeg } from './dialogs';

/** A request for `bridge.t_uac_send` (kamailio/rpc.cfg: tm's `t_uac_send()`). */
export interface UacRequest {
  readonly method: 'BYE';
  readonly requestUri: string;
  /** Where tm sends it; empty: to the Request-URI. */
  readonly nextHop: string;
  /** Kamailio's socket towards the callee (`udp:127.0.0.1:5060`); empty: tm picks one. */
  readonly socket: string;
  /** Header lines, each ending in CRLF. */
  readonly headers: string;
}

export type CalleeBye =
  { readonly ok: true; readonly request: UacRequest } | { readonly ok: false; readonly reason: string };

// dialog module (dlg_hash.h): the states send_bye() accepts, and the PRACK flag.
const DLG_STATE_CONFIRMED_NA = 3;
const DLG_STATE_CONFIRMED = 4;
const DLG_IFLAG_PRACK = 1 << 5;
/** send_bye()'s "safety bump of cseq if prack was involved in call setup". */
const PRACK_CSEQ_BUMP = 80;
/** RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31. */
const MAX_CSEQ = 2 ** 31 - 1;
/** Kamailio's `enum sip_protos`, as set_contact_alias() writes it in `alias=ip~port~proto`. */
const ALIAS_PROTOS: Record<string, string> = { '1': 'udp', '2': 'tcp', '3': 'tls', '4': 'sctp', '5': 'ws', '6': 'wss' };
// RFC 3261 §25.1 token, for tags.
const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const NO_SPACE = /^[^\s<>"]+$/;

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const skip = (reason: string): CalleeBye => ({ ok: false, reason });

/**
 * The callee's BYE of one `dlg.list` entry (RFC 3261 §15.1.1, a request within the
 * dialog, §12.2.1.1), or why there is none: the dialog is not confirmed, or an entry
 * that cannot make a well-formed request.
 *
 * Why the control-plane sends it: `dlg.end_dlg` (dialog module, `dlg_bye_all`) sends
 * the caller's BYE, then the callee's. When another Kamailio process takes the
 * caller's 200 in between, the dialog is already DELETED and the second `send_bye()`
 * refuses ("terminating non-confirmed dialogs not supported", kamailio issues #4169,
 * #4268): the callee keeps the call. So the callee's BYE goes first, through tm, built
 * as the module's `build_dlg_t` would; `dlg.end_dlg` then BYEs the caller, writes the
 * CDR and frees the profiles, and its own BYE to the callee, if it is still sent,
 * finds no dialog there (481).
 */
export function calleeBye(dialog: RawDialog): CalleeBye {
  if (dialog.state !== DLG_STATE_CONFIRMED && dialog.state !== DLG_STATE_CONFIRMED_NA)
    return skip(`dialog state ${String(dialog.state)}: BYE only ends a confirmed dialog`);
  const callId = text(dialog['call-id']);
  const fromUri = text(dialog.from_uri);
  const toUri = text(dialog.to_uri);
  const caller = leg(dialog.caller);
  const callee = leg(dialog.callee);
  if (!/^[^\s]+$/.test(callId)) return skip('no Call-ID');
  if (!NO_SPACE.test(fromUri) || !NO_SPACE.test(toUri)) return skip('no From or To URI');
  if (!TOKEN.test(caller.tag) || !TOKEN.test(callee.tag)) return skip('no From or To tag');
  if (!/^[0-9]{1,10}$/.test(caller.cseq)) return skip(`caller CSeq "${caller.cseq}" is not a number`);

  // §12.2.1.1: "the CSeq number MUST be incremented by exactly one" over the caller's
  // last (the dialog keeps it as the caller leg's cseq; build_dlg_t uses the same).
  let cseq = Number(caller.cseq) + 1;
  if (typeof dialog.iflags === 'number' && dialog.iflags & DLG_IFLAG_PRACK) cseq += PRACK_CSEQ_BUMP;
  if (cseq > MAX_CSEQ) return skip(`CSeq ${cseq} out of range`);

  let target;
  try {
    target = route(callee);
  } catch (err) {
    return skip(`callee contact or route set unusable: ${(err as Error).message}`);
  }
  // tm's get_hfblock() replaces "!!" in the extra headers (Route) with its own address.
  if (target.routes.some((r) => r.includes('!!'))) return skip('route set holds "!!"');
  if (callee.socket && !NO_SPACE.test(callee.socket)) return skip('bad socket');

  const headers = [
    'Max-Forwards: 70',
    `From: <${fromUri}>;tag=${caller.tag}`,
    `To: <${toUri}>;tag=${callee.tag}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} BYE`,
    ...target.routes.map((r) => `Route: <${r}>`),
  ];
  return {
    ok: true,
    request: {
      method: 'BYE',
      requestUri: target.requestUri,
      nextHop: target.nextHop,
      socket: callee.socket,
      headers: headers.map((h) => `${h}\r\n`).join(''),
    },
  };
}

interface Leg {
  readonly tag: string;
  readonly contact: string;
  readonly cseq: string;
  readonly routeSet: string;
  readonly socket: string;
}

function leg(raw: RawDialogLeg | undefined): Leg {
  return {
    tag: text(raw?.tag),
    contact: text(raw?.contact),
    cseq: text(raw?.cseq),
    routeSet: text(raw?.route_set),
    socket: text(raw?.socket),
  };
}

/**
 * Request-URI, Route and next hop towards the callee (§12.2.1.1): the remote target and
 * the route set, a strict first router taking the Request-URI. With no route set, a
 * contact that set_contact_alias() marked (`;alias=ip~port~proto`) is sent to that
 * address without the parameter, as the dialog module's build_dlg_t does.
 */
function route(callee: Leg): { requestUri: string; routes: string[]; nextHop: string } {
  const contact = parseUri(callee.contact);
  // Kamailio keeps the route set as the Record-Route values, comma-separated, in order.
  const routeSet = callee.routeSet ? splitHeaderList(callee.routeSet).map((r) => parseNameAddr(r).uri) : [];
  const first = routeSet[0];
  if (first !== undefined) {
    const firstUri = parseUri(first);
    if (isLooseRouter(firstUri)) return { requestUri: callee.contact, routes: routeSet, nextHop: first };
    // Strict router: its URI, less what a Request-URI may not hold (§19.1.1 Table 1), is
    // the Request-URI, and the remote target goes last in Route.
    const requestUri = formatUri({
      ...firstUri,
      params: firstUri.params.filter(([n]) => n.toLowerCase() !== 'method'),
      headers: null,
    });
    return { requestUri, routes: [...routeSet.slice(1), callee.contact], nextHop: '' };
  }
  const alias = contact.params.find(([n]) => n.toLowerCase() === 'alias')?.[1];
  const m = alias ? /^(.+)~([0-9]{1,5})~([1-6])$/.exec(alias) : null;
  if (!m) return { requestUri: callee.contact, routes: [], nextHop: '' };
  const [, host, port, proto] = m as unknown as [string, string, string, string];
  const transport = proto === '1' ? '' : `;transport=${ALIAS_PROTOS[proto]}`;
  return {
    requestUri: formatUri({ ...contact, params: contact.params.filter(([n]) => n.toLowerCase() !== 'alias') }),
    routes: [],
    nextHop: `sip:${host}:${port}${transport}`,
  };
}
