/**
 * `+` and the digits when a SIP user part is a phone number (`+15551234567`,
 * `15551234567`, `0015551234567`: 3–15 digits, E.164's length), else null (a user name).
 * Kamailio routes the same shapes as numbers (kamailio/calls.cfg route[E164_DIGITS]).
 */
export function e164Of(user: string): string | null {
  const m = /^(?:\+|00)?([0-9]{3,15})$/.exec(user);
  return m ? `+${m[1] as string}` : null;
}
