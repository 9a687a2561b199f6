import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../../common/src/logger';
import type { CallRef, CallStats } from '../../../common/src/media-relay/relay';
import { deadline } from '../health/deadline';

/** The part of the media relay client (services/common/src/media-relay) the drop counter reads. */
export interface RelayCallReader {
  readonly capabilities: { readonly list: boolean };
  list(limit?: number): Promise<string[]>;
  query(call: CallRef): Promise<CallStats>;
}

/** Calls read per scrape; beyond that the rest wait for the next scrape. */
export const RELAY_DROP_CALLS_PER_SCRAPE = 500;

/**
 * `media_relay_dropped_packets_total`: packets the relay dropped on a call's ports,
 * which with route[MEDIA]'s `strict-source` are mostly RTP from an address that is
 * not the call's party (RTP bleed, docs/security.md). rtpengine 10.5 counts them per
 * stream only (`query` → `stats.errors`; its `statistics` totals leave them out), so
 * each scrape lists the calls, queries each and adds what grew since the previous
 * scrape, logging the call. Drops after a call's last scrape are not counted.
 * Absent with RTPProxy, which has no `list` and no such counter.
 */
export class RelayDropCounter {
  private readonly counter: Counter;
  /** Errors per Call-ID seen at the previous scrape; calls no longer listed are forgotten. */
  private seen = new Map<string, number>();

  constructor(
    private readonly relay: RelayCallReader,
    registry: Registry,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {
    this.counter = new Counter({
      name: 'media_relay_dropped_packets_total',
      help: 'Packets the media relay dropped on call ports, mostly RTP from a source that is not the call party (strict-source); read from rtpengine per call at scrape time.',
      registers: [registry],
      collect: async () => {
        await this.refresh();
      },
    });
  }

  private async refresh(): Promise<void> {
    if (!this.relay.capabilities.list) return;
    try {
      await deadline(this.readCalls(), this.timeoutMs, 'media relay list/query');
    } catch (err) {
      this.logger.debug('media relay call counters unavailable for this scrape', { reason: (err as Error).message });
    }
  }

  private async readCalls(): Promise<void> {
    const callIds = await this.relay.list(RELAY_DROP_CALLS_PER_SCRAPE);
    const now = new Map<string, number>();
    for (const callId of callIds) {
      // No From tag: rtpengine then reports every party of the call.
      const stats = await this.relay.query({ callId, fromTag: '' }).catch(() => undefined);
      if (!stats) continue;
      const errors = stats.legs.reduce((n, l) => n + (l.errors ?? 0), 0);
      now.set(callId, errors);
      const grown = errors - (this.seen.get(callId) ?? 0);
      if (grown > 0) {
        this.counter.inc(grown);
        this.logger.warn(
          'media relay dropped packets on a call’s ports (strict-source: from an address that is not the party; the relay log names it)',
          {
            call_id: callId,
            dropped: grown,
            parties: stats.legs.map((l) => ({ tag: l.tag, endpoint: l.endpoint, errors: l.errors ?? 0 })),
          },
        );
      }
    }
    this.seen = now;
  }
}
