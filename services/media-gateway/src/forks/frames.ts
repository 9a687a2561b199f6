import { randomBytes } from 'node:crypto';
import type { AuthMaterial } from '../../../common/src/ai-protocol/auth';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import { int16ToBase64, int16ToPcm16le } from '../../../common/src/ai-protocol/wire/pcm';
import { encodeUlaw } from '../../../common/src/audio/g711';
import { BRIDGE_ACCOUNT_SID } from '../ai-stream/dialects/twilio';

/** Which party of a call between people a frame of audio comes from. */
export type Track = 'caller' | 'callee';

/** Twilio's names for the two sides of a `both_tracks` stream. */
const TWILIO_TRACK: Record<Track, 'inbound' | 'outbound'> = { caller: 'inbound', callee: 'outbound' };
/** The first byte of a binary-dialect audio frame. */
export const BINARY_TRACK_BYTE: Record<Track, number> = { caller: 0, callee: 1 };

export interface ForkCallInfo {
  /** The fork's id (call_commands.call_id): the AI's call_id / callSid. */
  readonly callId: string;
  readonly sipCallId: string;
  readonly from: string;
  readonly to: string;
  readonly trunk: string | null;
  readonly customParameters: Readonly<Record<string, string>>;
}

export type WireFrame = string | Buffer;

/**
 * The frames of a listen-only stream (docs/ai-protocol.md, "Listen-only streams"),
 * one instance per fork. Audio is 20 ms of 8 kHz linear PCM per track, as the relay
 * delivers it: olib/binary carry it as pcm_s16le at 8000 Hz, Twilio as μ-law.
 */
export class ListenFrames {
  private sequence = 0;
  private readonly chunks: Record<Track, number> = { caller: 0, callee: 0 };
  private readonly streamSid = `MZ${randomBytes(16).toString('hex')}`;

  constructor(
    readonly dialect: Dialect,
    readonly callInfo: ForkCallInfo,
  ) {}

  opening(auth: AuthMaterial): WireFrame[] {
    const c = this.callInfo;
    if (this.dialect === 'twilio') {
      this.sequence = 0;
      return [
        JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
        JSON.stringify({
          event: 'start',
          sequenceNumber: String(++this.sequence),
          streamSid: this.streamSid,
          start: {
            streamSid: this.streamSid,
            accountSid: BRIDGE_ACCOUNT_SID,
            callSid: c.callId,
            tracks: ['inbound', 'outbound'],
            listenOnly: true,
            customParameters: { ...c.customParameters, from: c.from, to: c.to },
            mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1, tracks: ['inbound', 'outbound'] },
          },
        }),
      ];
    }
    return [
      JSON.stringify({
        type: 'auth',
        auth: {
          token: `Bearer ${auth.jwt}`,
          signature: auth.signature,
          timestamp: auth.timestamp,
          call_id: auth.callId,
          reconnected: auth.reconnected,
        },
        call: {
          conversation_id: c.callId,
          from_number: c.from,
          to_number: c.to,
          direction: 'inbound',
          codec: 'PCMU',
          sample_rate: 8000,
          listen_only: true,
          tracks: ['caller', 'callee'],
          sip_call_id: c.sipCallId,
          trunk: c.trunk,
          audio_format: {
            encoding: 'pcm_s16le',
            sample_rate: 8000,
            channels: 1,
            frame_ms: 20,
            framing: this.dialect === 'binary' ? 'binary' : 'json',
          },
          custom: { ...c.customParameters },
        },
      }),
    ];
  }

  audio(track: Track, pcm8k: Int16Array, nowMs: number): WireFrame {
    if (this.dialect === 'binary') {
      const pcm = int16ToPcm16le(pcm8k);
      return Buffer.concat([Buffer.of(BINARY_TRACK_BYTE[track]), pcm]);
    }
    if (this.dialect === 'twilio') {
      const timestamp = this.chunks[track] * 20;
      this.chunks[track]++;
      return JSON.stringify({
        event: 'media',
        sequenceNumber: String(++this.sequence),
        streamSid: this.streamSid,
        media: {
          track: TWILIO_TRACK[track],
          chunk: String(this.chunks[track]),
          timestamp: String(timestamp),
          payload: Buffer.from(encodeUlaw(pcm8k)).toString('base64'),
        },
      });
    }
    return JSON.stringify({
      type: 'audio_data',
      data: {
        call_id: this.callInfo.callId,
        track,
        audio: int16ToBase64(pcm8k),
        timestamp: nowMs / 1000,
        sequence: ++this.sequence,
      },
    });
  }

  end(reason: string): WireFrame {
    if (this.dialect === 'twilio')
      return JSON.stringify({
        event: 'stop',
        sequenceNumber: String(++this.sequence),
        streamSid: this.streamSid,
        stop: { accountSid: BRIDGE_ACCOUNT_SID, callSid: this.callInfo.callId },
      });
    return JSON.stringify({
      type: 'call_end',
      data: { call_id: this.callInfo.callId, reason, timestamp: Date.now() / 1000 },
    });
  }
}
