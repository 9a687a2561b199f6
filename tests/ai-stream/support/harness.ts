import { renderPrompts, type Prompts } from '../../../services/demo-agent/src/audio/prompts';
import type { Mode } from '../../../services/demo-agent/src/conversation';
import { DemoAgentServer } from '../../../services/demo-agent/src/server';
import type { AgentSession } from '../../../services/demo-agent/src/session';
import { AiStream, type AiStreamOptions } from '../../../services/media-gateway/src/ai-stream/ai-stream';
import type { Dialect } from '../../../services/common/src/ai-protocol/dialect';
import type { AiStreamError } from '../../../services/media-gateway/src/ai-stream/errors';
import type { WireFrame } from '../../../services/media-gateway/src/ai-stream/queue';
import { createWsSocket, type WebSocketFactory } from '../../../services/common/src/ai-protocol/socket';

/**
 * The AI side of the tests is the real demo agent, in-process on an ephemeral
 * loopback port; the gateway side is the real AiStream over real sockets. The test
 * plays the gateway's part around the stream: it paces caller audio, "plays" what the
 * AI sends, and acknowledges marks.
 */

export const SECRETS = Object.freeze({
  jwtSecretKey: 'integration-jwt-secret-0123456789abcdef',
  sipSharedSecret: 'integration-shared-secret-0123456789abcdef',
});

const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string, meta?: object) => {
    if (process.env['AI_STREAM_TEST_LOG']) console.warn(m, meta);
  },
};

let tonePrompts: Promise<Prompts> | undefined;

export interface Agent {
  readonly server: DemoAgentServer;
  readonly url: string;
  readonly prompts: Prompts;
  /** every session the agent accepted or refused, in order */
  readonly sessions: AgentSession[];
  readonly authenticated: { callId: string; reconnected: boolean; mode: string }[];
  readonly rejected: string[];
  close(): Promise<void>;
}

/** The demo agent with tone prompts (fast and the same on every machine). */
export async function startAgent(defaultMode: Mode = 'echo'): Promise<Agent> {
  tonePrompts ??= renderPrompts(null);
  const prompts = await tonePrompts;
  const server = new DemoAgentServer({ secrets: SECRETS, defaultMode, prompts, logger: quiet });
  const url = await server.listen(0, '127.0.0.1');
  const sessions: AgentSession[] = [];
  const authenticated: Agent['authenticated'] = [];
  const rejected: string[] = [];
  server.on('session', (session) => {
    sessions.push(session);
    session.on('authenticated', (info) => authenticated.push(info));
    session.on('rejected', (code) => rejected.push(code));
  });
  return { server, url, prompts, sessions, authenticated, rejected, close: () => server.close() };
}

let calls = 0;

export function streamOptions(
  url: string,
  dialect: Dialect,
  overrides: Partial<AiStreamOptions> = {},
): AiStreamOptions {
  calls++;
  return {
    url: `${url}/${dialect}`,
    dialect,
    call: {
      callId: `it-${process.pid}-${calls}@127.0.0.1`,
      conversationId: `conv-${calls}`,
      from: '+15550001',
      to: '+15550002',
      direction: 'incoming',
      codec: 'PCMU',
      customParameters: { mode: 'echo' },
    },
    secrets: SECRETS,
    reconnect: { maxDownMs: 3000, initialDelayMs: 50, maxDelayMs: 400 },
    queue: { maxBufferedMs: 2000 },
    heartbeatMs: 0,
    ...overrides,
  };
}

/** A factory that records every frame the gateway puts on the wire. */
export function tap(sent: WireFrame[]): WebSocketFactory {
  return (url, protocols, options) => {
    const socket = createWsSocket(url, protocols, options);
    const send = socket.send.bind(socket);
    Object.assign(socket, {
      send: (data: WireFrame) => {
        sent.push(data);
        send(data);
      },
    });
    return socket;
  };
}

export type Entry =
  | { readonly kind: 'audio'; readonly pcm: Int16Array }
  | { readonly kind: 'mark'; readonly name: string; readonly samplesBefore: number }
  | { readonly kind: 'clear'; readonly samplesBefore: number }
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'sms';
      readonly text: string;
      readonly to: string | undefined;
      readonly inReplyTo: string | undefined;
    }
  | { readonly kind: 'hangup' | 'down'; readonly reason: string }
  | { readonly kind: 'reconnecting'; readonly attempt: number }
  | { readonly kind: 'reconnected' }
  | { readonly kind: 'error'; readonly error: AiStreamError };

/** Everything a stream emitted, in order. */
export class Recorder {
  readonly entries: Entry[] = [];
  samples = 0;

  constructor(stream: AiStream) {
    stream.on('audio', (pcm) => {
      this.entries.push({ kind: 'audio', pcm });
      this.samples += pcm.length;
    });
    stream.on('mark', (name) => this.entries.push({ kind: 'mark', name, samplesBefore: this.samples }));
    stream.on('clear', () => this.entries.push({ kind: 'clear', samplesBefore: this.samples }));
    stream.on('text', (text) => this.entries.push({ kind: 'text', text }));
    stream.on('sms', (sms) => this.entries.push({ kind: 'sms', ...sms }));
    stream.on('hangup', (reason) => this.entries.push({ kind: 'hangup', reason }));
    stream.on('down', (reason) => this.entries.push({ kind: 'down', reason }));
    stream.on('reconnecting', (attempt) => this.entries.push({ kind: 'reconnecting', attempt }));
    stream.on('reconnected', () => this.entries.push({ kind: 'reconnected' }));
    stream.on('error', (error) => this.entries.push({ kind: 'error', error }));
  }

  of<K extends Entry['kind']>(kind: K): Extract<Entry, { kind: K }>[] {
    return this.entries.filter((e): e is Extract<Entry, { kind: K }> => e.kind === kind);
  }

  /** All received audio, joined. */
  audio(): Int16Array {
    const out = new Int16Array(this.samples);
    let at = 0;
    for (const e of this.of('audio')) {
      out.set(e.pcm, at);
      at += e.pcm.length;
    }
    return out;
  }
}

/** Polls `ready` every 10 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, ready: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `count` 20 ms frames (320 samples at 16 kHz) of a continuous sine. */
export function toneFrames(count: number, hz = 1000, amplitude = 8000): Int16Array[] {
  return Array.from({ length: count }, (_, f) =>
    new Int16Array(320).map((_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * (f * 320 + i)) / 16000))),
  );
}

/**
 * `count` 20 ms frames of a linear chirp from `fromHz` to `toHz`: unlike a steady tone
 * it lines up with a delayed copy of itself at one lag only.
 */
export function chirpFrames(count: number, fromHz = 300, toHz = 3000, amplitude = 8000): Int16Array[] {
  const total = count * 320;
  const rate = (toHz - fromHz) / (total / 16000);
  const all = new Int16Array(total).map((_, i) => {
    const t = i / 16000;
    return Math.round(amplitude * Math.sin(2 * Math.PI * (fromHz * t + (rate * t * t) / 2)));
  });
  return Array.from({ length: count }, (_, f) => all.slice(f * 320, (f + 1) * 320));
}

/** Sends frames every 20 ms, as the gateway's media clock does. */
export async function paced(
  stream: AiStream,
  frames: readonly Int16Array[],
  onFrame?: (index: number) => void,
): Promise<void> {
  for (let i = 0; i < frames.length; i++) {
    stream.sendAudio(frames[i] as Int16Array);
    onFrame?.(i);
    await sleep(20);
  }
}

export function join(frames: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/** Largest normalised cross-correlation of `b` against `a` for lags 0…maxLag (b delayed). */
export function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { lag: number; r: number } {
  let best = { lag: 0, r: -1 };
  for (let lag = 0; lag <= maxLag; lag++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i + lag < b.length && i < a.length; i++) {
      const x = a[i] as number;
      const y = b[i + lag] as number;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    const r = ab / Math.sqrt(aa * bb || 1);
    if (r > best.r) best = { lag, r };
  }
  return best;
}

/** Handles that keep a process alive, by type (sockets, servers, timers). */
export function liveHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** Waits until the process holds no more sockets, servers or timers than `baseline`. */
export async function expectHandlesBackTo(baseline: Record<string, number>, timeoutMs = 2000): Promise<void> {
  const extra = (): string[] => {
    const now = liveHandles();
    return ['TCPSocketWrap', 'TCPServerWrap', 'Timeout']
      .filter((t) => (now[t] ?? 0) > (baseline[t] ?? 0))
      .map((t) => `${t}: ${now[t]} > ${baseline[t] ?? 0}`);
  };
  try {
    await waitFor('handles to be released', () => extra().length === 0, timeoutMs);
  } catch {
    throw new Error(`leaked handles: ${extra().join(', ')}`);
  }
}
