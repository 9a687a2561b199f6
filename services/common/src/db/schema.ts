import type { ColumnType, Generated } from 'kysely';
import type { Dialect } from '../ai-protocol/dialect';

/** Kysely table types for the tables the TypeScript services read and write. */
export interface SubscriberTable {
  id: Generated<number>;
  username: string;
  domain: string;
  password: ColumnType<string, string | undefined, string>;
  ha1: string;
  ha1b: string;
  display_name: string | null;
  max_concurrent_calls: ColumnType<number, number | undefined, number>;
  enabled: ColumnType<number, number | undefined, number>;
  email: string | null;
  notes: string | null;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  password_changed_at: ColumnType<Date, Date | undefined, Date>;
}

export interface LocationTable {
  id: Generated<number>;
  ruid: string;
  username: string;
  domain: string | null;
  contact: string;
  received: string | null;
  expires: Date;
  user_agent: string;
  last_modified: Date;
}

export interface AccCdrsTable {
  id: Generated<number>;
  start_time: Date;
  end_time: Date;
  duration: number;
  callid: string;
  src_user: string;
  src_domain: string;
  src_ip: string;
  dst_user: string;
  dst_domain: string;
  /** Filled when kamailio.cfg lists it in cdr_extra (migration 0003); '' otherwise. */
  trunk_id: ColumnType<string, string | undefined, string>;
}

export interface AccTable {
  id: Generated<number>;
  method: string;
  from_tag: string;
  to_tag: string;
  callid: string;
  sip_code: string;
  sip_reason: string;
  time: Date;
  src_user: string;
  src_domain: string;
  src_ip: string;
  dst_user: string;
  dst_domain: string;
  /** Filled when kamailio.cfg lists it in db_extra (migration 0003); '' otherwise. */
  trunk_id: ColumnType<string, string | undefined, string>;
}

export type TrunkTransport = 'UDP' | 'TCP' | 'TLS';
export type TrunkStatus = 'active' | 'inactive';

/** A carrier trunk (db/migrations/0003). `password` is plain on purpose: uac needs it. */
export interface TrunksTable {
  id: Generated<number>;
  trunk_id: string;
  name: string;
  provider: string;
  proxy_address: string;
  proxy_port: number;
  transport: TrunkTransport;
  username: string | null;
  password: string | null;
  realm: string | null;
  supports_inbound: boolean;
  supports_outbound: boolean;
  preferred_codecs: string[];
  max_concurrent_calls: number;
  calls_per_second_limit: number;
  /** null: derived from proxy_address. */
  allowed_ips: string[] | null;
  priority: number;
  weight: number;
  requires_registration: boolean;
  status: TrunkStatus;
  /** MESSAGEs per second through this trunk; 0 = no limit. */
  sms_rate_limit: ColumnType<number, number | undefined, number>;
  /** One MESSAGE per 3GPP segment (X-SMS-Part) instead of the whole text. */
  sms_split_segments: ColumnType<boolean, boolean | undefined, boolean>;
  /** Cost estimates (db/migrations/0050). NUMERIC(12,6): read and written as decimal text. */
  rate_per_minute: ColumnType<string, string | undefined, string>;
  billing_increment_seconds: ColumnType<number, number | undefined, number>;
  minimum_billable_seconds: ColumnType<number, number | undefined, number>;
  /** ISO 4217 code. */
  currency: ColumnType<string, string | undefined, string>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type NumberRouteType = 'sip_user' | 'ai' | 'queue' | 'ivr' | 'forward';
/** What answers a forwarded call its target did not: nobody (the caller hears the failure) or the AI. */
export type ForwardFallback = 'none' | 'ai';

/** A DID owned by the system and where its calls go. */
export interface NumbersTable {
  id: Generated<number>;
  number: string;
  route_type: NumberRouteType;
  target: string | null;
  ai_dialect: Dialect | null;
  ai_agent_url: string | null;
  ai_options: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  /** forward: how long the target rings (5..120 s); null for other routes (0049_forwarding.sql). */
  forward_timeout_seconds: number | null;
  /** forward: what answers when the target does not; null for other routes. */
  forward_fallback: ForwardFallback | null;
  trunk_id: string | null;
  recording_enabled: boolean;
  enabled: boolean;
  description: string | null;
  /** Music on hold: a WAV file name under HOLD_MUSIC_DIR (db/migrations/0051_hold_music.sql); null: the default. */
  hold_music: ColumnType<string | null, string | null | undefined, string | null>;
  /** Calls this number takes at once (0053_ivr_queues.sql); null: no limit. */
  max_concurrent_calls: ColumnType<number | null, number | null | undefined, number | null>;
  /** Where callers over max_concurrent_calls wait; null: busy (486). */
  queue: ColumnType<string | null, string | null | undefined, string | null>;
  /** The priority this number's callers get in a queue (0..100). */
  queue_priority: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface BlockedNumbersTable {
  id: Generated<number>;
  number: string;
  reason: string | null;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** Kamailio dispatcher destinations (set 1 = trunks, written by the control-plane). */
export interface DispatcherTable {
  id: Generated<number>;
  setid: number;
  destination: string;
  flags: number;
  priority: number;
  attrs: string;
  description: string;
}

/** Kamailio permissions address allowlist (group 1 = trunk sources, tag = trunk_id). */
export interface AddressTable {
  id: Generated<number>;
  grp: number;
  ip_addr: string;
  mask: number;
  port: number;
  tag: string | null;
}

/** Kamailio uac registrations to providers (l_uuid = trunk_id). */
export interface UacregTable {
  id: Generated<number>;
  l_uuid: string;
  l_username: string;
  l_domain: string;
  r_username: string;
  r_domain: string;
  realm: string;
  auth_username: string;
  auth_password: string;
  auth_ha1: ColumnType<string, string | undefined, string>;
  auth_proxy: string;
  expires: number;
  flags: number;
  reg_delay: number;
  contact_addr: ColumnType<string, string | undefined, string>;
  socket: ColumnType<string, string | undefined, string>;
}

export interface CallsTable {
  id: Generated<number>;
  call_id: string;
  sip_call_id: string;
  direction: ColumnType<'inbound' | 'outbound', 'inbound' | 'outbound' | undefined, 'inbound' | 'outbound'>;
  from_number: string;
  to_number: string;
  route: string;
  ai_dialect: string | null;
  ai_url: string | null;
  codec: string | null;
  state: ColumnType<CallRowState, CallRowState | undefined, CallRowState>;
  /** NULL while an outbound call waits for a gateway to place it (db/migrations/0047). */
  gateway: string | null;
  started_at: ColumnType<Date, Date | undefined, never>;
  ended_at: Date | null;
  end_reason: string | null;
  ended_by: string | null;
  recording_path: string | null;
  recording_bytes: ColumnType<number | null, number | null | undefined, number | null>;
  stats: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  answered_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Final SIP status of an outbound call. */
  sip_status: ColumnType<number | null, number | null | undefined, number | null>;
  disposition: ColumnType<CallDisposition | null, CallDisposition | null | undefined, CallDisposition | null>;
  webhook_url: ColumnType<string | null, string | null | undefined, string | null>;
  on_hold: ColumnType<boolean, boolean | undefined, boolean>;
  trunk_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** initiated and ringing: an outbound call not answered yet (db/migrations/0047). */
export type CallRowState = 'initiated' | 'ringing' | 'active' | 'ended';
export type CallDisposition = 'answered' | 'busy' | 'no_answer' | 'failed' | 'cancelled';

export type CallCommandName = 'originate' | 'hangup' | 'transfer' | 'hold' | 'resume' | 'fork' | 'unfork';
export type CallCommandState = 'pending' | 'claimed' | 'done' | 'failed' | 'expired';

/** A command to a live call, from any control-plane replica to the owning gateway (db/migrations/0047). */
export interface CallCommandsTable {
  id: Generated<string>;
  call_id: string;
  /** The owner; NULL: any gateway may claim it. */
  gateway: string | null;
  command: CallCommandName;
  args: ColumnType<Record<string, unknown>, string | undefined, string>;
  state: ColumnType<CallCommandState, CallCommandState | undefined, CallCommandState>;
  result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: ColumnType<Date, Date | undefined, never>;
  claimed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  completed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  expires_at: ColumnType<Date, Date, Date>;
}

export type ListenForkScope = 'user' | 'number' | 'trunk';

/** A rule copying matching calls between people to a listen-only AI (db/migrations/0052). */
export interface ListenForksTable {
  id: Generated<string>;
  scope: ListenForkScope;
  value: string;
  ai_url: string | null;
  ai_dialect: ColumnType<Dialect, Dialect | undefined, Dialect>;
  custom_parameters: ColumnType<Record<string, string>, string | undefined, string>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** A named AI with an optional concurrency limit (db/migrations/0053_ivr_queues.sql). */
export interface AiRoutesTable {
  name: string;
  agent_url: string | null;
  dialect: ColumnType<Dialect, Dialect | undefined, Dialect>;
  options: ColumnType<Record<string, unknown>, string | undefined, string>;
  max_concurrent_calls: number | null;
  queue: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface IvrMenusTable {
  name: string;
  description: string | null;
  /** A MenuDefinition (common/src/ivr/menu.ts), checked by the API before it is stored. */
  definition: ColumnType<unknown, string, string>;
  version: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface IvrPromptsTable {
  name: string;
  audio: Buffer;
  sha256: string;
  duration_ms: number;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type QueueStrategy = 'ring_all' | 'round_robin' | 'least_recent';

export interface QueuesTable {
  name: string;
  description: string | null;
  strategy: ColumnType<QueueStrategy, QueueStrategy | undefined, QueueStrategy>;
  ring_timeout_seconds: ColumnType<number, number | undefined, number>;
  wrap_up_seconds: ColumnType<number, number | undefined, number>;
  max_wait_seconds: number | null;
  /** An overflow Action (common/src/ivr/menu.ts); null: busy. */
  max_wait_action: ColumnType<unknown, string | null | undefined, string | null>;
  max_length: number | null;
  max_length_action: ColumnType<unknown, string | null | undefined, string | null>;
  hold_music: string | null;
  announce_position: ColumnType<boolean, boolean | undefined, boolean>;
  announce_wait: ColumnType<boolean, boolean | undefined, boolean>;
  announce_interval_seconds: ColumnType<number, number | undefined, number>;
  leave_digit: string | null;
  leave_action: ColumnType<unknown, string | null | undefined, string | null>;
  service_level_seconds: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface QueueAgentsTable {
  id: Generated<number>;
  queue: string;
  kind: 'sip_user' | 'ai';
  username: string | null;
  ai_route: string | null;
  max_concurrent_calls: number | null;
  position: ColumnType<number, number | undefined, number>;
  paused: ColumnType<boolean, boolean | undefined, boolean>;
  last_offered_at: Date | null;
  last_ended_at: Date | null;
  calls_answered: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface QueueVipsTable {
  queue: string;
  number: string;
  priority: number;
}

export type QueueEntryState = 'waiting' | 'offered' | 'connected' | 'done';
export type QueueEntryOutcome = 'answered' | 'abandoned' | 'overflow' | 'left' | 'moved' | 'lost';
export type QueuePrioritySource = 'none' | 'number' | 'menu' | 'vip' | 'api';

export interface QueueEntriesTable {
  id: Generated<string>;
  queue: string;
  call_id: string;
  gateway: string;
  caller: string;
  called: string;
  priority: ColumnType<number, number | undefined, number>;
  priority_source: ColumnType<QueuePrioritySource, QueuePrioritySource | undefined, QueuePrioritySource>;
  enqueued_at: ColumnType<Date, Date | undefined, never>;
  position_at: ColumnType<Date, Date | undefined, Date>;
  state: ColumnType<QueueEntryState, QueueEntryState | undefined, QueueEntryState>;
  agent_id: number | null;
  agent: string | null;
  offered_at: Date | null;
  answered_at: Date | null;
  ended_at: Date | null;
  outcome: QueueEntryOutcome | null;
}

export interface CallSeatsTable {
  scope: string;
  call_id: string;
  gateway: string;
  acquired_at: ColumnType<Date, Date | undefined, never>;
}

export interface CallEventsTable {
  id: Generated<number>;
  call_id: string;
  at: ColumnType<Date, Date | undefined, never>;
  type: string;
  data: ColumnType<Record<string, unknown>, string, string>;
}

export interface SmsRateBucketsTable {
  trunk_id: string;
  tokens: number;
  refilled_at: ColumnType<Date, Date | undefined, Date>;
  granted: ColumnType<number, number | undefined, number>;
}

export interface RecordingsTable {
  call_id: string;
  bytes: ColumnType<number, number, number>;
  chunk_bytes: number;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface RecordingChunksTable {
  call_id: string;
  seq: number;
  data: Buffer;
}

export type SmsDirection = 'inbound' | 'outbound';
export type SmsStatus =
  'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'received' | 'delivering' | 'partial';
export type SmsSource = 'api' | 'ai' | 'trunk' | 'user';
export type SmsDestination = 'trunk' | 'user' | 'ai';

/** One SMS, in or out, and its place in the durable queue (db/migrations/0020_sms.sql). */
export interface SmsMessagesTable {
  id: Generated<number>;
  message_id: string;
  direction: SmsDirection;
  from_number: string;
  to_number: string;
  body: string;
  encoding: 'gsm7' | 'ucs2';
  segments: number;
  status: SmsStatus;
  source: SmsSource;
  destination: SmsDestination;
  target_user: string | null;
  trunk_id: string | null;
  sender_user: string | null;
  in_reply_to: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  sip_call_id: string | null;
  sip_cseq: number | null;
  part_ref: number | null;
  part_seq: number | null;
  part_total: number | null;
  parent_id: string | null;
  attempts: Generated<number>;
  parts_sent: Generated<number>;
  next_attempt_at: Date | null;
  claimed_by: number | null;
  last_sip_status: number | null;
  last_error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  sent_at: Date | null;
  delivered_at: Date | null;
}

export interface SmsEventsTable {
  id: Generated<number>;
  message_id: string;
  at: Generated<Date>;
  status: SmsStatus;
  attempt: Generated<number>;
  sip_status: number | null;
  trunk_id: string | null;
  detail: string | null;
}

export interface SmsWorkersTable {
  id: Generated<number>;
  name: string;
  started_at: Generated<Date>;
}

/** A running media gateway's lease (db/migrations/0046_gateway_leases.sql). */
export interface GatewayLeasesTable {
  gateway: string;
  instance: string;
  started_at: Generated<Date>;
  renewed_at: Generated<Date>;
  expires_at: Date;
}

/** A call webhook event and its delivery state (db/migrations/0048_webhooks.sql). */
export interface WebhookOutboxTable {
  id: Generated<number>;
  call_id: string;
  seq: number;
  url: string;
  event: string;
  body: ColumnType<Record<string, unknown>, string, string>;
  state: ColumnType<'pending' | 'delivered' | 'failed', 'pending' | undefined, 'pending' | 'delivered' | 'failed'>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: ColumnType<Date, Date | undefined, Date>;
  last_status: number | null;
  last_error: string | null;
  created_at: Generated<Date>;
  delivered_at: Date | null;
}

export interface Database {
  sms_messages: SmsMessagesTable;
  sms_events: SmsEventsTable;
  sms_workers: SmsWorkersTable;
  subscriber: SubscriberTable;
  location: LocationTable;
  acc_cdrs: AccCdrsTable;
  acc: AccTable;
  trunks: TrunksTable;
  numbers: NumbersTable;
  blocked_numbers: BlockedNumbersTable;
  dispatcher: DispatcherTable;
  address: AddressTable;
  uacreg: UacregTable;
  calls: CallsTable;
  call_events: CallEventsTable;
  call_commands: CallCommandsTable;
  gateway_leases: GatewayLeasesTable;
  sms_rate_buckets: SmsRateBucketsTable;
  recordings: RecordingsTable;
  recording_chunks: RecordingChunksTable;
  webhook_outbox: WebhookOutboxTable;
  listen_forks: ListenForksTable;
  ai_routes: AiRoutesTable;
  ivr_menus: IvrMenusTable;
  ivr_prompts: IvrPromptsTable;
  queues: QueuesTable;
  queue_agents: QueueAgentsTable;
  queue_vips: QueueVipsTable;
  queue_entries: QueueEntriesTable;
  call_seats: CallSeatsTable;
}
