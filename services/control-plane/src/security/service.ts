import ipaddr from 'ipaddr.js';
import type { Logger } from '../../../common/src/logger';
import { validationError } from '../http/validation';
import type { KamailioControl, SecurityLocks } from '../kamailio/control';

export interface Cleared {
  readonly username?: string;
  readonly source?: string;
  readonly cleared: boolean;
}

/**
 * The ways an address may be written in Kamailio's htable keys. Kamailio prints
 * IPv4 dotted and IPv6 as eight groups without leading zeros; a client may send
 * the compressed form (RFC 5952), so both are tried.
 */
export function sourceSpellings(raw: string): string[] {
  if (!ipaddr.isValid(raw)) {
    throw validationError('params', [{ field: 'source', message: 'must be an IPv4 or IPv6 address' }]);
  }
  const address = ipaddr.parse(raw);
  if (address.kind() === 'ipv4') return [address.toString()];
  const v6 = address as ipaddr.IPv6;
  const spellings = [v6.toNormalizedString(), v6.toString(), raw.toLowerCase()];
  if (v6.isIPv4MappedAddress()) spellings.push(v6.toIPv4Address().toString());
  return [...new Set(spellings)];
}

/**
 * Shows and lifts the brute-force defences kamailio.cfg applies (locks of an
 * account for one source, account-wide locks, banned sources). Every change is
 * logged with what was lifted.
 */
export class SecurityService {
  constructor(
    private readonly kamailio: KamailioControl,
    private readonly logger: Logger,
  ) {}

  locks(): Promise<SecurityLocks> {
    return this.kamailio.securityLocks();
  }

  async clearAccount(username: string): Promise<Cleared> {
    const cleared = await this.kamailio.clearAccountLock(username);
    this.logger.info('account-wide SIP lock cleared', { username, was_locked: cleared });
    return { username, cleared };
  }

  async clearAccountSource(username: string, source: string): Promise<Cleared> {
    let cleared = false;
    for (const spelling of sourceSpellings(source)) {
      if (await this.kamailio.clearSourceLock(username, spelling)) cleared = true;
    }
    this.logger.info('SIP lock of an account for one source cleared', { username, source, was_locked: cleared });
    return { username, source, cleared };
  }

  async clearSource(source: string): Promise<Cleared> {
    let cleared = false;
    for (const spelling of sourceSpellings(source)) {
      if (await this.kamailio.clearBan(spelling)) cleared = true;
    }
    this.logger.info('SIP source ban lifted', { source, was_banned: cleared });
    return { source, cleared };
  }
}
