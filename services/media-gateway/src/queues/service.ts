import type { QueuePrioritySource } from '../../../common/src/db/schema';
import { QUEUE_CHANNEL, type QueueNotice } from '../../../common/src/queues/events';
import type { CallHandle } from '../calls/handle';
import type { MusicSource } from '../calls/media-leg';
import type { Speak } from './announce';
import type { QueueMetrics, WaitingNow } from './metrics';
import type { QueueEntry } from '../routing/actions';
import type { AiTargetResolver, PgSeats } from './seats';
import { e164, type PgQueueStore } from './store';
import { WaitingCaller, type QueueActions } from './waiting';

/** Where queue notices arrive: PgNotifications (common/src/calls/commands.ts) on a dedicated connection. */
export interface NoticeSource {
  on(channel: string, listener: (payload: string) => void): () => void;
}

export interface QueueServiceOptions {
  readonly gateway: string;
  readonly store: PgQueueStore;
  readonly seats: PgSeats;
  readonly targets: AiTargetResolver;
  /** Set once built (the IVR's executor needs this service for its `queue` actions). */
  actions: QueueActions | null;
  readonly music: (name: string | null, codec: 'PCMU' | 'PCMA') => Promise<MusicSource>;
  readonly speak?: Speak;
  readonly metrics?: QueueMetrics;
  /** The safety poll: queues with waiting callers of this gateway are dispatched this often. */
  readonly pollMs?: number;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

const DEFAULT_POLL_MS = 1000;

/**
 * The queues on one gateway: callers enter here (`enter`, the CallManager's `queue`
 * route and the IVR's `queue` action), wait on this gateway (waiting.ts), and are
 * connected when a dispatch, run by any gateway, offers them an agent.
 *
 * Dispatch is kicked by NOTIFY queue_events `kick` (an arrival, a departure, a seat
 * released, an operator's move) and by a 1 s safety poll of the queues with
 * callers waiting here; per queue one dispatch runs at a time on this gateway (a
 * kick while it runs makes it run once more), and the advisory lock serialises
 * the gateways. `offer` notices for this gateway's entries connect them.
 */
export class QueueService implements QueueEntry, WaitingNow {
  private readonly byEntry = new Map<string, WaitingCaller>();
  private readonly running = new Map<string, { again: boolean }>();
  private poll: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(private readonly o: QueueServiceOptions) {}

  /** Closes what a previous run under this gateway id left, listens, starts the poll. */
  async start(notices: NoticeSource): Promise<void> {
    const orphans = await this.o.store.closeOrphans(this.o.gateway);
    if (orphans > 0)
      this.o.logger.warn('closed the queue entries a previous run of this gateway left', { entries: orphans });
    this.unsubscribe = notices.on(QUEUE_CHANNEL, (payload) => this.notice(payload));
    this.poll = setInterval(() => this.safetyPoll(), this.o.pollMs ?? DEFAULT_POLL_MS);
    this.poll.unref();
  }

  /** After every (re)connect of the notice connection: notices sent meanwhile are lost, so look again. */
  resync(): void {
    for (const queue of new Set([...this.byEntry.values()].map((w) => w.queueName))) this.kick(queue);
  }

  /** CallManager's `queue` route: a call routed `queue|<name>` (or queued by admitAi with a priority). */
  route(call: CallHandle, queue: string, opts?: { readonly priority?: number }): Promise<void> {
    const priority = opts?.priority ?? 0;
    return this.enter(call, queue, { priority, source: priority > 0 ? 'number' : 'none' });
  }

  /**
   * Puts `call` in `queue` and resolves when the queue lets go of it. The priority is
   * the highest of the one given (menu, API, a number's limit), the caller's VIP
   * entry and the dialled number's queue_priority.
   */
  async enter(
    call: CallHandle,
    queueName: string,
    options: { readonly priority: number; readonly source: QueuePrioritySource },
  ): Promise<void> {
    const queue = await this.o.store.queue(queueName);
    if (!queue) {
      this.o.logger.warn('call routed to a queue that does not exist: hanging up', {
        call_id: call.id,
        queue: queueName,
      });
      call.event('queue_not_found', { queue: queueName });
      await call.end('queue_not_found', 'gateway');
      return;
    }
    const found = await this.o.store.priorityOf(queueName, call.parties.fromUser, call.parties.toUser);
    const given = Math.max(0, Math.min(100, Math.round(options.priority)));
    const { priority, source } = given > found.priority ? { priority: given, source: options.source } : found;
    const called = e164(call.parties.toUser) ?? call.parties.toUser;
    const result = await this.o.store.enqueue(
      {
        queue: queueName,
        callId: call.id,
        gateway: this.o.gateway,
        caller: call.parties.fromUser,
        called,
        priority,
        source: priority === 0 ? 'none' : source,
      },
      queue.maxLength,
    );
    if (!result.entered) {
      this.o.metrics?.outcome(queueName, 'overflow');
      const action = queue.maxLengthAction ?? { type: 'busy' as const };
      call.event('queue_overflow', { queue: queueName, reason: 'max_length', action: action.type });
      await this.run(call, action);
      return;
    }
    call.event('queue_enter', { queue: queueName, entry: result.entry.id, priority, priority_source: source });
    const w = new WaitingCaller(result.entry, queue, {
      call,
      store: this.o.store,
      seats: this.o.seats,
      targets: this.o.targets,
      actions: { run: (c, a) => this.run(c, a) },
      music: this.o.music,
      speak: this.o.speak,
      kick: (q) => this.kick(q),
      outcome: (q, outcome) => this.o.metrics?.outcome(q, outcome),
      onGone: (gone) => {
        if (this.byEntry.get(gone.id) === gone) this.byEntry.delete(gone.id);
      },
      logger: this.o.logger,
    });
    this.byEntry.set(w.id, w);
    await w.start();
    this.kick(queueName);
    await w.done;
  }

  waiting(): ReadonlyMap<string, { count: number; oldestMs: number }> {
    const out = new Map<string, { count: number; oldestMs: number }>();
    for (const w of this.byEntry.values()) {
      if (w.current !== 'waiting' && w.current !== 'offered') continue;
      const cur = out.get(w.queueName);
      if (!cur) out.set(w.queueName, { count: 1, oldestMs: w.since });
      else out.set(w.queueName, { count: cur.count + 1, oldestMs: Math.min(cur.oldestMs, w.since) });
    }
    return out;
  }

  /** Callers waiting (or ringing an agent) on this gateway. */
  get size(): number {
    return this.byEntry.size;
  }

  /** Dispatches `queue` now (again after the running one, if one runs). */
  kick(queue: string): void {
    if (this.closed) return;
    const run = this.running.get(queue);
    if (run) {
      run.again = true;
      return;
    }
    const state = { again: false };
    this.running.set(queue, state);
    void (async () => {
      do {
        state.again = false;
        try {
          const offers = await this.o.store.dispatch(queue);
          this.o.metrics?.dispatched(offers.length > 0 ? 'offers' : 'empty', Math.max(1, offers.length));
          for (const offer of offers) if (offer.gateway === this.o.gateway) void this.offer(offer.entry);
        } catch (err) {
          this.o.metrics?.dispatched('failed');
          this.o.logger.warn('queue dispatch failed', { queue, error: (err as Error).message });
        }
      } while (state.again && !this.closed);
      this.running.delete(queue);
    })();
  }

  close(): void {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.unsubscribe?.();
    for (const w of this.byEntry.values()) w.close();
  }

  private async run(call: CallHandle, action: Parameters<QueueActions['run']>[1]): Promise<void> {
    const actions = this.o.actions;
    if (!actions) {
      await call.end('queue_action_unavailable', 'gateway');
      return;
    }
    await actions.run(call, action);
  }

  private notice(payload: string): void {
    let n: QueueNotice;
    try {
      n = JSON.parse(payload) as QueueNotice;
    } catch {
      this.o.logger.warn('queue notice that is not JSON ignored', { payload: payload.slice(0, 200) });
      return;
    }
    if (n.kind === 'kick' && typeof n.queue === 'string') this.kick(n.queue);
    else if (n.kind === 'offer' && n.gateway === this.o.gateway) void this.offer(String(n.entry));
    else if (n.kind === 'moved' && n.gateway === this.o.gateway) void this.moved(String(n.entry));
  }

  private async offer(entryId: string): Promise<void> {
    try {
      const row = await this.o.store.entry(entryId);
      if (!row || row.state !== 'offered' || row.gateway !== this.o.gateway) return;
      const w = this.byEntry.get(entryId);
      if (w) return await w.offered(row);
      // Offered a caller this gateway no longer holds (ended just now, or a previous run's).
      await this.o.store.finish(entryId, 'lost', ['offered']);
    } catch (err) {
      this.o.logger.warn('queue offer not handled', { entry: entryId, error: (err as Error).message });
    }
  }

  private async moved(entryId: string): Promise<void> {
    try {
      const old = await this.o.store.entry(entryId);
      const w = old ? [...this.byEntry.values()].find((x) => x.callId === old.callId) : undefined;
      if (!w) return;
      const live = await this.o.store.liveEntryOfCall(w.callId);
      if (!live) return;
      const queue = await this.o.store.queue(live.queue);
      if (!queue) return;
      this.byEntry.delete(w.id);
      await w.moved(live, queue);
      this.byEntry.set(w.id, w);
      this.kick(live.queue);
      if (live.state === 'offered') await w.offered(live);
    } catch (err) {
      this.o.logger.warn('queue move not handled', { entry: entryId, error: (err as Error).message });
    }
  }

  private safetyPoll(): void {
    for (const queue of new Set(
      [...this.byEntry.values()].filter((w) => w.current === 'waiting').map((w) => w.queueName),
    ))
      this.kick(queue);
  }
}
