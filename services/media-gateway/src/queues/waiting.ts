import type { Action } from '../../../common/src/ivr/menu';
import type { QueueEntryOutcome } from '../../../common/src/db/schema';
import type { BridgeOutcome, CallHandle } from '../calls/handle';
import type { MusicSource } from '../calls/media-leg';
import { G711Clip } from '../media/clip';
import { announcement, expectedWait, type Speak } from './announce';
import type { AiTargetResolver, PgSeats } from './seats';
import { RING_ALL, seatScope, type EntryRow, type PgQueueStore, type QueueConfig } from './store';

/**
 * One caller in a queue, on the gateway that holds its media: music on hold (the
 * queue's hold_music), announcements of position and expected wait, the leave
 * digit, max wait; and, when the dispatch offers it to an agent, the connection
 * (bridgeTo a SIP user, or connectAi for an AI agent).
 *
 *   waiting ──offer──► offered ──answered──► connected ──call ended──► gone
 *      ▲                  │
 *      └────no answer─────┘
 *   waiting / offered ──(hung up, max wait, leave digit, moved away)──► gone
 *
 * `done` resolves when the queue lets go of the call: connected, or sent on by an
 * overflow / leave action (after it ran), or the caller gone.
 */
export type WaitState = 'waiting' | 'offered' | 'connected' | 'gone';

const EDGES: Record<WaitState, readonly WaitState[]> = {
  waiting: ['offered', 'gone'],
  offered: ['waiting', 'connected', 'gone'],
  connected: ['gone'],
  gone: [],
};

/**
 * What a queue does with a caller that leaves it other than to an agent (overflow
 * on max wait or max length, the leave digit): an {@link Action}, run by the IVR's
 * executor (routing/actions.ts).
 */
export interface QueueActions {
  run(call: CallHandle, action: Action): Promise<void>;
}

/** Outcomes a queue visit can end with on this gateway, as metrics count them. */
export type VisitOutcome = Extract<QueueEntryOutcome, 'answered' | 'abandoned' | 'overflow' | 'left' | 'lost'>;

export interface WaitingDeps {
  readonly call: CallHandle;
  readonly store: PgQueueStore;
  readonly seats: PgSeats;
  readonly targets: AiTargetResolver;
  readonly actions: QueueActions;
  /** The queue's music on hold in the call's codec (its own loop). */
  readonly music: (name: string | null, codec: 'PCMU' | 'PCMA') => Promise<MusicSource>;
  /** Renders an announcement; absent: queues do not announce. */
  readonly speak?: Speak;
  /** Dispatch `queue` again (a requeue, or an agent's wrap-up over). */
  readonly kick: (queue: string) => void;
  readonly outcome: (queue: string, outcome: VisitOutcome) => void;
  /** The caller let go of the queue for good (its entry done, or connected). */
  readonly onGone: (w: WaitingCaller) => void;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
  readonly now?: () => number;
}

/** How long an AI agent that refused a caller is left alone before the caller is offered again. */
const AI_RETRY_MS = 1000;
/** The first announcement, after the caller heard a moment of music. */
const FIRST_ANNOUNCEMENT_MS = 1500;

export class WaitingCaller {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private state: WaitState = 'waiting';
  private timers: NodeJS.Timeout[] = [];
  private unsubscribeDigits: (() => void) | null = null;
  private music: MusicSource | null = null;
  /** Max wait passed while an offer was out: overflow as soon as it comes back unanswered. */
  private overdue = false;
  private readonly now: () => number;

  constructor(
    private entry: EntryRow,
    private queue: QueueConfig,
    private readonly d: WaitingDeps,
  ) {
    this.now = d.now ?? Date.now;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get id(): string {
    return this.entry.id;
  }

  get callId(): string {
    return this.d.call.id;
  }

  get queueName(): string {
    return this.queue.name;
  }

  get since(): number {
    return this.entry.enqueuedAt.getTime();
  }

  get current(): WaitState {
    return this.state;
  }

  /** Music, timers, the leave digit, and the caller's hang-up. */
  async start(): Promise<void> {
    const call = this.d.call;
    void call.ended.then(({ reason }) => this.callEnded(reason));
    await this.playMusic();
    // An offer may have come (and been answered) while the music loaded.
    if (this.state === 'waiting' || this.state === 'offered') this.arm();
  }

  /** An offer for this entry (from this gateway's dispatch or a NOTIFY): connect the agent. */
  async offered(row: EntryRow): Promise<void> {
    if (row.id !== this.entry.id || row.state !== 'offered' || !row.agent || this.state !== 'waiting') return;
    this.transition('offered');
    const call = this.d.call;
    // Music again, should an announcement be on: the caller hears it while the agent rings.
    if (this.music) call.play(this.music);
    const agent = row.agent;
    call.event('queue_offer', { queue: this.queue.name, entry: this.entry.id, agent });
    let answered: { id: number | null; label: string } | null = null;
    let failure = 'failed';
    try {
      if (agent.startsWith('ai:') || agent.startsWith('number:')) {
        const action = agent.startsWith('ai:') ? { ai_route: agent.slice(3) } : { number: agent.slice(7) };
        const scope = seatScope(agent);
        if (scope) await this.d.store.holdSeat(scope, call.id, this.entry.gateway);
        const target = await this.d.targets.resolve(call, action, { queue: this.queue.name });
        if (target && call.live && (await call.connectAi(target))) answered = { id: row.agentId, label: agent };
        else failure = target ? 'ai_unavailable' : 'ai_route_not_found';
      } else {
        const people =
          agent === RING_ALL
            ? await this.d.store.ringAllTargets(this.queue.name)
            : [{ id: row.agentId ?? 0, username: agent.slice('sip_user:'.length) }];
        let outcome: BridgeOutcome = { ok: false, sipStatus: 480, reason: 'no_answer' };
        if (people.length > 0 && call.live)
          outcome = await call.bridgeTo(
            people.map((p) => p.username),
            { ringTimeoutMs: this.queue.ringTimeoutSeconds * 1000 },
          );
        if (outcome.ok) {
          const who = people.find((p) => p.username === outcome.target) ?? people[0]!;
          answered = { id: agent === RING_ALL ? who.id : row.agentId, label: `sip_user:${who.username}` };
        } else failure = outcome.reason;
      }
    } catch (err) {
      this.d.logger.warn('queue offer failed', {
        call_id: call.id,
        entry: this.entry.id,
        agent,
        error: (err as Error).message,
      });
    }
    if (this.current !== 'offered') return;
    if (answered && call.live) return this.connected(answered, agent);
    if (!call.live) return;
    call.event('queue_no_answer', { queue: this.queue.name, agent, reason: failure });
    if (agent.startsWith('ai:') || agent.startsWith('number:')) await new Promise((r) => setTimeout(r, AI_RETRY_MS));
    if (this.current !== 'offered' || !call.live) return;
    this.transition('waiting');
    await this.d.store.requeue(this.entry.id, call.id);
    if (this.overdue) return this.overflow('max_wait');
    this.scheduleAnnouncement(FIRST_ANNOUNCEMENT_MS);
  }

  /** An operator moved the caller to another queue: its music and rules from now on. */
  async moved(entry: EntryRow, queue: QueueConfig): Promise<void> {
    if (this.state === 'gone' || this.state === 'connected') return;
    const musicChanged = queue.holdMusic !== this.queue.holdMusic;
    this.entry = entry;
    this.queue = queue;
    this.disarm();
    if (this.state === 'offered') this.state = 'waiting';
    this.d.call.event('queue_moved', { queue: queue.name, entry: entry.id });
    if (musicChanged) await this.playMusic();
    this.arm();
  }

  /** The gateway stops: timers off; the call's end marks the entry. */
  close(): void {
    this.disarm();
  }

  private async connected(agent: { id: number | null; label: string }, offeredTo: string): Promise<void> {
    const call = this.d.call;
    const ok = await this.d.store.connected(this.entry.id, agent);
    if (!ok) {
      // An operator or the sweep took the entry meanwhile; the call stays with the agent.
      this.d.logger.warn('queue entry changed while its agent answered', { entry: this.entry.id, agent: offeredTo });
    }
    this.transition('connected');
    this.disarm();
    const waited = (this.now() - this.since) / 1000;
    call.event('queue_connected', {
      queue: this.queue.name,
      agent: agent.label,
      wait_seconds: Math.round(waited * 10) / 10,
    });
    this.d.outcome(this.queue.name, 'answered');
    this.resolveDone();
    const queue = this.queue;
    void call.ended.then(async () => {
      this.transition('gone');
      try {
        await this.d.seats.release(call.id);
        await this.d.store.finish(this.entry.id, 'answered', ['connected']);
      } catch (err) {
        this.d.logger.warn('queue entry not closed', { entry: this.entry.id, error: (err as Error).message });
      }
      this.d.onGone(this);
      // Wrap-up over: the agent can take the next caller (the 1 s poll would find it too).
      if (queue.wrapUpSeconds > 0 && agent.label.startsWith('sip_user:'))
        setTimeout(() => this.d.kick(queue.name), queue.wrapUpSeconds * 1000 + 50).unref();
    });
  }

  private async callEnded(reason: string): Promise<void> {
    if (this.state !== 'waiting' && this.state !== 'offered') return;
    this.transition('gone');
    this.disarm();
    const outcome: VisitOutcome = reason === 'gateway_shutdown' ? 'lost' : 'abandoned';
    try {
      if (await this.d.store.finish(this.entry.id, outcome, ['waiting', 'offered']))
        this.d.outcome(this.queue.name, outcome);
    } catch (err) {
      this.d.logger.warn('queue entry not closed', { entry: this.entry.id, error: (err as Error).message });
    }
    this.d.onGone(this);
    this.resolveDone();
  }

  private async digit(digit: string): Promise<void> {
    if (this.state !== 'waiting' || digit !== this.queue.leaveDigit) return;
    await this.leave('left', 'leave_digit', this.queue.leaveAction ?? { type: 'hangup', reason: 'queue_left' });
  }

  private async overflow(why: 'max_wait'): Promise<void> {
    await this.leave('overflow', why, this.queue.maxWaitAction ?? { type: 'busy' });
  }

  /** Out of the queue other than to an agent: the entry done first (so no offer races it), then the action. */
  private async leave(outcome: 'left' | 'overflow', why: string, action: Action): Promise<void> {
    if (this.state !== 'waiting') return;
    const finished = await this.d.store.finish(this.entry.id, outcome, ['waiting']).catch(() => false);
    if (!finished || this.current !== 'waiting') return;
    this.transition('gone');
    this.disarm();
    this.d.outcome(this.queue.name, outcome);
    const call = this.d.call;
    call.event(outcome === 'left' ? 'queue_left' : 'queue_overflow', {
      queue: this.queue.name,
      reason: why,
      action: action.type,
    });
    this.d.onGone(this);
    call.play(null);
    try {
      await this.d.actions.run(call, action);
    } catch (err) {
      this.d.logger.warn('queue action failed', {
        call_id: call.id,
        action: action.type,
        error: (err as Error).message,
      });
      if (call.live) await call.end('queue_action_failed', 'gateway');
    }
    this.resolveDone();
  }

  private async playMusic(): Promise<void> {
    try {
      this.music = await this.d.music(this.queue.holdMusic, this.d.call.codec);
    } catch (err) {
      this.d.logger.warn('queue music unavailable', { queue: this.queue.name, error: (err as Error).message });
      this.music = null;
    }
    if (this.state === 'waiting' || this.state === 'offered') this.d.call.play(this.music);
  }

  private arm(): void {
    if (this.queue.maxWaitSeconds !== null) {
      const left = this.since + this.queue.maxWaitSeconds * 1000 - this.now();
      this.timers.push(
        setTimeout(
          () => {
            if (this.state === 'offered') this.overdue = true;
            else void this.overflow('max_wait');
          },
          Math.max(0, left),
        ),
      );
    }
    this.unsubscribeDigits ??= this.d.call.onDigit((digit) => void this.digit(digit));
    this.scheduleAnnouncement(FIRST_ANNOUNCEMENT_MS);
  }

  private disarm(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.state === 'connected' || this.state === 'gone') {
      this.unsubscribeDigits?.();
      this.unsubscribeDigits = null;
    }
  }

  private scheduleAnnouncement(afterMs: number): void {
    if (!this.d.speak || (!this.queue.announcePosition && !this.queue.announceWait)) return;
    this.timers.push(setTimeout(() => void this.announce(), afterMs));
  }

  private async announce(): Promise<void> {
    if (this.state !== 'waiting' || !this.d.speak) return;
    const call = this.d.call;
    try {
      const { position, waiting } = await this.d.store.position(this.entry.id);
      let wait: number | null = null;
      if (this.queue.announceWait) {
        const mean = await this.d.store.meanWaitSeconds(this.queue.name);
        if (mean !== null) wait = expectedWait(mean, position, waiting);
      }
      const text = announcement(this.queue.announcePosition ? position : null, wait);
      if (text && this.state === 'waiting') {
        const clip = G711Clip.fromPcm(await this.d.speak(text), call.codec);
        if (this.state !== 'waiting') return;
        call.event('queue_announcement', {
          queue: this.queue.name,
          position,
          ...(wait !== null ? { wait_seconds: Math.round(wait) } : {}),
        });
        call.play(clip);
        await Promise.race([clip.done, call.ended]);
        if (this.state === 'waiting') call.play(this.music);
      }
    } catch (err) {
      this.d.logger.warn('queue announcement failed', { call_id: call.id, error: (err as Error).message });
    }
    if (this.state === 'waiting') this.scheduleAnnouncement(this.queue.announceIntervalSeconds * 1000);
  }

  private transition(to: WaitState): void {
    if (this.state === to) return;
    if (!EDGES[this.state].includes(to)) throw new TypeError(`queue caller: ${this.state} → ${to}`);
    this.state = to;
  }
}
