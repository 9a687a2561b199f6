import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { TrunkStatus, TrunkTransport } from '../../../common/src/db/schema';
import { ADDRESS_GROUP_TRUNKS, DISPATCHER_SET_TRUNKS, HTABLE_TRUNK_AUTH } from '../../../common/src/kamailio/names';

/**
 * What Kamailio reads of a trunk, as pure functions of the trunk row: one dispatcher
 * destination (outbound), address rows (inbound allowlist), one uacreg row
 * (registration) and three trunk_auth htable entries (uac_auth credentials). The
 * conventions are kamailio/trunks.cfg's (names from common/src/kamailio/names.ts):
 *
 *   dispatcher  setid DISPATCHER_SET_TRUNKS, description = trunk_id,
 *               attrs "trunk=<id>;weight=<w>;maxcalls=<n>;cps=<n>" (read with {param.value,…}),
 *               priority = 1001 - trunk priority (algorithm 8 prefers the highest value)
 *   address     grp ADDRESS_GROUP_TRUNKS, tag = trunk_id, one row per IP or CIDR
 *   uacreg      l_uuid = trunk_id
 *   trunk_auth  "<id>:user", "<id>:pass", "<id>:realm" (the view trunk_auth_htable)
 */

/** dispatcher flags of a trunk destination (0: resolve the host when the set loads). */
export const DISPATCHER_FLAGS = 0;
/** The API's priorities are 1..MAX_PRIORITY, lower first. */
export const MAX_PRIORITY = 1000;
/** Seconds a provider registration asks for. */
export const REGISTRATION_EXPIRES = 300;

/** The trunk fields Kamailio's rows depend on. */
export interface TrunkRouting {
  readonly trunk_id: string;
  readonly proxy_address: string;
  readonly proxy_port: number;
  readonly transport: TrunkTransport;
  readonly username: string | null;
  readonly password: string | null;
  readonly realm: string | null;
  readonly supports_inbound: boolean;
  readonly supports_outbound: boolean;
  readonly max_concurrent_calls: number;
  readonly calls_per_second_limit: number;
  /** null: derived from proxy_address. */
  readonly allowed_ips: readonly string[] | null;
  readonly priority: number;
  readonly weight: number;
  readonly requires_registration: boolean;
  readonly status: TrunkStatus;
}

export interface DispatcherRow {
  readonly setid: number;
  readonly destination: string;
  readonly flags: number;
  readonly priority: number;
  readonly attrs: string;
  readonly description: string;
}

export interface AddressRow {
  readonly grp: number;
  readonly ip_addr: string;
  readonly mask: number;
  readonly port: number;
  readonly tag: string;
}

export interface UacregRow {
  readonly l_uuid: string;
  readonly l_username: string;
  readonly l_domain: string;
  readonly r_username: string;
  readonly r_domain: string;
  readonly realm: string;
  readonly auth_username: string;
  readonly auth_password: string;
  readonly auth_proxy: string;
  readonly expires: number;
  readonly flags: number;
  readonly reg_delay: number;
}

export interface TrunkAuthEntry {
  readonly key: string;
  readonly value: string;
}

/** Everything Kamailio should hold for one trunk. */
export interface KamailioRows {
  readonly dispatcher: readonly DispatcherRow[];
  readonly address: readonly AddressRow[];
  readonly uacreg: readonly UacregRow[];
  readonly trunkAuth: readonly TrunkAuthEntry[];
}

export const NO_ROWS: KamailioRows = { dispatcher: [], address: [], uacreg: [], trunkAuth: [] };

// ----- addresses -----

export type ParsedAllowedIp =
  { readonly ok: true; readonly ip: string; readonly mask: number; readonly text: string } | { readonly ok: false };

/**
 * An allowlist entry: an IPv4 address (four decimal parts), an IPv6 address, or either
 * with a /prefix. CIDRs are brought to network form (10.1.2.3/8 → 10.0.0.0/8), which
 * is how Kamailio's permissions module compares them; a full-length prefix is shown
 * as the bare address.
 */
export function parseAllowedIp(entry: string): ParsedAllowedIp {
  const text = entry.trim();
  const [addressText, prefixText, extra] = text.split('/');
  if (addressText === undefined || extra !== undefined) return { ok: false };
  const v4 = ipaddr.IPv4.isValidFourPartDecimal(addressText);
  if (!v4 && !ipaddr.IPv6.isValid(addressText)) return { ok: false };
  const max = v4 ? 32 : 128;
  let mask = max;
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefixText)) return { ok: false };
    mask = Number(prefixText);
    if (mask > max) return { ok: false };
  }
  const address = ipaddr.parse(addressText);
  const network =
    mask === max
      ? address
      : v4
        ? ipaddr.IPv4.networkAddressFromCIDR(`${addressText}/${mask}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${addressText}/${mask}`);
  const ip = network.toString();
  return { ok: true, ip, mask, text: mask === max ? ip : `${ip}/${mask}` };
}

/** The allowlist in effect: the given one, else the proxy itself when it is an IP address. */
export function effectiveAllowedIps(trunk: Pick<TrunkRouting, 'allowed_ips' | 'proxy_address'>): string[] {
  if (trunk.allowed_ips !== null) return [...trunk.allowed_ips];
  const proxy = parseAllowedIp(trunk.proxy_address);
  return proxy.ok ? [proxy.text] : [];
}

// ----- URIs -----

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** A host name (RFC 1123 §2.1 labels) or an IPv4/IPv6 address; dotted numbers must be a real IPv4 address. */
export function isHostOrIp(value: string): boolean {
  if (isIP(value) !== 0) return true;
  if (value.length > 253 || !HOST_NAME.test(value)) return false;
  return !/^[0-9.]+$/.test(value);
}

/** A host as it appears in a SIP URI: IPv6 references in brackets (RFC 3261 §19.1.1, RFC 5118). */
export function sipHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/** `sip:<proxy>:<port>;transport=<udp|tcp|tls>`: where dispatcher sends the trunk's calls. */
export function dispatcherDestination(trunk: Pick<TrunkRouting, 'proxy_address' | 'proxy_port' | 'transport'>): string {
  return `sip:${sipHost(trunk.proxy_address)}:${trunk.proxy_port};transport=${trunk.transport.toLowerCase()}`;
}

/** `;`-separated key=value list, read in kamailio.cfg with `{param.value,<key>}`. */
export function dispatcherAttrs(
  trunk: Pick<TrunkRouting, 'trunk_id' | 'weight' | 'max_concurrent_calls' | 'calls_per_second_limit'>,
): string {
  return `trunk=${trunk.trunk_id};weight=${trunk.weight};maxcalls=${trunk.max_concurrent_calls};cps=${trunk.calls_per_second_limit}`;
}

/** Parses dispatcher attrs back (as dispatcher.list shows them). */
export function parseDispatcherAttrs(attrs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of attrs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Dispatcher algorithm 8 tries the highest `priority` first; the API's lowest first. */
export function dispatcherPriority(priority: number): number {
  return MAX_PRIORITY + 1 - priority;
}

/** Where REGISTER goes: UDP needs no parameter; TCP and TLS say so. */
export function registrarUri(trunk: Pick<TrunkRouting, 'proxy_address' | 'proxy_port' | 'transport'>): string {
  const base = `sip:${sipHost(trunk.proxy_address)}:${trunk.proxy_port}`;
  return trunk.transport === 'UDP' ? base : `${base};transport=${trunk.transport.toLowerCase()}`;
}

// ----- rows -----

export function kamailioRows(trunk: TrunkRouting): KamailioRows {
  const active = trunk.status === 'active';
  const hasCredentials = trunk.username !== null && trunk.password !== null;
  const dispatcher: DispatcherRow[] =
    active && trunk.supports_outbound
      ? [
          {
            setid: DISPATCHER_SET_TRUNKS,
            destination: dispatcherDestination(trunk),
            flags: DISPATCHER_FLAGS,
            priority: dispatcherPriority(trunk.priority),
            attrs: dispatcherAttrs(trunk),
            description: trunk.trunk_id,
          },
        ]
      : [];
  const address: AddressRow[] = [];
  if (active && trunk.supports_inbound) {
    for (const entry of effectiveAllowedIps(trunk)) {
      const parsed = parseAllowedIp(entry);
      if (parsed.ok)
        address.push({
          grp: ADDRESS_GROUP_TRUNKS,
          ip_addr: parsed.ip,
          mask: parsed.mask,
          port: 0,
          tag: trunk.trunk_id,
        });
    }
  }
  const uacreg: UacregRow[] =
    active && trunk.requires_registration && hasCredentials
      ? [
          {
            l_uuid: trunk.trunk_id,
            l_username: trunk.username,
            l_domain: trunk.realm ?? sipHost(trunk.proxy_address),
            r_username: trunk.username,
            r_domain: sipHost(trunk.proxy_address),
            // Empty: answer whatever realm the provider challenges with (uac_reg.c checks only a set realm).
            realm: trunk.realm ?? '',
            auth_username: trunk.username,
            auth_password: trunk.password,
            auth_proxy: registrarUri(trunk),
            expires: REGISTRATION_EXPIRES,
            flags: 0,
            reg_delay: 0,
          },
        ]
      : [];
  // Kept for inactive trunks too: their calls in progress may be challenged in-dialog.
  const trunkAuth: TrunkAuthEntry[] = hasCredentials
    ? [
        { key: `${trunk.trunk_id}:user`, value: trunk.username },
        { key: `${trunk.trunk_id}:pass`, value: trunk.password },
        { key: `${trunk.trunk_id}:realm`, value: trunk.realm ?? trunk.proxy_address },
      ]
    : [];
  return { dispatcher, address, uacreg, trunkAuth };
}

// ----- what to reload -----

/**
 * Kamailio RPCs that make it re-read what changed. uac registrations are refreshed
 * one record at a time: `uac.reg_reload` refuses to run twice within 150 s
 * (UAC_REG_GC_INTERVAL in uac_reg.c), `uac.reg_refresh <l_uuid>` does not.
 */
export type Reload =
  | { readonly kind: 'dispatcher' }
  | { readonly kind: 'address' }
  | { readonly kind: 'htable'; readonly table: string }
  | { readonly kind: 'registration'; readonly l_uuid: string };

function sameRows<T extends object>(a: readonly T[], b: readonly T[]): boolean {
  const key = (rows: readonly T[]): string =>
    rows
      .map((r) => JSON.stringify(r, Object.keys(r).sort()))
      .sort()
      .join('\n');
  return key(a) === key(b);
}

/** The reloads that turn Kamailio's view of a trunk from `before` into `after`. */
export function reloadsBetween(trunkId: string, before: KamailioRows, after: KamailioRows): Reload[] {
  const reloads: Reload[] = [];
  if (!sameRows(before.dispatcher, after.dispatcher)) reloads.push({ kind: 'dispatcher' });
  if (!sameRows(before.address, after.address)) reloads.push({ kind: 'address' });
  if (!sameRows(before.uacreg, after.uacreg)) reloads.push({ kind: 'registration', l_uuid: trunkId });
  if (!sameRows(before.trunkAuth, after.trunkAuth)) reloads.push({ kind: 'htable', table: HTABLE_TRUNK_AUTH });
  return reloads;
}

/** The RPC a reload is, for messages (never with parameters that could be secret). */
export function describeReload(reload: Reload): string {
  switch (reload.kind) {
    case 'dispatcher':
      return 'dispatcher.reload';
    case 'address':
      return 'permissions.addressReload';
    case 'htable':
      return `htable.reload ${reload.table}`;
    case 'registration':
      return `uac.reg_refresh ${reload.l_uuid}`;
  }
}
