/**
 * The names Kamailio's configuration and the TypeScript services share: dispatcher
 * sets, the address group, htables, dialog profiles, the usrloc table and the headers
 * Kamailio adds for the gateway and the SMS endpoints. They are defined here only:
 * scripts/stack/kamailio.ts renders each into the config where the templates in
 * kamailio/ say `{{<constant name>}}` (kamailio/README.md), and the services import
 * them from here.
 */

/** Dispatcher set of the outbound trunks (attrs `trunk=<id>;maxcalls=<n>;cps=<n>`). */
export const DISPATCHER_SET_TRUNKS = 1;
/** Dispatcher set Kamailio sends AI, queue and IVR calls to: the media gateways. */
export const GATEWAY_SET = 2;
/** Dispatcher set Kamailio sends MESSAGEs to: the control-plane's SMS endpoints. */
export const SMS_SET = 3;
/** permissions address group of the trunks' source IPs and CIDRs (tag = trunk_id). */
export const ADDRESS_GROUP_TRUNKS = 1;

/** Failed attempts per account and source, key `<user>@<source>`. */
export const HTABLE_AUTH_FAILURES = 'authfail';
/** One source locked out of one account, key `<user>@<source>`, value the unix time. */
export const HTABLE_PAIR_LOCKS = 'pairlock';
/** Account-wide locks (distributed attacks), key username, value the unix time. */
export const HTABLE_LOCKOUT = 'lockout';
/** Sources an account recently logged in from (trusted), key `<user>@<source>`, value the unix time. */
export const HTABLE_TRUSTED_SOURCES = 'goodsrc';
/** Distinct sources failing per account in the window, key username. */
export const HTABLE_ACCOUNT_SOURCES = 'acctsrc';
/** Failed or refused attempts per source in the window, key source address. */
export const HTABLE_SOURCE_FAILURES = 'srcfail';
/** Distinct accounts failed on per source in the window, key source address. */
export const HTABLE_SOURCE_ACCOUNTS = 'srcacct';
/** Banned sources (dropped unanswered), key source address, value `<reason>:<unix time>`. */
export const HTABLE_BANS = 'ipban';
/** Our numbers, key E.164 digits without '+', value `<route_type>|<target>` (db view did_htable). */
export const HTABLE_DID = 'did';
/** Blocked numbers, key E.164 digits, value 1 (db view blocked_htable). */
export const HTABLE_BLOCKED = 'blocked';
/** Calls and messages refused per blocked number, key E.164 digits. */
export const HTABLE_BLOCK_HITS = 'blockhits';
/** Trunk credentials for uac_auth, keys `<trunk_id>:user|pass|realm` (db view trunk_auth_htable). */
export const HTABLE_TRUNK_AUTH = 'trunk_auth';
/** Calls per second per trunk, key `<trunk_id>:<unix time>` (Kamailio's alone). */
export const HTABLE_TRUNK_CPS = 'trunkcps';

/** Dialog profile of the calling user (value username): the per-user call limit. */
export const DIALOG_PROFILE_CALLER = 'caller';
/** Dialog profile of the called user (value username). */
export const DIALOG_PROFILE_CALLEE = 'callee';
/** Dialog profile of the trunk a call goes through, inbound or outbound (value trunk_id). */
export const DIALOG_PROFILE_TRUNK = 'trunk';

/** usrloc table of the registered contacts, keyed by bare username. */
export const USRLOC_TABLE = 'location';

/** Every header Kamailio adds for our own receivers starts so; none from outside passes. */
export const BRIDGE_HEADER_PREFIX = 'X-Bridge-';
/** Kamailio's proof that a request came through it (services/common/src/sip/proxy-proof.ts). */
export const HEADER_BRIDGE_PROOF = 'X-Bridge-Proof';
/** Who sent a MESSAGE to the SMS endpoint: `trunk;trunk=<id>` or `user;user=<name>`. */
export const HEADER_BRIDGE_SOURCE = 'X-Bridge-Source';
/** Where a MESSAGE goes: the number's DID route `<route_type>|<target>`, or `out`. */
export const HEADER_BRIDGE_ROUTE = 'X-Bridge-Route';
/** The number (E.164 digits) a MESSAGE was sent to, when it is ours. */
export const HEADER_BRIDGE_DID = 'X-Bridge-Did';
/** From an SMS endpoint: the trunk to send a MESSAGE out through. */
export const HEADER_BRIDGE_TRUNK = 'X-Bridge-Trunk';
/** From an SMS endpoint: `user` (to a registered user) or `trunk` (out). */
export const HEADER_BRIDGE_DELIVER = 'X-Bridge-Deliver';
/** How a media gateway handles a call: the number's DID route, e.g. `ai|15557770001`. */
export const HEADER_ROUTE = 'X-Route';

/**
 * Every shared name by its constant's name: the renderer's values for the
 * `{{<name>}}` placeholders of kamailio/*.cfg.
 */
export const KAMAILIO_NAMES: Readonly<Record<string, string | number>> = Object.freeze({
  DISPATCHER_SET_TRUNKS,
  GATEWAY_SET,
  SMS_SET,
  ADDRESS_GROUP_TRUNKS,
  HTABLE_AUTH_FAILURES,
  HTABLE_PAIR_LOCKS,
  HTABLE_LOCKOUT,
  HTABLE_TRUSTED_SOURCES,
  HTABLE_ACCOUNT_SOURCES,
  HTABLE_SOURCE_FAILURES,
  HTABLE_SOURCE_ACCOUNTS,
  HTABLE_BANS,
  HTABLE_DID,
  HTABLE_BLOCKED,
  HTABLE_BLOCK_HITS,
  HTABLE_TRUNK_AUTH,
  HTABLE_TRUNK_CPS,
  DIALOG_PROFILE_CALLER,
  DIALOG_PROFILE_CALLEE,
  DIALOG_PROFILE_TRUNK,
  USRLOC_TABLE,
  BRIDGE_HEADER_PREFIX,
  HEADER_BRIDGE_PROOF,
  HEADER_BRIDGE_SOURCE,
  HEADER_BRIDGE_ROUTE,
  HEADER_BRIDGE_DID,
  HEADER_BRIDGE_TRUNK,
  HEADER_BRIDGE_DELIVER,
  HEADER_ROUTE,
});
