import type { AiTarget, EndedBy } from '../calls/call';
import type { BridgeOutcome, CallHandle } from '../calls/handle';
import type { MusicSource } from '../calls/media-leg';

/**
 * A CallHandle for unit tests: records what was played, events, AI connections and
 * bridges; the test presses keys with `press` and advances the media clock with
 * `tick` (20 ms of whatever plays).
 */
export class FakeCall implements CallHandle {
  readonly id = 'call-1';
  readonly parties = { sipCallId: 'sip-1', fromUser: '15550001', toUser: '15550002', route: 'ivr|main' };
  readonly codec = 'PCMU' as const;
  readonly ended: Promise<{ reason: string; by: EndedBy }>;
  readonly events: Array<{ type: string; data: Record<string, unknown> }> = [];
  readonly connected: AiTarget[] = [];
  readonly bridged: Array<{ targets: readonly string[]; ringTimeoutMs: number }> = [];
  readonly played: Array<MusicSource | null> = [];
  endedWith: { reason: string; by: EndedBy } | null = null;
  /** What connectAi answers. */
  aiAnswers = true;
  /** What bridgeTo answers, in turn (the last one repeats). */
  bridgeAnswers: BridgeOutcome[] = [{ ok: true, target: 'x' }];
  framesSent = 0;
  private listeners = new Set<(digit: string, source: 'rfc4733' | 'inband' | 'sip-info') => void>();
  private resolveEnded!: (v: { reason: string; by: EndedBy }) => void;
  private source: MusicSource | null = null;

  constructor() {
    this.ended = new Promise((r) => (this.resolveEnded = r));
  }

  get live(): boolean {
    return this.endedWith === null;
  }

  get playing(): MusicSource | null {
    return this.source;
  }

  play(source: MusicSource | null): void {
    this.source = source;
    this.played.push(source);
  }

  onDigit(listener: (digit: string, source: 'rfc4733' | 'inband' | 'sip-info') => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  press(digit: string, source: 'rfc4733' | 'inband' | 'sip-info' = 'rfc4733'): void {
    for (const l of [...this.listeners]) l(digit, source);
  }

  get digitListeners(): number {
    return this.listeners.size;
  }

  /** `frames` ticks of the media clock: the source in play gives 20 ms each. */
  tick(frames = 1): void {
    for (let i = 0; i < frames; i++) {
      if (!this.source) continue;
      this.source.next();
      this.framesSent++;
    }
  }

  connectAi(target: AiTarget): Promise<boolean> {
    this.connected.push(target);
    return Promise.resolve(this.aiAnswers);
  }

  bridgeTo(targets: readonly string[], opts: { readonly ringTimeoutMs: number }): Promise<BridgeOutcome> {
    this.bridged.push({ targets, ringTimeoutMs: opts.ringTimeoutMs });
    return Promise.resolve(this.bridgeAnswers.length > 1 ? this.bridgeAnswers.shift()! : this.bridgeAnswers[0]!);
  }

  event(type: string, data: Record<string, unknown>): void {
    this.events.push({ type, data });
  }

  end(reason: string, by: EndedBy): Promise<void> {
    if (!this.endedWith) {
      this.endedWith = { reason, by };
      this.resolveEnded({ reason, by });
    }
    return Promise.resolve();
  }

  /** The caller hangs up. */
  hangUp(): void {
    void this.end('caller_hangup', 'caller');
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }
}
