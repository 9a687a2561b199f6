import { FrameClock } from './frame-clock';

/** A fake time source and one-shot scheduler the test drives by hand. */
class FakeTimers {
  now = 1_000;
  private pending: { id: number; fn: () => void; at: number } | undefined;
  private ids = 0;
  scheduled = 0;
  cancelled = 0;
  /** The times wake-ups were asked for, relative to nothing: exact deadlines are expected. */
  readonly requestedAt: number[] = [];

  readonly options = {
    now: () => this.now,
    schedule: (fn: () => void, delayMs: number) => {
      if (this.pending) throw new Error('two timers armed at once');
      this.scheduled += 1;
      this.pending = { id: ++this.ids, fn, at: this.now + delayMs };
      this.requestedAt.push(this.now + delayMs);
      return this.ids;
    },
    cancel: (handle: unknown) => {
      if (this.pending?.id === handle) {
        this.pending = undefined;
        this.cancelled += 1;
      }
    },
  };

  get armed(): boolean {
    return this.pending !== undefined;
  }

  /** Fires the armed timer `latencyMs` after the time it asked for. */
  fire(latencyMs = 0): void {
    const pending = this.pending;
    if (!pending) throw new Error('no timer armed');
    this.pending = undefined;
    this.now = Math.max(this.now, pending.at + latencyMs);
    pending.fn();
  }
}

/** A small deterministic PRNG (mulberry32) for scheduling latencies. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('FrameClock', () => {
  it('one hour of ticks on time → 180 000 ticks, every deadline exactly start + n·20 ms', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const start = timers.now;
    let worst = 0;
    let count = 0;
    clock.subscribe((tick, nowMs) => {
      count += 1;
      worst = Math.max(worst, Math.abs(nowMs - (start + tick * 20)), Math.abs(timers.now - (start + tick * 20)));
    });
    while (count < 180_000) timers.fire();
    expect(count).toBe(180_000);
    expect(worst).toBe(0);
    expect(timers.now - start).toBe(3_600_000);
    expect(timers.requestedAt.every((at, i) => at === start + (i + 1) * 20)).toBe(true);
    clock.close();
  });

  it('random wake-up latency 0–8 ms for an hour → mean period 20.000 ms, no drift, nothing skipped', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const start = timers.now;
    const random = prng(42);
    const ranAt: number[] = [];
    let lastTick = 0;
    clock.subscribe((tick) => {
      ranAt.push(timers.now);
      lastTick = tick;
    });
    while (ranAt.length < 180_000) timers.fire(random() * 8);
    const meanPeriod = (ranAt[ranAt.length - 1]! - ranAt[0]!) / (ranAt.length - 1);
    expect(meanPeriod).toBeCloseTo(20, 3);
    // The last tick ran within one latency of its deadline: error did not accumulate.
    expect(ranAt[ranAt.length - 1]! - (start + lastTick * 20)).toBeLessThan(8);
    expect(clock.stats.skipped).toBe(0);
    // Every wake-up was asked for at an exact deadline, whatever the previous latency.
    expect(timers.requestedAt.every((at, i) => at === start + (i + 1) * 20)).toBe(true);
    clock.close();
  });

  it('event loop blocked 70 ms → the missed ticks delivered back to back with their own deadlines', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const start = timers.now;
    const seen: Array<[number, number]> = [];
    clock.subscribe((tick, nowMs) => seen.push([tick, nowMs]));
    timers.fire(); // tick 1 on time
    timers.fire(70); // woke at start + 110: ticks 2..5 are due
    expect(seen).toEqual([1, 2, 3, 4, 5].map((n) => [n, start + n * 20]));
    expect(clock.stats).toMatchObject({ ticks: 5, skipped: 0, late: 3 });
    clock.close();
  });

  it('event loop blocked 500 ms → at most maxCatchUp ticks delivered, the older ones skipped and counted', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock({ ...timers.options, maxCatchUp: 5 });
    const ticks: number[] = [];
    clock.subscribe((tick) => ticks.push(tick));
    timers.fire(500); // woke at start + 520: ticks 1..26 due
    expect(ticks).toEqual([22, 23, 24, 25, 26]);
    expect(clock.stats.skipped).toBe(21);
    timers.fire();
    expect(ticks[ticks.length - 1]).toBe(27);
    clock.close();
  });

  it('many subscribers → one timer, each gets every tick in subscription order', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const calls: string[] = [];
    for (let i = 0; i < 200; i++) clock.subscribe((tick) => calls.push(`${i}@${tick}`));
    timers.fire();
    timers.fire();
    expect(timers.scheduled).toBe(3);
    expect(calls.length).toBe(400);
    expect(calls[0]).toBe('0@1');
    expect(calls[199]).toBe('199@1');
    expect(calls[200]).toBe('0@2');
    clock.close();
  });

  it('a subscriber that throws → reported, the others still get the tick', () => {
    const timers = new FakeTimers();
    const errors: unknown[] = [];
    const clock = new FrameClock({ ...timers.options, onError: (err) => errors.push(err) });
    const got: number[] = [];
    clock.subscribe(() => {
      throw new Error('boom');
    });
    clock.subscribe((tick) => got.push(tick));
    timers.fire();
    expect(got).toEqual([1]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
    clock.close();
  });

  it('unsubscribed by another subscriber during a tick → not called for that tick', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const got: string[] = [];
    let unsubscribeB: () => void = () => undefined;
    clock.subscribe(() => {
      got.push('a');
      unsubscribeB();
    });
    unsubscribeB = clock.subscribe(() => got.push('b'));
    timers.fire();
    expect(got).toEqual(['a']);
    clock.close();
  });

  it('last subscriber leaves → timer cancelled; a new one resumes on the same phase without counting skips', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const start = timers.now;
    const unsubscribe = clock.subscribe(() => undefined);
    timers.fire();
    unsubscribe();
    unsubscribe();
    expect(timers.armed).toBe(false);
    expect(timers.cancelled).toBe(1);
    timers.now = start + 1_005; // idle for about a second
    const seen: Array<[number, number]> = [];
    clock.subscribe((tick, nowMs) => seen.push([tick, nowMs]));
    timers.fire();
    expect(seen).toEqual([[51, start + 1_020]]);
    expect(clock.stats.skipped).toBe(0);
    clock.close();
  });

  it('close() → timer cancelled, idempotent, and subscribing afterwards throws', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    clock.subscribe(() => undefined);
    clock.close();
    clock.close();
    expect(timers.armed).toBe(false);
    expect(() => clock.subscribe(() => undefined)).toThrow(/closed/);
  });

  it('closed from inside a tick → the remaining catch-up ticks are not delivered', () => {
    const timers = new FakeTimers();
    const clock = new FrameClock(timers.options);
    const ticks: number[] = [];
    clock.subscribe((tick) => {
      ticks.push(tick);
      clock.close();
    });
    timers.fire(60);
    expect(ticks).toEqual([1]);
    expect(timers.armed).toBe(false);
  });

  it('real timers → ticks arrive about every period (smoke test, no timing assertion beyond order)', async () => {
    const clock = new FrameClock({ periodMs: 5 });
    const ticks: number[] = [];
    await new Promise<void>((resolve) => {
      const unsubscribe = clock.subscribe((tick) => {
        ticks.push(tick);
        if (ticks.length === 5) {
          unsubscribe();
          resolve();
        }
      });
    });
    clock.close();
    expect(ticks).toEqual([ticks[0]!, ticks[0]! + 1, ticks[0]! + 2, ticks[0]! + 3, ticks[0]! + 4]);
  });

  it("alignTo → ticks fall on the shared clock's multiples of the period, whenever the first subscriber came", () => {
    const timers = new FakeTimers();
    timers.now = 1_007;
    // The shared (wall) clock reads 5 ms past a multiple of 20 when the local one reads 1007.
    const clock = new FrameClock({ ...timers.options, alignTo: () => 1_700_000_000_005 + (timers.now - 1_007) });
    const at: number[] = [];
    clock.subscribe((_, deadline) => at.push(deadline));
    timers.fire();
    timers.fire();
    // Local 1002 is a multiple of 20 on the shared clock: the first tick is at 1022.
    expect(at).toEqual([1_022, 1_042]);
  });
});
