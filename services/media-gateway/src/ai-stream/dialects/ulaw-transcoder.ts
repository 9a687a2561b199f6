import { decodeUlaw, encodeUlaw } from '../../../../common/src/audio/g711';
import { Downsampler2x, Upsampler2x } from '../../../../common/src/audio/resampler';
import type { UlawTranscoder } from './twilio';

/**
 * The Twilio dialect's audio path, built from the gateway's own G.711 codec and 2×
 * half-band resamplers: one filter state per direction per call, so consecutive
 * frames join without clicks, and an agent's `media` payload may be any length.
 */
export function createUlawTranscoder(): UlawTranscoder {
  const down = new Downsampler2x();
  const up = new Upsampler2x();
  return {
    toUlaw8k: (frame16k) => encodeUlaw(down.process(frame16k)),
    fromUlaw8k: (ulaw) => up.process(decodeUlaw(ulaw)),
  };
}
