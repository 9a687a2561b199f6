import type { ColumnType, Generated } from 'kysely';

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
}

export interface Database {
  subscriber: SubscriberTable;
  location: LocationTable;
  acc_cdrs: AccCdrsTable;
  acc: AccTable;
}
