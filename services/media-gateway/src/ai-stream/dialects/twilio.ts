import { createHash, randomBytes } from 'node:crypto';
import { authHeaders, type AuthMaterial } from '../../../../common/src/ai-protocol/auth';
import type { WireFrame } from '../queue';
import { FRAME_MS, decodeBase64 } from '../../../../common/src/ai-protocol/wire/pcm';
import {
  TWILIO_MEDIA_FORMAT,
  TWILIO_PROTOCOL,
  TWILIO_VERSION,
  parseTwilioAgentFrame,
  type TwilioAgentFrame,
  type TwilioGatewayFrame,
} from '../../../../common/src/ai-protocol/wire/twilio';
import type { AiMessage, CallEvent, CallInfo, Decoded, GatewayDialect } from './types';

/** 16 kHz PCM ⇄ 8 kHz μ-law, with filter memory across calls of one stream. */
export interface UlawTranscoder {
  /** 320 samples at 16 kHz → 160 μ-law bytes */
  toUlaw8k(frame16k: Int16Array): Uint8Array;
  /** μ-law bytes of any length → PCM16 at 16 kHz, twice as many samples */
  fromUlaw8k(ulaw: Uint8Array): Int16Array;
}

/** Twilio's AccountSid shape (AC + 32 hex); there is no account here, so a fixed one. */
export const BRIDGE_ACCOUNT_SID = `AC${createHash('md5').update('sip-ai-bridge').digest('hex')}`;

/**
 * The `twilio` dialect: the gateway plays Twilio. Credentials travel in the upgrade
 * request's headers (an agent written for Twilio reads no auth frame); the stream's
 * identity (`streamSid`) survives reconnects, `sequenceNumber` restarts per socket as
 * it does on Twilio, and `chunk`/`timestamp` count caller audio from the call's start.
 */
export class TwilioDialect implements GatewayDialect {
  readonly name = 'twilio';
  readonly awaitsAcceptance = false;
  readonly streamSid = `MZ${randomBytes(16).toString('hex')}`;
  private sequenceNumber = 0;
  private chunk = 0;

  constructor(
    private readonly call: CallInfo,
    private readonly transcoder: UlawTranscoder,
  ) {}

  handshakeHeaders(auth: AuthMaterial): Record<string, string> {
    return authHeaders(auth);
  }

  opening(auth: AuthMaterial): WireFrame[] {
    this.sequenceNumber = 0;
    const customParameters: Record<string, string> = {
      ...(this.call.customParameters ?? {}),
      from: this.call.from,
      to: this.call.to,
      direction: this.call.direction,
      conversation_id: this.call.conversationId,
    };
    if (auth.reconnected) customParameters['reconnected'] = 'true';
    return [
      JSON.stringify({
        event: 'connected',
        protocol: TWILIO_PROTOCOL,
        version: TWILIO_VERSION,
      } satisfies TwilioGatewayFrame),
      this.frame({
        event: 'start',
        sequenceNumber: this.nextSequence(),
        streamSid: this.streamSid,
        start: {
          streamSid: this.streamSid,
          accountSid: BRIDGE_ACCOUNT_SID,
          callSid: this.call.callId,
          tracks: ['inbound'],
          customParameters,
          mediaFormat: TWILIO_MEDIA_FORMAT,
        },
      }),
    ];
  }

  audio(frame16k: Int16Array): WireFrame {
    const payload = Buffer.from(this.transcoder.toUlaw8k(frame16k)).toString('base64');
    const timestamp = this.chunk * FRAME_MS;
    this.chunk++;
    return this.frame({
      event: 'media',
      sequenceNumber: this.nextSequence(),
      streamSid: this.streamSid,
      media: { track: 'inbound', chunk: String(this.chunk), timestamp: String(timestamp), payload },
    });
  }

  dtmf(digit: string): WireFrame {
    return this.frame({
      event: 'dtmf',
      sequenceNumber: this.nextSequence(),
      streamSid: this.streamSid,
      dtmf: { track: 'inbound_track', digit },
    });
  }

  markPlayed(name: string, playedMs: number, truncated: boolean): WireFrame {
    return this.frame({
      event: 'mark',
      sequenceNumber: this.nextSequence(),
      streamSid: this.streamSid,
      mark: { name, played_ms: Math.max(0, Math.round(playedMs)), truncated },
    });
  }

  /** Transfer progress, hold and resume (extensions, see wire/twilio.ts; an agent written for Twilio ignores them); no SMS event. */
  event(event: CallEvent): WireFrame | null {
    switch (event.type) {
      case 'transfer_target_answered':
        return this.frame({
          event: event.type,
          sequenceNumber: this.nextSequence(),
          streamSid: this.streamSid,
          transfer: { target: event.target, ...(event.announce === undefined ? {} : { announce: event.announce }) },
        });
      case 'transfer_failed':
        return this.frame({
          event: event.type,
          sequenceNumber: this.nextSequence(),
          streamSid: this.streamSid,
          transfer: {
            target: event.target,
            mode: event.mode,
            reason: event.reason,
            ...(event.sipStatus === undefined ? {} : { sip_status: event.sipStatus }),
          },
        });
      case 'hold':
      case 'resume': {
        const body = { callSid: this.call.callId, held_by: event.heldBy ?? 'caller' };
        const base = { sequenceNumber: this.nextSequence(), streamSid: this.streamSid };
        return this.frame(
          event.type === 'hold' ? { event: 'hold', ...base, hold: body } : { event: 'resume', ...base, resume: body },
        );
      }
      default:
        return null;
    }
  }

  // Twilio has none of these: an agent written for Twilio would not know them.
  flow(): null {
    return null;
  }
  ping(): null {
    return null;
  }
  pong(): null {
    return null;
  }
  error(): null {
    return null;
  }
  gap(): null {
    return null;
  }

  end(): WireFrame {
    return this.frame({
      event: 'stop',
      sequenceNumber: this.nextSequence(),
      streamSid: this.streamSid,
      stop: { accountSid: BRIDGE_ACCOUNT_SID, callSid: this.call.callId },
    });
  }

  decode(data: Buffer, isBinary: boolean): Decoded {
    if (isBinary) return { ok: false, reason: 'binary frame on the twilio dialect' };
    const parsed = parseTwilioAgentFrame(data.toString('utf8'));
    if (!parsed.ok) return parsed;
    return this.toMessages(parsed.frame);
  }

  private toMessages(frame: TwilioAgentFrame): Decoded {
    const one = (message: AiMessage): Decoded => ({ ok: true, messages: [message] });
    switch (frame.event) {
      case 'media': {
        const ulaw = decodeBase64(frame.media.payload);
        if (!ulaw) return { ok: false, reason: 'media: payload is not base64' };
        return {
          ok: true,
          messages: ulaw.length > 0 ? [{ kind: 'audio', pcm: this.transcoder.fromUlaw8k(ulaw) }] : [],
        };
      }
      case 'mark':
        return one({ kind: 'mark', name: frame.mark.name });
      case 'clear':
        return one({ kind: 'clear' });
      case 'hangup':
        return one({ kind: 'hangup', reason: frame.hangup?.reason || 'ai_hangup' });
      case 'transfer':
        return one({ kind: 'transfer', target: frame.transfer.target, mode: frame.transfer.mode ?? 'auto' });
      case 'transfer_complete':
      case 'transfer_cancel':
        return one({ kind: frame.event });
      case 'hold':
      case 'resume':
        return one({ kind: frame.event });
      case 'send_dtmf':
        return one({ kind: 'send_dtmf', digits: frame.send_dtmf.digits, durationMs: frame.send_dtmf.duration_ms });
      case 'error':
        return one({ kind: 'error', code: frame.error.code, message: frame.error.message });
    }
  }

  private nextSequence(): string {
    this.sequenceNumber++;
    return String(this.sequenceNumber);
  }

  private frame(frame: TwilioGatewayFrame): string {
    return JSON.stringify(frame);
  }
}
