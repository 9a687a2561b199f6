import Ajv from 'ajv';
import { CodedError } from '../../../common/src/errors';

/**
 * The events Kamailio pushes over evapi (kamailio/events.cfg: route[EVAPI_*] and
 * event_route[dialog:*]), one JSON object per netstring. Fields beyond these are
 * tolerated (a newer kamailio.cfg may add some) but never travel inward.
 */
export type KamailioEvent =
  | {
      readonly event: 'registration';
      readonly user: string;
      readonly contact: string;
      readonly expires: number;
      readonly src_ip: string;
    }
  | { readonly event: 'auth_failed'; readonly user: string; readonly src_ip: string }
  /** One source locked out of one account (too many failures from it). */
  | { readonly event: 'pair_locked'; readonly user: string; readonly src_ip: string }
  /** The whole account locked (failures from many sources); src_ip is the last of them. */
  | { readonly event: 'account_locked'; readonly user: string; readonly src_ip: string }
  /** A source banned for brute force or credential stuffing; user is the account of its last attempt. */
  | { readonly event: 'source_banned'; readonly src_ip: string; readonly reason: AuthBanReason; readonly user: string }
  | DialogEvent<'dialog_start'>
  | DialogEvent<'dialog_end'>
  | DialogEvent<'dialog_failed'>
  | { readonly event: 'flood_ban'; readonly src_ip: string };

export type AuthBanReason = 'brute_force' | 'credential_stuffing';

export interface DialogEvent<E extends string> {
  readonly event: E;
  readonly callid: string;
  readonly from_user: string;
  readonly to_user: string;
  /** Always sent by kamailio.cfg; optional in the contract for end and failed. */
  readonly src_ip?: string;
  /** The parties' SIP tags (the relay's names for them); to_tag is empty before an answer. */
  readonly from_tag?: string;
  readonly to_tag?: string;
  /** The trunk the call came in on or left through. */
  readonly trunk?: string;
  /** The call goes to or comes from a media gateway (an AI call), not between people. */
  readonly media_gateway?: boolean;
}

export type KamailioEventName = KamailioEvent['event'];

const str = { type: 'string', maxLength: 1024 } as const;
const ip = { type: 'string', maxLength: 64 } as const;

function variant(name: KamailioEventName, properties: Record<string, object>, required: readonly string[]): object {
  return {
    type: 'object',
    properties: { event: { const: name }, ...properties },
    required: ['event', ...required],
  };
}

const tag = { type: 'string', maxLength: 128 } as const;
const dialogFields = {
  callid: str,
  from_user: str,
  to_user: str,
  src_ip: ip,
  from_tag: tag,
  to_tag: tag,
  trunk: { type: 'string', maxLength: 64 },
  media_gateway: { type: 'integer', enum: [0, 1] },
};

export const KAMAILIO_EVENT_SCHEMA = {
  type: 'object',
  discriminator: { propertyName: 'event' },
  required: ['event'],
  oneOf: [
    variant('registration', { user: str, contact: str, expires: { type: 'integer', minimum: 0 }, src_ip: ip }, [
      'user',
      'contact',
      'expires',
      'src_ip',
    ]),
    variant('auth_failed', { user: str, src_ip: ip }, ['user', 'src_ip']),
    variant('pair_locked', { user: str, src_ip: ip }, ['user', 'src_ip']),
    variant('account_locked', { user: str, src_ip: ip }, ['user', 'src_ip']),
    variant('source_banned', { src_ip: ip, reason: { enum: ['brute_force', 'credential_stuffing'] }, user: str }, [
      'src_ip',
      'reason',
      'user',
    ]),
    variant('dialog_start', dialogFields, ['callid', 'from_user', 'to_user', 'src_ip']),
    variant('dialog_end', dialogFields, ['callid', 'from_user', 'to_user']),
    variant('dialog_failed', dialogFields, ['callid', 'from_user', 'to_user']),
    variant('flood_ban', { src_ip: ip }, ['src_ip']),
  ],
} as const;

const ajv = new Ajv({ discriminator: true, allErrors: false });
const validate = ajv.compile(KAMAILIO_EVENT_SCHEMA);

export class InvalidKamailioEventError extends CodedError<'ERR_KAMAILIO_EVENT_INVALID'> {
  constructor(message: string) {
    super('ERR_KAMAILIO_EVENT_INVALID', message);
  }
}

/** Parses and validates one evapi payload; throws `InvalidKamailioEventError`. */
export function parseKamailioEvent(payload: Buffer | string): KamailioEvent {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidKamailioEventError(`not JSON: ${(err as Error).message}`);
  }
  if (!validate(value)) {
    const first = validate.errors?.[0];
    const where = first?.instancePath || '(root)';
    throw new InvalidKamailioEventError(`${where} ${first?.message ?? 'is invalid'}`);
  }
  return pick(value as KamailioEvent & Record<string, unknown>);
}

function pickDialog<E extends DialogEvent<string>>(e: E & Record<string, unknown>): E {
  const out: Record<string, unknown> = { event: e.event, callid: e.callid, from_user: e.from_user, to_user: e.to_user };
  // Kamailio writes an unset variable as "<null>": that is no value.
  for (const key of ['src_ip', 'from_tag', 'to_tag', 'trunk'] as const)
    if (e[key] !== undefined && e[key] !== '<null>' && e[key] !== '') out[key] = e[key];
  // Kamailio sends 1 (jansson has no boolean setter we rely on); inward it is a boolean.
  if ((e['media_gateway'] as unknown) === 1) out['media_gateway'] = true;
  return out as unknown as E;
}

// Copies only the contract's fields, so extra fields from a newer kamailio.cfg stay out.
function pick(e: KamailioEvent & Record<string, unknown>): KamailioEvent {
  switch (e.event) {
    case 'registration':
      return { event: e.event, user: e.user, contact: e.contact, expires: e.expires, src_ip: e.src_ip };
    case 'auth_failed':
    case 'pair_locked':
    case 'account_locked':
      return { event: e.event, user: e.user, src_ip: e.src_ip };
    case 'source_banned':
      return { event: e.event, src_ip: e.src_ip, reason: e.reason, user: e.user };
    case 'dialog_start':
    case 'dialog_end':
    case 'dialog_failed':
      return pickDialog(e);
    case 'flood_ban':
      return { event: e.event, src_ip: e.src_ip };
  }
}
