import type { Config } from '../config';
import type { RelayLogger } from './control-channel';
import type { MediaRelay } from './relay';
import { RtpengineClient } from './rtpengine/client';
import { RtpproxyClient } from './rtpproxy/client';

// The surface callers build on: the factory, the relay-neutral interface with its
// request and result types, and the errors. The two clients are reached through
// createMediaRelay only; their wire codecs and the control channel stay inside.
export * from './relay';
export * from './errors';
export type { RelayLogger } from './control-channel';

export interface MediaRelayOptions {
  /** Where the relay's control socket listens. Default: RTPENGINE_NG_HOST for rtpengine, loopback for RTPProxy (a local stack's relay only). */
  readonly controlHost?: string;
  /** Total time per request, retransmissions included (default 3000 ms). */
  readonly timeoutMs?: number;
  /** First retransmission interval (default 250 ms, doubling). */
  readonly retransmitMs?: number;
}

/**
 * The relay client for the configured relay: rtpengine over NG on
 * `rtpengineNgPort`, or RTPProxy on `rtpproxyControlPort`. The caller owns it and
 * closes it.
 */
export function createMediaRelay(
  relayConfig: Config['relay'],
  logger?: RelayLogger,
  options: MediaRelayOptions = {},
): MediaRelay {
  const common = {
    timeoutMs: options.timeoutMs,
    retransmitMs: options.retransmitMs,
    logger,
  };
  switch (relayConfig.kind) {
    case 'rtpengine':
      return new RtpengineClient({
        ...common,
        host: options.controlHost ?? relayConfig.rtpengineNgHost,
        port: relayConfig.rtpengineNgPort,
      });
    case 'rtpproxy':
      return new RtpproxyClient({
        ...common,
        host: options.controlHost ?? '127.0.0.1',
        port: relayConfig.rtpproxyControlPort,
      });
  }
}
