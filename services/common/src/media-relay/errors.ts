import type { MediaRelayKind } from '../config';
import { CodedError } from '../errors';

/**
 * Failures of the relay control protocols. Each carries a stable `code` so callers
 * (the control-plane, the media gateway) can map them without matching on messages.
 * The message names the relay and the command; the catalogue says what each code means.
 */
export const MEDIA_RELAY_ERRORS = {
  ERR_RELAY_UNAVAILABLE: 'the relay did not answer',
  ERR_RELAY_REJECTED: 'the relay answered with an error',
  ERR_RELAY_PROTOCOL: 'the relay answered with something this client cannot read',
  ERR_RELAY_OPTION_UNSUPPORTED: 'the relay cannot honour an option',
} as const;

export type MediaRelayErrorCode = keyof typeof MEDIA_RELAY_ERRORS;

export abstract class MediaRelayError<C extends MediaRelayErrorCode = MediaRelayErrorCode> extends CodedError<C> {
  constructor(
    code: C,
    readonly relay: MediaRelayKind,
    readonly command: string,
    message: string,
  ) {
    super(code, `${relay} ${command}: ${message}`);
  }
}

/** Why a request got no answer. */
export type UnavailableReason = 'timeout' | 'unreachable' | 'closed';

/** The relay did not answer: nothing listening, no reply before the deadline, or the client was closed. */
export class RelayUnavailableError extends MediaRelayError<'ERR_RELAY_UNAVAILABLE'> {
  constructor(
    relay: MediaRelayKind,
    command: string,
    readonly reason: UnavailableReason,
    detail: string,
  ) {
    super('ERR_RELAY_UNAVAILABLE', relay, command, `relay did not answer (${detail})`);
  }
}

/** The relay answered with an error (rtpengine `result: error`, RTPProxy `E<code>`). */
export class RelayCommandError extends MediaRelayError<'ERR_RELAY_REJECTED'> {
  constructor(
    relay: MediaRelayKind,
    command: string,
    /** The relay's own words: rtpengine's `error-reason`, or RTPProxy's `E<n>` with its meaning. */
    readonly relayReason: string,
    /** RTPProxy's numeric error code (`E50` → 50); undefined for rtpengine. */
    readonly relayCode?: number,
  ) {
    super('ERR_RELAY_REJECTED', relay, command, `relay refused: ${relayReason}`);
  }
}

/** The relay answered with something this client cannot read. */
export class RelayProtocolError extends MediaRelayError<'ERR_RELAY_PROTOCOL'> {
  constructor(relay: MediaRelayKind, command: string, detail: string) {
    super('ERR_RELAY_PROTOCOL', relay, command, `unreadable reply (${detail})`);
  }
}

/**
 * An option this relay cannot honour (e.g. transcoding on RTPProxy). Raised before
 * anything is sent, so nothing is half-done on the relay. Check
 * {@link MediaRelay.capabilities} first to avoid it.
 */
export class RelayOptionUnsupportedError extends MediaRelayError<'ERR_RELAY_OPTION_UNSUPPORTED'> {
  constructor(
    relay: MediaRelayKind,
    command: string,
    readonly option: string,
    detail: string,
  ) {
    super('ERR_RELAY_OPTION_UNSUPPORTED', relay, command, `option ${option} is not supported: ${detail}`);
  }
}
