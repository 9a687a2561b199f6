import type { MediaRelayKind } from '../config';

/**
 * Failures of the relay control protocols. Each carries a stable `code` so callers
 * (the control-plane's HTTP layer, the media gateway) can map them without
 * matching on messages: an unavailable relay is a 503, the rest are 500s.
 */
export type MediaRelayErrorCode =
  'ERR_RELAY_UNAVAILABLE' | 'ERR_RELAY_REJECTED' | 'ERR_RELAY_PROTOCOL' | 'ERR_RELAY_OPTION_UNSUPPORTED';

export abstract class MediaRelayError extends Error {
  abstract readonly code: MediaRelayErrorCode;

  constructor(
    readonly relay: MediaRelayKind,
    readonly command: string,
    message: string,
  ) {
    super(`${relay} ${command}: ${message}`);
  }
}

/** Why a request got no answer. */
export type UnavailableReason = 'timeout' | 'unreachable' | 'closed';

/** The relay did not answer: nothing listening, no reply before the deadline, or the client was closed. */
export class RelayUnavailableError extends MediaRelayError {
  readonly code = 'ERR_RELAY_UNAVAILABLE' as const;

  constructor(
    relay: MediaRelayKind,
    command: string,
    readonly reason: UnavailableReason,
    detail: string,
  ) {
    super(relay, command, `relay did not answer (${detail})`);
    this.name = 'RelayUnavailableError';
  }
}

/** The relay answered with an error (rtpengine `result: error`, RTPProxy `E<code>`). */
export class RelayCommandError extends MediaRelayError {
  readonly code = 'ERR_RELAY_REJECTED' as const;

  constructor(
    relay: MediaRelayKind,
    command: string,
    /** The relay's own words: rtpengine's `error-reason`, or RTPProxy's `E<n>` with its meaning. */
    readonly relayReason: string,
    /** RTPProxy's numeric error code (`E50` → 50); undefined for rtpengine. */
    readonly relayCode?: number,
  ) {
    super(relay, command, `relay refused: ${relayReason}`);
    this.name = 'RelayCommandError';
  }
}

/** The relay answered with something this client cannot read. */
export class RelayProtocolError extends MediaRelayError {
  readonly code = 'ERR_RELAY_PROTOCOL' as const;

  constructor(relay: MediaRelayKind, command: string, detail: string) {
    super(relay, command, `unreadable reply (${detail})`);
    this.name = 'RelayProtocolError';
  }
}

/**
 * An option this relay cannot honour (e.g. transcoding on RTPProxy). Raised before
 * anything is sent, so nothing is half-done on the relay. Check
 * {@link MediaRelay.capabilities} first to avoid it.
 */
export class RelayOptionUnsupportedError extends MediaRelayError {
  readonly code = 'ERR_RELAY_OPTION_UNSUPPORTED' as const;

  constructor(
    relay: MediaRelayKind,
    command: string,
    readonly option: string,
    detail: string,
  ) {
    super(relay, command, `option ${option} is not supported: ${detail}`);
    this.name = 'RelayOptionUnsupportedError';
  }
}
