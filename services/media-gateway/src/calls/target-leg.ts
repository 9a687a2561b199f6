import { randomUUID } from 'node:crypto';
import { PCMA, PCMU } from '../../../common/src/audio/g711';
import { SdpOfferer } from '../sdp/offer';
import { SwitchableSocket, type BridgeSide } from './bridge';
import type { CallDeps, DialogLike } from './call';
import { MediaLeg, type RtpSocket } from './media-leg';
import type { Dial, DialResult, OutgoingLeg } from './outbound';

/** A person the gateway dialled for a caller, once they answered: their media and dialog. */
export interface TargetLeg {
  readonly side: BridgeSide;
  readonly dialog: DialogLike;
  /** Stops its clock subscription. */
  readonly unsubscribe: () => void;
}

/** What dialling a bridge's far leg needs of the gateway. */
export interface TargetDialDeps {
  readonly dial: Dial;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly rtpAddress: string;
  readonly mediaParts: CallDeps['mediaParts'];
  readonly subscribeClock: CallDeps['subscribeClock'];
}

/**
 * One INVITE to a person the caller is to be joined with (a bridged or warm transfer,
 * CallHandle.bridgeTo): its own RTP socket, an offer of the caller's codec only (the
 * relay transcodes the target's side to it, so the bridge can pass RTP through: a
 * leg decodes one codec, and a peer may send any codec listed in an answer, RFC 3264
 * §6.1), and, once answered, a media leg on the shared clock.
 */
export class TargetDial {
  readonly outgoing: OutgoingLeg;
  private closed = false;

  private constructor(
    private readonly deps: TargetDialDeps,
    private readonly socket: SwitchableSocket,
    private readonly offerer: SdpOfferer,
    req: { from: string; to: string },
  ) {
    this.outgoing = deps.dial({ sipCallId: randomUUID(), from: req.from, to: req.to, sdp: offerer.offer });
  }

  /** Opens the socket and sends the INVITE; throws when no media port is free. */
  static async place(deps: TargetDialDeps, req: { from: string; to: string; codecPt: number }): Promise<TargetDial> {
    const socket = new SwitchableSocket(await deps.openSocket());
    const codec = req.codecPt === PCMA.payloadType ? 'PCMA' : 'PCMU';
    const offerer = new SdpOfferer({ address: deps.rtpAddress, port: socket.localPort, codecs: [codec] });
    return new TargetDial(deps, socket, offerer, req);
  }

  get result(): Promise<DialResult> {
    return this.outgoing.result;
  }

  /**
   * The target answered: its media leg, or null when its answer is unusable (the
   * dialog is then hung up and the socket closed).
   */
  async answered(
    r: Extract<DialResult, { ok: true }>,
    log: { warn(m: string, meta?: object): unknown },
  ): Promise<TargetLeg | null> {
    const taken = this.offerer.takeAnswer(r.answer);
    if (!taken.ok) {
      log.warn('the dialled party answered with unusable SDP', { reason: taken.reason });
      await this.hangUp(r);
      return null;
    }
    const m = taken.media;
    const codec = m.codec.name === 'PCMA' ? PCMA : PCMU;
    const tePt = m.telephoneEvent?.payloadType ?? null;
    let remote = { address: m.remote.address, port: m.remote.port };
    const media = new MediaLeg({
      ...this.deps.mediaParts(codec.payloadType, tePt),
      socket: this.socket,
      codec,
      telephoneEventPt: tePt,
      remote,
    });
    const answerer = this.offerer.answerer();
    r.dialog.onReinvite((offer, reply) => {
      // The target's re-offers (hold, a new address): answered in our session (RFC 3264 §8).
      const a = offer ? answerer.answer(offer) : null;
      if (a && a.ok) {
        remote = { address: a.media.remote.address, port: a.media.remote.port };
        media.setRemote(remote);
        reply(a.sdp);
      } else reply('');
    });
    const unsubscribe = this.deps.subscribeClock((_, now) => media.tick(now));
    return {
      side: {
        leg: media,
        socket: this.socket,
        codecPt: codec.payloadType,
        telephoneEventPt: tePt,
        remote: () => remote,
      },
      dialog: r.dialog,
      unsubscribe,
    };
  }

  /** A 2xx nobody wants any more (cancelled, crossed our CANCEL: RFC 3261 §9.1): BYE and release the socket. */
  async hangUp(r: Extract<DialResult, { ok: true }>): Promise<void> {
    this.discard();
    await r.dialog.bye().catch(() => undefined);
  }

  /** Releases the socket of a dial that did not end in an answer. Idempotent. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}
