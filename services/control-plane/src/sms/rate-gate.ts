/**
 * A token bucket that makes callers wait: `take()` resolves when one more send fits
 * under `rate` per second (burst: a tenth of a second's worth, at least one).
 * Rate 0 means no limit. Waiters are served in order.
 */
export class RateGate {
  private tokens: number;
  private last = Date.now();
  private readonly burst: number;
  private readonly waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly rate: number) {
    this.burst = Math.max(1, Math.floor(rate / 10));
    this.tokens = this.burst;
  }

  take(): Promise<void> {
    if (this.rate <= 0 || this.closed) return Promise.resolve();
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  /** Lets every waiter through (shutting down). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w();
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiters.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        (this.waiters.shift() as () => void)();
      }
      if (this.waiters.length > 0) this.schedule();
    }, wait);
  }
}
