import type { Logger } from '../../../common/src/logger';
import { KamailioRpcError } from '../../../common/src/kamailio/rpc';
import { kamailioProblem } from '../kamailio/control';
import { describeReload, type Reload } from './kamailio-rows';

/** The reload RPCs, as KamailioControl offers them. */
export interface ReloadTarget {
  reloadDispatcher(): Promise<void>;
  reloadAddresses(): Promise<void>;
  reloadHtable(table: string): Promise<void>;
  refreshRegistration(lUuid: string): Promise<unknown>;
}

export interface ReloadOptions {
  /** Attempts while Kamailio answers "ongoing reload" (dispatcher / permissions reload_delta). */
  readonly attempts?: number;
  readonly retryDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What became of the reloads one change asked for. */
export interface ReloadOutcome {
  readonly failures: ReadonlyArray<{ readonly rpc: string; readonly problem: string }>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// dispatcher and permissions refuse a reload within reload_delta seconds of the last
// one ("ongoing reload" / "Ongoing reload"): wait and try again.
function isOngoingReload(err: unknown): boolean {
  return err instanceof KamailioRpcError && /ongoing reload/i.test(err.message);
}

function reloadKey(reload: Reload): string {
  switch (reload.kind) {
    case 'dispatcher':
    case 'address':
      return reload.kind;
    case 'htable':
      return `htable:${reload.table}`;
    case 'registration':
      return `registration:${reload.l_uuid}`;
  }
}

interface Flight {
  running?: Promise<void>;
  queued?: Promise<void>;
}

/**
 * Runs Kamailio reloads after database commits. Every reload re-reads the current
 * database, so requests for the same reload coalesce: a request waits for a run that
 * starts after it was made (the one in flight may predate its commit), and all
 * requests made while that run is queued share it. "ongoing reload" refusals are
 * retried.
 */
export class KamailioSync {
  private readonly flights = new Map<string, Flight>();
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly target: ReloadTarget,
    private readonly logger: Logger,
    options: ReloadOptions = {},
  ) {
    this.attempts = options.attempts ?? 8;
    this.retryDelayMs = options.retryDelayMs ?? 750;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** Runs the reloads (in parallel); failures are reported, not thrown. */
  async apply(reloads: readonly Reload[]): Promise<ReloadOutcome> {
    const results = await Promise.all(
      reloads.map(async (reload) => {
        try {
          await this.request(reload);
          return undefined;
        } catch (err) {
          const problem = kamailioProblem(err);
          if (problem === undefined) throw err;
          this.logger.warn('Kamailio reload failed', { rpc: describeReload(reload), reason: problem });
          return { rpc: describeReload(reload), problem };
        }
      }),
    );
    return { failures: results.filter((r): r is { rpc: string; problem: string } => r !== undefined) };
  }

  private request(reload: Reload): Promise<void> {
    const key = reloadKey(reload);
    let flight = this.flights.get(key);
    if (!flight) {
      flight = {};
      this.flights.set(key, flight);
    }
    const f = flight;
    if (f.queued) return f.queued;
    if (!f.running) return this.start(key, f, reload);
    const queued = f.running
      .catch(() => undefined)
      .then(() => {
        if (f.queued === queued) f.queued = undefined;
        return this.start(key, f, reload);
      });
    f.queued = queued;
    return queued;
  }

  private start(key: string, flight: Flight, reload: Reload): Promise<void> {
    const running = this.run(reload).finally(() => {
      if (flight.running === running) flight.running = undefined;
      if (!flight.running && !flight.queued) this.flights.delete(key);
    });
    flight.running = running;
    return running;
  }

  private async run(reload: Reload): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.once(reload);
        return;
      } catch (err) {
        if (!isOngoingReload(err) || attempt >= this.attempts) throw err;
        await this.sleep(this.retryDelayMs);
      }
    }
  }

  private once(reload: Reload): Promise<unknown> {
    switch (reload.kind) {
      case 'dispatcher':
        return this.target.reloadDispatcher();
      case 'address':
        return this.target.reloadAddresses();
      case 'htable':
        return this.target.reloadHtable(reload.table);
      case 'registration':
        return this.target.refreshRegistration(reload.l_uuid);
    }
  }
}

/**
 * The `warning` of a response whose database change stands but which Kamailio did
 * not (fully) take: it reads every table again when it starts.
 */
export function reloadWarning(outcome: ReloadOutcome): string | undefined {
  if (outcome.failures.length === 0) return undefined;
  const parts = outcome.failures.map(({ rpc, problem }) => {
    if (rpc === 'dispatcher.reload' && /: 500 reload failed$/i.test(problem)) {
      return `${rpc}: Kamailio skipped at least one trunk destination (a proxy host name that does not resolve?)`;
    }
    return problem.startsWith(rpc.split(' ')[0] as string) ? problem : `${rpc}: ${problem}`;
  });
  return `saved, but Kamailio did not take all of it (${parts.join('; ')}); it reads these tables again when it restarts`;
}
