import { createHash } from 'node:crypto';

/**
 * HTTP digest HA1 for SIP (RFC 3261 §22.4 referring to RFC 2617 §3.2.2.2):
 * HA1 = MD5(username ":" realm ":" password). Kamailio's auth_db reads it from
 * `subscriber.ha1` (`calculate_ha1=0`), and `ha1b` for clients that send
 * "user@domain" as the digest username. The plain password is never stored.
 */
export function digestHa1(username: string, realm: string, password: string): string {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest('hex');
}

/** HA1B = MD5(username "@" domain ":" realm ":" password). */
export function digestHa1b(username: string, domain: string, realm: string, password: string): string {
  return digestHa1(`${username}@${domain}`, realm, password);
}
