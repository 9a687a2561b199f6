import { performance } from 'node:perf_hooks';

/** What a clock tick hands each subscriber: the tick number and its scheduled time. */
export type TickListener = (tick: number, nowMs: number) => void;

/** A timer handle as the injected `schedule` returns it; only `cancel` looks at it. */
export type TimerHandle = unknown;

export interface FrameClockOptions {
  /** Tick period; 20 ms, one G.711 frame, by default. */
  readonly periodMs?: number;
  /** Monotonic milliseconds; `performance.now` by default. */
  readonly now?: () => number;
  /** One-shot timer; `setTimeout` by default. */
  readonly schedule?: (fn: () => void, delayMs: number) => TimerHandle;
  /** Cancels what `schedule` returned; `clearTimeout` by default. */
  readonly cancel?: (handle: TimerHandle) => void;
  /**
   * Most ticks delivered back to back when the event loop was late; older due
   * ticks beyond this are skipped and counted. 5 by default (100 ms of audio).
   */
  readonly maxCatchUp?: number;
  /** Where a subscriber's exception goes; the other subscribers still get the tick. Rethrown asynchronously by default. */
  readonly onError?: (err: unknown) => void;
  /**
   * A clock other processes share (wall-clock milliseconds): ticks fall on its
   * multiples of the period, so the gateway replicas of one host tick together.
   */
  readonly alignTo?: () => number;
}

export interface FrameClockStats {
  /** Ticks delivered (each to every subscriber). */
  readonly ticks: number;
  /** Due ticks dropped because the loop was later than maxCatchUp periods. */
  readonly skipped: number;
  /** Ticks delivered more than one period after their deadline. */
  readonly late: number;
  readonly subscribers: number;
}

interface Subscription {
  readonly listener: TickListener;
  active: boolean;
}

/**
 * One shared pacing clock per process: every call's 20 ms work (jitter buffer
 * pop, outbound frame) hangs off the same timer instead of one timer per call.
 *
 * Deadlines are computed from the start, tick n at `start + n·period`, and each
 * wake-up is scheduled for the next deadline from the current time, so timer
 * latency never accumulates: after an hour the 180 000th tick is still due at
 * exactly start + 3 600 000 ms. Listeners receive that scheduled time as
 * `nowMs` (not the moment they run), so they see a perfectly regular timeline.
 * When the event loop was blocked, the missed ticks are delivered back to back,
 * up to `maxCatchUp`; older ones are skipped and counted.
 *
 * The timer runs only while someone is subscribed; the phase (start) is kept,
 * so tick numbers stay monotonic across idle periods.
 */
export class FrameClock {
  readonly periodMs: number;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, delayMs: number) => TimerHandle;
  private readonly cancel: (handle: TimerHandle) => void;
  private readonly maxCatchUp: number;
  private readonly onError: (err: unknown) => void;
  private readonly alignTo: (() => number) | undefined;

  private subscriptions: readonly Subscription[] = [];
  private startMs: number | undefined;
  private nextTick = 1;
  private timer: TimerHandle = undefined;
  private timerArmed = false;
  /** Set while nobody listens: the next arm() resumes at the first deadline ahead without counting skips. */
  private idle = true;
  private closed = false;
  private delivered = 0;
  private skippedTicks = 0;
  private lateTicks = 0;

  constructor(options: FrameClockOptions = {}) {
    this.periodMs = options.periodMs ?? 20;
    if (!(this.periodMs > 0)) throw new TypeError(`periodMs must be positive, got ${this.periodMs}`);
    this.now = options.now ?? (() => performance.now());
    this.schedule = options.schedule ?? ((fn, delayMs) => setTimeout(fn, delayMs));
    this.cancel = options.cancel ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
    this.maxCatchUp = Math.max(1, options.maxCatchUp ?? 5);
    this.alignTo = options.alignTo;
    this.onError =
      options.onError ??
      ((err) => {
        queueMicrotask(() => {
          throw err;
        });
      });
  }

  /** Calls `listener` on every tick from the next one on; returns an idempotent unsubscribe. */
  subscribe(listener: TickListener): () => void {
    if (this.closed) throw new Error('FrameClock is closed');
    const subscription: Subscription = { listener, active: true };
    this.subscriptions = [...this.subscriptions, subscription];
    if (this.startMs === undefined) {
      const now = this.now();
      this.startMs = this.alignTo ? now - (((this.alignTo() % this.periodMs) + this.periodMs) % this.periodMs) : now;
      this.nextTick = 1;
    }
    this.arm();
    return () => {
      if (!subscription.active) return;
      subscription.active = false;
      this.subscriptions = this.subscriptions.filter((s) => s !== subscription);
      if (this.subscriptions.length === 0) {
        this.disarm();
        this.idle = true;
      }
    };
  }

  /** Stops the timer and drops every subscriber. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscriptions) s.active = false;
    this.subscriptions = [];
    this.disarm();
  }

  get stats(): FrameClockStats {
    return {
      ticks: this.delivered,
      skipped: this.skippedTicks,
      late: this.lateTicks,
      subscribers: this.subscriptions.length,
    };
  }

  /** Scheduled time of tick `n` (undefined before the first subscriber). */
  deadlineOf(tick: number): number | undefined {
    return this.startMs === undefined ? undefined : this.startMs + tick * this.periodMs;
  }

  private arm(): void {
    if (this.timerArmed || this.closed || this.subscriptions.length === 0) return;
    const start = this.startMs!;
    const now = this.now();
    if (this.idle) {
      // Nothing was owed while nobody listened: resume at the first deadline ahead.
      this.idle = false;
      const firstAhead = Math.floor((now - start) / this.periodMs) + 1;
      if (firstAhead > this.nextTick) this.nextTick = firstAhead;
    }
    this.timerArmed = true;
    this.timer = this.schedule(() => this.fire(), Math.max(0, start + this.nextTick * this.periodMs - now));
  }

  private disarm(): void {
    if (!this.timerArmed) return;
    this.timerArmed = false;
    this.cancel(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.timerArmed = false;
    this.timer = undefined;
    if (this.closed) return;
    const start = this.startMs!;
    const now = this.now();
    // Ticks whose deadline has passed: nextTick … lastDue.
    const lastDue = Math.floor((now - start) / this.periodMs);
    let due = lastDue - this.nextTick + 1;
    if (due > this.maxCatchUp) {
      this.skippedTicks += due - this.maxCatchUp;
      this.nextTick += due - this.maxCatchUp;
      due = this.maxCatchUp;
    }
    for (let i = 0; i < due; i++) {
      const tick = this.nextTick++;
      const deadline = start + tick * this.periodMs;
      if (now - deadline > this.periodMs) this.lateTicks += 1;
      this.delivered += 1;
      // A snapshot: subscribing inside a tick starts with the next one; the flag
      // stops a subscriber unsubscribed earlier in this same tick from running.
      for (const s of this.subscriptions) {
        if (!s.active) continue;
        try {
          s.listener(tick, deadline);
        } catch (err) {
          this.onError(err);
        }
      }
      if (this.closed) return;
    }
    this.arm();
  }
}
