import { e164Of } from '../sip-number';

/** A SIP user name as the users API allows it (control-plane sip-users/schemas.ts USERNAME_PATTERN). */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$/;

export type TransferTarget =
  { readonly ok: true; readonly user: string; readonly uri: string } | { readonly ok: false; readonly reason: string };

/**
 * Where a transfer may send a caller: an E.164 number (`+15551234567`, or its digits)
 * or a user name, or a `sip:`/`sips:` URI of our own domain naming one of those.
 * Every transfer goes through our Kamailio (`sip:<user>@<domain>`), so it is routed,
 * limited, authorised and billed like any call of ours; a URI of another host
 * would send the caller (or the gateway) past all of that and is refused.
 */
export function transferTarget(raw: string, domain: string): TransferTarget {
  let user = raw.trim();
  const uri = /^sips?:([^@;?>\s]+)@([^;?>:\s]+)(?::\d+)?(?:;[^?>\s]*)?$/i.exec(user.replace(/^<|>$/g, ''));
  if (uri) {
    if ((uri[2] as string).toLowerCase() !== domain.toLowerCase())
      return { ok: false, reason: `the target must be in our domain (${domain})` };
    user = uri[1] as string;
  } else if (/^sips?:/i.test(user)) return { ok: false, reason: 'the target is not a SIP URI we can read' };
  const number = e164Of(user);
  if (number) return { ok: true, user: number, uri: `sip:${number}@${domain}` };
  if (!USER_NAME.test(user)) return { ok: false, reason: 'the target is neither an E.164 number nor a user name' };
  return { ok: true, user, uri: `sip:${user}@${domain}` };
}
