/** What `/health` shows of start-up work that needs Kamailio. */
export interface KamailioAttachStatus {
  readonly status: 'ok' | 'error';
  /** Why not yet: the attempt count and the last failure. */
  readonly error?: string;
}

/** The two levels it logs at (a winston Logger fits). */
export interface AttachLogger {
  info(message: string, fields: Record<string, unknown>): unknown;
  warn(message: string, fields: Record<string, unknown>): unknown;
}

export interface KamailioAttachOptions {
  /** What the attempt does, for log lines and `/health` ("joining the SMS set"). */
  readonly what: string;
  /** Idempotent: run again after any failure. */
  readonly attempt: () => Promise<void>;
  readonly logger: AttachLogger;
  /** First retry delay; doubles per failure up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * Start-up work that needs Kamailio (joining a dispatcher set), retried with backoff
 * until Kamailio answers. In Kubernetes the control-plane and Kamailio are separate
 * pods started in any order, so a Kamailio that is not up yet is a wait, not a fatal
 * start-up error: the process serves its API meanwhile and `/health` answers 503 with
 * the reason, which keeps the pod out of its Service until the work is done.
 *
 *   idle ──start()──► trying ──ok──► done
 *                      ▲   │ failed
 *              (timer) │   ▼
 *                     waiting
 *   any state ──close()──► closed
 */
export type KamailioAttachState = 'idle' | 'trying' | 'waiting' | 'done' | 'closed';

export class KamailioAttach {
  private state: KamailioAttachState = 'idle';
  private failures = 0;
  private lastError = '';
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private resolveDone!: () => void;
  /** Settles once the attempt succeeded; never rejects (it stays pending after close()). */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(private readonly options: KamailioAttachOptions) {
    this.initialDelayMs = options.initialDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
  }

  get currentState(): KamailioAttachState {
    return this.state;
  }

  /** Whether the work is done; once done, it stays done. */
  get ready(): boolean {
    return this.state === 'done';
  }

  status(): KamailioAttachStatus {
    if (this.state === 'done') return { status: 'ok' };
    const why = this.failures === 0 ? 'not tried yet' : `${this.failures} attempts failed, last: ${this.lastError}`;
    return { status: 'error', error: `waiting for Kamailio: ${this.options.what}: ${why}` };
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.try();
  }

  /** Idempotent: no retry after it; waits for an attempt in flight. */
  async close(): Promise<void> {
    if (this.state !== 'closed') {
      this.state = 'closed';
      clearTimeout(this.timer);
    }
    await this.inFlight;
  }

  private try(): void {
    this.state = 'trying';
    this.inFlight = this.options.attempt().then(
      () => {
        if (this.state !== 'trying') return;
        this.state = 'done';
        if (this.failures > 0)
          this.options.logger.info(`Kamailio answered: ${this.options.what} done`, { attempts: this.failures + 1 });
        this.resolveDone();
      },
      (err: unknown) => {
        if (this.state !== 'trying') return;
        this.failures += 1;
        this.lastError = err instanceof Error ? err.message : String(err);
        const delayMs = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (this.failures - 1));
        this.options.logger.warn(`Kamailio not answering yet: ${this.options.what} failed; retrying`, {
          attempt: this.failures,
          retry_in_ms: delayMs,
          error: this.lastError,
        });
        this.state = 'waiting';
        this.timer = setTimeout(() => this.try(), delayMs);
      },
    );
  }
}
