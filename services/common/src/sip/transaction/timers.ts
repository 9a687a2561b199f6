/**
 * Transaction timer base values (RFC 3261 §17.1.1.1, Table 4): T1 is the RTT
 * estimate, T2 the longest retransmit interval for non-INVITE requests and INVITE
 * responses, T4 how long a message may stay in the network.
 */
export interface TimerValues {
  readonly t1: number;
  readonly t2: number;
  readonly t4: number;
}

/** Any base value may be changed (tests, lossy links); the lettered timers follow from them. */
export type TimerOverrides = Partial<TimerValues>;

export const DEFAULT_TIMERS: TimerValues = { t1: 500, t2: 4000, t4: 5000 };

export function timerValues(overrides: TimerOverrides = {}): TimerValues {
  const values = { ...DEFAULT_TIMERS, ...overrides };
  for (const [name, v] of Object.entries(values)) {
    if (!Number.isFinite(v) || v <= 0)
      throw new TypeError(`timer ${name} must be a positive number of milliseconds, got ${v}`);
  }
  return values;
}

/** Named one-shot timers owned by a transaction or dialog; stopAll() on termination. */
export class TimerSet<Name extends string> {
  private readonly timers = new Map<Name, NodeJS.Timeout>();

  start(name: Name, ms: number, fire: () => void): void {
    this.stop(name);
    const timer = setTimeout(() => {
      this.timers.delete(name);
      fire();
    }, ms);
    this.timers.set(name, timer);
  }

  stop(name: Name): void {
    const t = this.timers.get(name);
    if (t) clearTimeout(t);
    this.timers.delete(name);
  }

  has(name: Name): boolean {
    return this.timers.has(name);
  }

  stopAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  get size(): number {
    return this.timers.size;
  }
}
