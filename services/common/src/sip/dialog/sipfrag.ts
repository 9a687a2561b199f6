/**
 * The status line of a `message/sipfrag` body (RFC 3420), as NOTIFYs for a REFER
 * carry it (RFC 3515 §2.4.5: "SIP/2.0 200 OK"). Null when there is none.
 */
export function sipfragStatus(body: string): number | null {
  const m = /^\s*SIP\/2\.0\s+(\d{3})\b/i.exec(body);
  return m ? Number(m[1]) : null;
}
