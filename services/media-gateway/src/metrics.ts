import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallMetrics } from './calls/call';

/** Where live figures come from at scrape time. */
export interface LiveCalls {
  readonly active: number;
  /** Sum over calls in progress of the per-call counters. */
  totals(): { playoutMs: number; jitterMs: number; calls: number };
}

/**
 * The gateway's Prometheus metrics: calls, the AI WebSocket, frames through the
 * media path, playout depth, jitter, and the latency the bridge itself adds.
 */
export class GatewayMetrics implements CallMetrics {
  readonly registry = new Registry();
  readonly callsTotal: Counter;
  readonly callsEnded: Counter<'reason'>;
  readonly callDuration: Histogram;
  readonly rtpToWs: Histogram;
  readonly wsToRtp: Histogram;
  private readonly frames_: Counter<'direction'>;
  readonly wsEvents: Counter<'event'>;
  private readonly dtmfPresses: Counter<'source'>;
  private readonly sipRejected_: Counter<'reason'>;
  private readonly holds_: Counter<'action' | 'outcome'>;
  private readonly holdMusicRefused_: Counter<'code'>;
  private readonly outbound_: Counter<'outcome'>;
  private readonly transfers_: Counter<'mode' | 'outcome'>;

  constructor(live: LiveCalls) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    new Gauge({
      name: 'gateway_active_ai_calls',
      help: 'AI calls in progress on this gateway.',
      registers,
      collect() {
        this.set(live.active);
      },
    });
    new Gauge({
      name: 'gateway_playout_queue_ms',
      help: 'AI speech waiting to be played, summed over calls in progress.',
      registers,
      collect() {
        this.set(live.totals().playoutMs);
      },
    });
    new Gauge({
      name: 'gateway_jitter_buffer_delay_ms',
      help: 'Mean jitter-buffer delay over calls in progress.',
      registers,
      collect() {
        const t = live.totals();
        this.set(t.calls > 0 ? t.jitterMs / t.calls : 0);
      },
    });
    this.callsTotal = new Counter({ name: 'gateway_calls_total', help: 'AI calls answered.', registers });
    this.callsEnded = new Counter({
      name: 'gateway_calls_ended_total',
      help: 'AI calls ended, by reason class.',
      labelNames: ['reason'],
      registers,
    });
    this.callDuration = new Histogram({
      name: 'gateway_call_duration_seconds',
      help: 'Length of AI calls.',
      buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    const latencyBuckets = [1, 2, 5, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500];
    this.rtpToWs = new Histogram({
      name: 'gateway_bridge_latency_rtp_to_ws_ms',
      help: 'Caller audio: RTP packet arrival → frame handed to the AI WebSocket (jitter buffer included).',
      buckets: latencyBuckets,
      registers,
    });
    this.wsToRtp = new Histogram({
      name: 'gateway_bridge_latency_ws_to_rtp_ms',
      help: 'AI speech: first audio of an utterance from the WebSocket → its first RTP packet.',
      buckets: latencyBuckets,
      registers,
    });
    this.frames_ = new Counter({
      name: 'gateway_frames_total',
      help: 'Media frames by direction: in (RTP from caller), out (RTP to caller), lost, concealed, to_ai, from_ai.',
      labelNames: ['direction'],
      registers,
    });
    this.wsEvents = new Counter({
      name: 'gateway_ai_ws_events_total',
      help: 'AI WebSocket connects, reconnects and failures.',
      labelNames: ['event'],
      registers,
    });
    this.dtmfPresses = new Counter({
      name: 'gateway_dtmf_total',
      help: 'Key presses reported to the AI, by source.',
      labelNames: ['source'],
      registers,
    });
    this.sipRejected_ = new Counter({
      name: 'gateway_sip_rejected_total',
      help: 'SIP requests refused with 403 because they did not come through Kamailio: no_proof, bad_proof (forged or another Call-ID), stale_proof (outside PROXY_PROOF_MAX_AGE_SECONDS), foreign_cancel (CANCEL from another address than its INVITE).',
      labelNames: ['reason'],
      registers,
    });
    // Present at 0 from the start, so an alert on a rate has a series to read.
    for (const reason of ['no_proof', 'bad_proof', 'stale_proof', 'foreign_cancel'])
      this.sipRejected_.inc({ reason }, 0);
    this.outbound_ = new Counter({
      name: 'gateway_outbound_calls_total',
      help: 'Calls this gateway placed (POST /api/calls/initiate), by outcome: answered, busy, no_answer, cancelled, failed, or bad_command (an originate command whose arguments were refused).',
      labelNames: ['outcome'],
      registers,
    });
    this.transfers_ = new Counter({
      name: 'gateway_transfers_total',
      help: 'Transfers of live calls, by mode (blind, bridged, warm) and outcome: requested, succeeded, failed, cancelled, fallback (a refused REFER went on bridged), refused (a target outside our domain or unreadable).',
      labelNames: ['mode', 'outcome'],
      registers,
    });
    this.holds_ = new Counter({
      name: 'gateway_holds_total',
      help: 'Holds and resumes the gateway did (re-INVITE to the caller), asked by the API or the AI: outcome ok, or the error code (ERR_CALL_ON_HOLD, ERR_CALL_HOLD_FAILED, ...).',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.holdMusicRefused_ = new Counter({
      name: 'gateway_hold_music_refused_total',
      help: "Numbers' hold music files that could not be played, by error code (ERR_HOLD_MUSIC_NAME, _OUTSIDE: a path outside HOLD_MUSIC_DIR, _UNREADABLE, _FORMAT); the default tune played instead.",
      labelNames: ['code'],
      registers,
    });
  }

  /** A gateway hold or resume (API or AI): `ok`, or the error code it failed with. */
  hold(action: 'hold' | 'resume', outcome: string): void {
    this.holds_.inc({ action, outcome });
  }

  /** A number's hold music that could not be played (the default played instead). */
  holdMusicRefused(code: string): void {
    this.holdMusicRefused_.inc({ code });
  }

  callStarted(): void {
    this.callsTotal.inc();
  }

  callEnded(reason: string, durationMs: number): void {
    this.callsEnded.inc({ reason: reason.split(':')[0]?.trim().slice(0, 40) || 'unknown' });
    this.callDuration.observe(durationMs / 1000);
  }

  rtpToWsLatency(ms: number): void {
    this.rtpToWs.observe(ms);
  }

  wsToRtpLatency(ms: number): void {
    this.wsToRtp.observe(ms);
  }

  frames(direction: 'in' | 'out' | 'lost' | 'concealed' | 'to_ai' | 'from_ai', count: number): void {
    if (count > 0) this.frames_.inc({ direction }, count);
  }

  wsEvent(event: 'connect' | 'failure' | 'reconnecting' | 'reconnect' | 'down'): void {
    this.wsEvents.inc({ event });
  }

  dtmf(source: string): void {
    this.dtmfPresses.inc({ source });
  }

  sipRejected(reason: string): void {
    this.sipRejected_.inc({ reason });
  }

  outbound(outcome: string): void {
    this.outbound_.inc({ outcome });
  }

  transfer(mode: string, outcome: string): void {
    this.transfers_.inc({ mode, outcome });
  }
}
