import type { IncomingHttpHeaders } from 'node:http';
import { encodeUlaw } from '../../../common/src/audio/g711';
import { Downsampler2x } from '../../../common/src/audio/resampler';
import { AUTH_HEADERS } from '../../../common/src/ai-protocol/auth';
import { decodeBase64 } from '../../../common/src/ai-protocol/wire/pcm';
import {
  parseTwilioGatewayFrame,
  type TwilioAgentFrame,
  type TwilioGatewayFrame,
} from '../../../common/src/ai-protocol/wire/twilio';
import type { AgentDialect, Credentials, DecodedEvents, GatewayEvent, WireFrame } from './types';

/**
 * The `twilio` dialect, AI side: what an agent written for Twilio Media Streams does,
 * plus reading the gateway's credentials from the upgrade request.
 */
export class TwilioAgentDialect implements AgentDialect {
  readonly name = 'twilio';
  readonly credentialsInHeaders = true;
  private streamSid = '';
  private readonly down = new Downsampler2x();

  headerCredentials(headers: IncomingHttpHeaders): Credentials {
    const one = (name: string): string => {
      const v = headers[name];
      return (Array.isArray(v) ? v[0] : v) ?? '';
    };
    return {
      token: one(AUTH_HEADERS.authorization),
      signature: one(AUTH_HEADERS.signature),
      timestamp: one(AUTH_HEADERS.timestamp),
      callId: one(AUTH_HEADERS.callId),
      reconnected: one(AUTH_HEADERS.reconnected) === 'true',
    };
  }

  decode(data: Buffer, isBinary: boolean): DecodedEvents {
    if (isBinary) return { ok: false, reason: 'binary frame on the twilio dialect' };
    const parsed = parseTwilioGatewayFrame(data.toString('utf8'));
    if (!parsed.ok) return parsed;
    const event = this.toEvent(parsed.frame);
    return 'invalid' in event ? { ok: false, reason: event.invalid } : { ok: true, events: [event] };
  }

  accepted(): null {
    return null;
  }

  refused(code: string, message: string): WireFrame {
    return this.frame({ event: 'error', error: { code, message } });
  }

  echo(payload: Buffer): WireFrame {
    return this.frame({ event: 'media', streamSid: this.streamSid, media: { payload: payload.toString('base64') } });
  }

  speak(pcm16k: Int16Array): WireFrame {
    return this.echo(Buffer.from(encodeUlaw(this.down.process(pcm16k))));
  }

  text(): null {
    return null;
  }

  mark(name: string): WireFrame {
    return this.frame({ event: 'mark', streamSid: this.streamSid, mark: { name } });
  }

  clear(): WireFrame {
    return this.frame({ event: 'clear', streamSid: this.streamSid });
  }

  hangup(reason: string): WireFrame {
    return this.frame({ event: 'hangup', streamSid: this.streamSid, hangup: { reason } });
  }

  pong(): null {
    return null;
  }

  sms(): null {
    return null;
  }

  smsAck(): null {
    return null;
  }

  private toEvent(frame: TwilioGatewayFrame): GatewayEvent | { invalid: string } {
    switch (frame.event) {
      case 'connected':
        return { kind: 'noop' };
      case 'start':
        this.streamSid = frame.start.streamSid;
        return {
          kind: 'start',
          callId: frame.start.callSid,
          mode: frame.start.customParameters['mode'],
          reconnected: frame.start.customParameters['reconnected'] === 'true',
        };
      case 'media': {
        const payload = decodeBase64(frame.media.payload);
        if (!payload) return { invalid: 'media: payload is not base64' };
        return { kind: 'audio', payload, sequence: Number(frame.media.chunk) };
      }
      case 'dtmf':
        return { kind: 'dtmf', digit: frame.dtmf.digit };
      case 'mark':
        return { kind: 'mark', name: frame.mark.name, playedMs: frame.mark.played_ms, truncated: frame.mark.truncated };
      case 'stop':
        return { kind: 'end', reason: 'stop' };
      case 'transfer_target_answered':
      case 'transfer_failed':
        return { kind: 'noop' };
      case 'hold':
        return { kind: 'hold' };
      case 'resume':
        return { kind: 'resume' };
    }
  }

  private frame(frame: TwilioAgentFrame): string {
    return JSON.stringify(frame);
  }
}
