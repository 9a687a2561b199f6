import { decodeBase64, int16ToBase64, int16ToPcm16le } from '../../../common/src/ai-protocol/wire/pcm';
import {
  parseOlibGatewayFrame,
  serialize,
  type OlibAiFrame,
  type OlibGatewayFrame,
} from '../../../common/src/ai-protocol/wire/olib';
import { parseSmsSessionAuth, type OlibSmsAck } from '../../../common/src/ai-protocol/sms-session';
import type { AgentDialect, DecodedEvents, GatewayEvent, WireFrame } from './types';

/**
 * `olib` (JSON, base64 audio) and `binary` (same control frames, raw PCM16LE audio),
 * AI side. With `'auto'` (a connection to `/`), the auth frame's
 * `call.audio_format.framing` decides which of the two it is.
 */
export class OlibAgentDialect implements AgentDialect {
  readonly credentialsInHeaders = false;
  private binaryAudio: boolean;
  private undecided: boolean;

  constructor(framing: boolean | 'auto') {
    this.binaryAudio = framing === true;
    this.undecided = framing === 'auto';
  }

  get name(): 'olib' | 'binary' {
    return this.binaryAudio ? 'binary' : 'olib';
  }

  headerCredentials(): null {
    return null;
  }

  decode(data: Buffer, isBinary: boolean): DecodedEvents {
    if (isBinary) {
      if (!this.binaryAudio) return { ok: false, reason: 'binary frame on the olib dialect' };
      if (data.length % 2 !== 0) return { ok: false, reason: 'binary audio is not whole 16-bit samples' };
      return { ok: true, events: [{ kind: 'audio', payload: data, sequence: undefined }] };
    }
    const text = data.toString('utf8');
    const parsed = parseOlibGatewayFrame(text);
    if (!parsed.ok) {
      // The control-plane's SMS session opens with an `auth` whose `call` is null.
      const sms = parseSmsSessionAuth(text);
      if (!sms.ok) return parsed;
      this.undecided = false;
      const a = sms.frame.auth;
      return {
        ok: true,
        events: [
          {
            kind: 'auth',
            credentials: {
              token: a.token,
              signature: a.signature,
              timestamp: a.timestamp,
              callId: a.call_id,
              reconnected: false,
            },
            mode: undefined,
            session: 'sms',
          },
        ],
      };
    }
    if (parsed.frame.type === 'auth' && this.undecided) {
      this.binaryAudio = parsed.frame.call.audio_format?.framing === 'binary';
      this.undecided = false;
    }
    const event = toEvent(parsed.frame);
    return 'invalid' in event ? { ok: false, reason: event.invalid } : { ok: true, events: [event] };
  }

  accepted(callId: string): WireFrame {
    return this.frame({ type: 'auth_ok', data: { call_id: callId } });
  }

  refused(code: string, message: string): WireFrame {
    return this.frame({ type: 'error', data: { code, message } });
  }

  echo(payload: Buffer): WireFrame {
    return this.binaryAudio ? payload : this.frame({ type: 'audio', data: { audio: payload.toString('base64') } });
  }

  speak(pcm16k: Int16Array): WireFrame {
    return this.binaryAudio
      ? int16ToPcm16le(pcm16k)
      : this.frame({ type: 'audio', data: { audio: int16ToBase64(pcm16k) } });
  }

  text(text: string): WireFrame {
    return this.frame({ type: 'response', data: { text } });
  }

  mark(name: string): WireFrame {
    return this.frame({ type: 'mark', data: { name } });
  }

  clear(): WireFrame {
    return this.frame({ type: 'clear' });
  }

  hangup(reason: string): WireFrame {
    return this.frame({ type: 'hangup', data: { reason } });
  }

  pong(id: number): WireFrame {
    return this.frame({ type: 'pong', data: { id } });
  }

  sms(text: string, to: string, inReplyTo: string): WireFrame {
    return this.frame({ type: 'sms', data: { text, to_number: to, in_reply_to: inReplyTo } });
  }

  smsAck(messageId: string): WireFrame {
    const ack: OlibSmsAck = { type: 'sms_ack', data: { message_id: messageId } };
    return JSON.stringify(ack);
  }

  private frame(frame: OlibAiFrame): string {
    return serialize(frame);
  }
}

function toEvent(frame: OlibGatewayFrame): GatewayEvent | { invalid: string } {
  switch (frame.type) {
    case 'auth':
      return {
        kind: 'auth',
        credentials: {
          token: frame.auth.token,
          signature: frame.auth.signature,
          timestamp: frame.auth.timestamp,
          callId: frame.auth.call_id,
          reconnected: frame.auth.reconnected,
        },
        mode: frame.call.custom?.['mode'],
        session: 'call',
      };
    case 'audio_data': {
      const payload = decodeBase64(frame.data.audio);
      if (!payload || payload.length % 2 !== 0) return { invalid: 'audio_data: audio is not base64 PCM16LE' };
      return { kind: 'audio', payload, sequence: frame.data.sequence };
    }
    case 'dtmf':
      return { kind: 'dtmf', digit: frame.data.digit };
    case 'mark':
      return { kind: 'mark', name: frame.data.name, playedMs: frame.data.played_ms, truncated: frame.data.truncated };
    case 'hold':
      return { kind: 'hold' };
    case 'resume':
      return { kind: 'resume' };
    case 'sms':
      return {
        kind: 'sms',
        messageId: frame.data.message_id,
        from: frame.data.from_number,
        to: frame.data.to_number,
        text: frame.data.text,
      };
    case 'flow':
      return { kind: 'flow', paused: frame.data.state === 'paused' };
    case 'ping':
      return { kind: 'ping', id: frame.data.id };
    case 'pong':
      return { kind: 'pong' };
    case 'call_end':
      return { kind: 'end', reason: frame.data.reason };
    case 'error':
      return { kind: 'error', code: frame.data.code, message: frame.data.message };
    case 'audio_gap':
    case 'transfer_target_answered':
    case 'transfer_failed':
      return { kind: 'noop' };
  }
}
