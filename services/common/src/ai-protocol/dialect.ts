/**
 * The dialects the AI stream speaks (docs/ai-protocol.md): `olib` (JSON frames, base64
 * PCM16 16 kHz), `binary` (olib's control frames, raw PCM16 in binary messages) and
 * `twilio` (Twilio Media Streams, μ-law 8 kHz). Chosen per number or route; the
 * gateway dials in it, the agent answers in it, the control plane stores it.
 */
export const DIALECTS = ['olib', 'twilio', 'binary'] as const;

export type Dialect = (typeof DIALECTS)[number];
