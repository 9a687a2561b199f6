import type { AuthMaterial } from '../../../../common/src/ai-protocol/auth';
import type { WireFrame } from '../queue';
import {
  FRAME_MS,
  base64ToInt16,
  int16ToBase64,
  int16ToPcm16le,
  pcm16leToInt16,
} from '../../../../common/src/ai-protocol/wire/pcm';
import {
  olibAudioFormat,
  parseOlibAiFrame,
  serialize,
  type OlibAiFrame,
  type OlibGatewayFrame,
} from '../../../../common/src/ai-protocol/wire/olib';
import type { Dialect } from '../../../../common/src/ai-protocol/dialect';
import type { AiMessage, CallEvent, CallInfo, Decoded, GatewayDialect } from './types';

/**
 * The `olib` dialect (JSON text frames, audio base64 in `audio_data`) and the `binary`
 * dialect (the same control frames, audio as raw PCM16LE binary messages both ways).
 */
export class OlibDialect implements GatewayDialect {
  readonly name: Dialect;
  readonly awaitsAcceptance = true;
  private readonly binaryAudio: boolean;
  private sequence = 0;
  private audioPrefix: string | undefined;

  constructor(
    private readonly call: CallInfo,
    options: { readonly binaryAudio: boolean },
  ) {
    this.binaryAudio = options.binaryAudio;
    this.name = options.binaryAudio ? 'binary' : 'olib';
  }

  handshakeHeaders(): Record<string, string> {
    return {};
  }

  opening(auth: AuthMaterial): WireFrame[] {
    return [
      this.frame({
        type: 'auth',
        auth: {
          token: `Bearer ${auth.jwt}`,
          signature: auth.signature,
          timestamp: auth.timestamp,
          call_id: auth.callId,
          reconnected: auth.reconnected,
        },
        call: {
          conversation_id: this.call.conversationId,
          from_number: this.call.from,
          to_number: this.call.to,
          direction: this.call.direction,
          codec: this.call.codec,
          sample_rate: 8000,
          audio_format: olibAudioFormat(this.binaryAudio ? 'binary' : 'json'),
          custom: { ...(this.call.customParameters ?? {}) },
        },
      }),
    ];
  }

  audio(frame16k: Int16Array, nowMs: number): WireFrame {
    if (this.binaryAudio) return int16ToPcm16le(frame16k);
    this.sequence++;
    // The hottest frame (50 a second per call), written out by hand: the same bytes
    // JSON.stringify makes of OlibAudioData (base64 and numbers need no escaping).
    this.audioPrefix ??= `{"type":"audio_data","data":{"call_id":${JSON.stringify(this.call.callId)},"audio":"`;
    return `${this.audioPrefix}${int16ToBase64(frame16k)}","timestamp":${nowMs / 1000},"sequence":${this.sequence}}}`;
  }

  dtmf(digit: string, durationMs: number): WireFrame {
    return this.frame({
      type: 'dtmf',
      data: { call_id: this.call.callId, digit, duration_ms: Math.round(durationMs) },
    });
  }

  markPlayed(name: string, playedMs: number, truncated: boolean): WireFrame {
    return this.frame({
      type: 'mark',
      data: { call_id: this.call.callId, name, played_ms: Math.max(0, Math.round(playedMs)), truncated },
    });
  }

  event(event: CallEvent, nowMs: number): WireFrame {
    const call_id = this.call.callId;
    switch (event.type) {
      case 'hold':
      case 'resume':
        return this.frame({
          type: event.type,
          data: { call_id, timestamp: nowMs / 1000, ...(event.heldBy ? { held_by: event.heldBy } : {}) },
        });
      case 'sms':
        return this.frame({
          type: 'sms',
          data: {
            call_id,
            message_id: event.messageId,
            from_number: event.from,
            to_number: event.to,
            text: event.text,
            timestamp: nowMs / 1000,
          },
        });
      case 'transfer_target_answered':
        return this.frame({
          type: event.type,
          data: {
            call_id,
            target: event.target,
            ...(event.announce === undefined ? {} : { announce: event.announce }),
            timestamp: nowMs / 1000,
          },
        });
      case 'transfer_failed':
        return this.frame({
          type: event.type,
          data: {
            call_id,
            target: event.target,
            mode: event.mode,
            reason: event.reason,
            ...(event.sipStatus === undefined ? {} : { sip_status: event.sipStatus }),
            timestamp: nowMs / 1000,
          },
        });
    }
  }

  flow(state: 'paused' | 'resumed', bufferedMs: number): WireFrame {
    return this.frame({
      type: 'flow',
      data: { call_id: this.call.callId, state, buffered_ms: Math.round(bufferedMs) },
    });
  }

  ping(id: number, nowMs: number): WireFrame {
    return this.frame({ type: 'ping', data: { call_id: this.call.callId, id, timestamp: nowMs / 1000 } });
  }

  pong(id: number): WireFrame {
    return this.frame({ type: 'pong', data: { call_id: this.call.callId, id } });
  }

  error(code: string, message: string): WireFrame {
    return this.frame({ type: 'error', data: { call_id: this.call.callId, code, message } });
  }

  gap(droppedFrames: number): WireFrame | null {
    // olib frames carry `sequence`: the AI sees the gap without being told.
    if (!this.binaryAudio || droppedFrames <= 0) return null;
    return this.frame({
      type: 'audio_gap',
      data: { call_id: this.call.callId, dropped_frames: droppedFrames, dropped_ms: droppedFrames * FRAME_MS },
    });
  }

  end(reason: string, nowMs: number): WireFrame {
    return this.frame({ type: 'call_end', data: { call_id: this.call.callId, reason, timestamp: nowMs / 1000 } });
  }

  decode(data: Buffer, isBinary: boolean): Decoded {
    if (isBinary) {
      if (!this.binaryAudio) return { ok: false, reason: 'binary frame on the olib dialect' };
      const pcm = pcm16leToInt16(data);
      if (!pcm) return { ok: false, reason: 'binary audio is not whole 16-bit samples' };
      return { ok: true, messages: pcm.length > 0 ? [{ kind: 'audio', pcm }] : [] };
    }
    const parsed = parseOlibAiFrame(data.toString('utf8'));
    if (!parsed.ok) return parsed;
    return toMessages(parsed.frame);
  }

  private frame(frame: OlibGatewayFrame): string {
    return serialize(frame);
  }
}

function audioMessage(base64: string, what: string): Decoded {
  const pcm = base64ToInt16(base64);
  if (!pcm) return { ok: false, reason: `${what}: audio is not base64 PCM16LE` };
  return { ok: true, messages: pcm.length > 0 ? [{ kind: 'audio', pcm }] : [] };
}

function toMessages(frame: OlibAiFrame): Decoded {
  const one = (message: AiMessage): Decoded => ({ ok: true, messages: [message] });
  switch (frame.type) {
    case 'auth_ok':
      return one({ kind: 'accepted' });
    case 'response': {
      const messages: AiMessage[] = [];
      if (frame.data.text !== undefined)
        messages.push({ kind: 'text', text: frame.data.text, final: frame.data.final ?? true });
      if (frame.data.audio !== undefined) {
        const audio = audioMessage(frame.data.audio, 'response');
        if (!audio.ok) return audio;
        messages.push(...audio.messages);
      }
      return { ok: true, messages };
    }
    case 'audio':
      return audioMessage(frame.data.audio, 'audio');
    case 'clear':
      return one({ kind: 'clear' });
    case 'mark':
      return one({ kind: 'mark', name: frame.data.name });
    case 'hangup':
      return one({ kind: 'hangup', reason: frame.data?.reason || 'ai_hangup' });
    case 'transfer':
      return one({ kind: 'transfer', target: frame.data.target, mode: frame.data.mode ?? 'auto' });
    case 'transfer_complete':
    case 'transfer_cancel':
      return one({ kind: frame.type });
    case 'hold':
    case 'resume':
      return one({ kind: frame.type });
    case 'send_dtmf':
      return one({ kind: 'send_dtmf', digits: frame.data.digits, durationMs: frame.data.duration_ms });
    case 'sms':
      return one({ kind: 'sms', text: frame.data.text, to: frame.data.to_number, inReplyTo: frame.data.in_reply_to });
    case 'ping':
      return one({ kind: 'ping', id: frame.data.id });
    case 'pong':
      return one({ kind: 'pong', id: frame.data.id });
    case 'error':
      return one({ kind: 'error', code: frame.data.code, message: frame.data.message });
  }
}
