/**
 * The RTPProxy control protocol, text over UDP: `cookie COMMAND[modifiers] args`,
 * replies `cookie reply`. Commands as RTPProxy 3.x parses them (src/rtpp_command_parse.c):
 *
 *   U[opts] callid remote_ip remote_port from_tag [to_tag]   update/create (offer)
 *   L[opts] callid remote_ip remote_port from_tag to_tag     lookup (answer)
 *   D callid from_tag [to_tag]                               delete
 *   Q callid from_tag [to_tag]                               query
 *   I                                                        info
 *   V / VF <datestamp>                                       version / feature check
 *
 * Replies: `0` (done), `E<code>` (error), `port addr[ 6]` (U/L), numbers (V, VF, Q),
 * `key: value` lines (I). A U/L reply of port 0 means "no such session".
 */

/** Version of the basic protocol every RTPProxy answers `V` with (rtpp_command_ver.c). */
export const BASE_PROTOCOL_VERSION = '20040107';

/** What RTPProxy's `E<code>` replies mean (src/rtpp_command_ecodes.h). */
export function describeErrorCode(code: number): string {
  if (code === 0) return 'unknown command';
  if (code === 1) return 'wrong number of arguments';
  if (code === 2) return 'modifiers not supported by this command';
  if (code === 3) return 'sub-command not supported';
  if (code >= 5 && code <= 19) return 'command syntax error';
  if (code === 25 || code === 26) return 'reply too big';
  if (code >= 31 && code <= 37) return 'invalid argument';
  if (code === 50) return 'session not found';
  if (code === 60) return 'play failed';
  if (code === 62) return 'query failed';
  if (code === 65) return 'copy failed';
  if (code === 68) return 'stats failed';
  if (code === 71 || code === 72) return 'cannot create listener (port range exhausted?)';
  if (code >= 81 && code <= 89) return 'out of memory';
  if (code === 98) return 'overloaded';
  if (code === 99) return 'shutting down';
  return 'error';
}

export const SESSION_NOT_FOUND = 50;

export type Reply<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: number };

/** Splits off an `E<code>` reply; otherwise hands the trimmed text to `parse`. Returns undefined when `parse` does. */
export function parseReply<T>(text: string, parse: (body: string) => T | undefined): Reply<T> | undefined {
  const body = text.replace(/[\s\0]+$/, '');
  const error = /^E(\d+)$/.exec(body);
  if (error) return { ok: false, code: Number(error[1]) };
  const value = parse(body);
  return value === undefined ? undefined : { ok: true, value };
}

/** `0`: the command was carried out (D). */
export function parseDone(body: string): true | undefined {
  return body === '0' ? true : undefined;
}

export interface PortReply {
  /** 0 when the session does not exist (L on an unknown call). */
  readonly port: number;
  /** Absent in replies of old RTPProxy versions, which send the port alone. */
  readonly address?: string;
  readonly ipv6: boolean;
}

/** `port`, `port addr` or `port addr 6` (rtpc_reply_append_port_addr_s). */
export function parsePort(body: string): PortReply | undefined {
  const m = /^(\d{1,5})(?: (\S+)( 6)?)?$/.exec(body);
  if (!m) return undefined;
  const port = Number(m[1]);
  if (port > 65535) return undefined;
  return m[2] === undefined
    ? { port, ipv6: false }
    : { port, address: m[2], ipv6: m[3] !== undefined || m[2].includes(':') };
}

/** `V`: an 8-digit protocol datestamp. */
export function parseVersion(body: string): string | undefined {
  return /^\d{8}$/.test(body) ? body : undefined;
}

export interface QueryReply {
  readonly ttl: number;
  /** Packets received from the party named by the command's from tag. */
  readonly packetsFromCaller: number;
  /** Packets received from the other party. */
  readonly packetsFromCallee: number;
  readonly relayed: number;
  readonly dropped: number;
}

/** Plain `Q`: `ttl npkts_ina npkts_ino nrelayed ndropped` (commands/rpcpv1_query.c). */
export function parseQuery(body: string): QueryReply | undefined {
  const m = /^(-?\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(body);
  if (!m) return undefined;
  return {
    ttl: Number(m[1]),
    packetsFromCaller: Number(m[2]),
    packetsFromCallee: Number(m[3]),
    relayed: Number(m[4]),
    dropped: Number(m[5]),
  };
}

/** `I`: `key: value` lines, e.g. `active sessions: 1`. Numbers come back as numbers. */
export function parseInfo(body: string): Record<string, number | string> | undefined {
  const out: Record<string, number | string> = {};
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const value = m[2].trim();
    out[m[1].trim()] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Call-IDs and tags go into a space-separated command, so they may hold no whitespace (nor may SIP's, RFC 3261 §25.1 `word`/`token`). */
export function assertToken(name: string, value: string): void {
  if (value === '' || /\s/.test(value))
    throw new TypeError(`${name} must be non-empty and without whitespace, got ${JSON.stringify(value)}`);
}

/**
 * The tag of one media stream. Like Kamailio's rtpproxy module, each m= line is its
 * own RTPProxy session within the call, told apart by `;<n>` (1-based m= position)
 * after both tags; a D with bare tags removes every stream of the call.
 */
export function streamTag(tag: string, mediaNumber: number): string {
  return `${tag};${mediaNumber}`;
}

export interface UpdateArgs {
  readonly callId: string;
  readonly address: string;
  readonly port: number;
  readonly fromTag: string;
  readonly toTag?: string;
  readonly ipv6: boolean;
}

/** `U` (offer) or `L` (answer). The `6` modifier marks an IPv6 remote address. */
export function updateCommand(op: 'U' | 'L', args: UpdateArgs): string {
  assertToken('Call-ID', args.callId);
  assertToken('From tag', args.fromTag);
  if (args.toTag !== undefined) assertToken('To tag', args.toTag);
  if (op === 'L' && args.toTag === undefined) throw new TypeError('L needs the To tag');
  const head = `${op}${args.ipv6 ? '6' : ''} ${args.callId} ${args.address} ${args.port} ${args.fromTag}`;
  return args.toTag === undefined ? head : `${head} ${args.toTag}`;
}

export function deleteCommand(callId: string, fromTag: string, toTag?: string): string {
  assertToken('Call-ID', callId);
  assertToken('From tag', fromTag);
  if (toTag !== undefined) assertToken('To tag', toTag);
  return toTag === undefined ? `D ${callId} ${fromTag}` : `D ${callId} ${fromTag} ${toTag}`;
}

export function queryCommand(callId: string, fromTag: string, toTag?: string): string {
  assertToken('Call-ID', callId);
  assertToken('From tag', fromTag);
  if (toTag !== undefined) assertToken('To tag', toTag);
  return toTag === undefined ? `Q ${callId} ${fromTag}` : `Q ${callId} ${fromTag} ${toTag}`;
}
