import type { SipLogger } from './logger';

/** What a refused request is logged with. */
export interface Refusal {
  readonly method: string;
  readonly callId: string;
  readonly reason: string;
  /** `<protocol>:<address>:<port>` of the sender. */
  readonly from: string;
  readonly address: string;
}

/**
 * Logs refused requests (one warn line naming the source) without letting a flood of
 * them flood the log: per source address and reason at most one line per window,
 * the next one saying how many were left out. Counters stay exact; this is only the
 * log. The table is cleared when it grows past `maxSources` (spoofed UDP sources).
 */
export class RefusalLog {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: SipLogger,
    private readonly message: string,
    private readonly windowMs = 10_000,
    private readonly maxSources = 1024,
    private readonly now: () => number = Date.now,
  ) {}

  log(r: Refusal): void {
    const key = `${r.address}|${r.reason}`;
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry && t - entry.at < this.windowMs) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.seen.size >= this.maxSources) this.seen.clear();
    this.seen.set(key, { at: t, suppressed: 0 });
    const { address: _address, ...fields } = r;
    this.logger.warn(this.message, {
      ...fields,
      ...(entry && entry.suppressed > 0 ? { suppressed_since_last: entry.suppressed } : {}),
    });
  }
}
