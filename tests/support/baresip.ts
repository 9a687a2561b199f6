import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { readWav as parseWav, wavChannel, writeWav as encodeWav } from '../../services/common/src/audio/wav';
import { portFreeForSip } from '../../services/common/src/net/ports';

/**
 * baresip (Debian `baresip-core`) as a real SIP phone for the end-to-end tests:
 * aufile plays a WAV as its microphone, sndfile dumps what it sends and hears,
 * ctrl_tcp (with menu's commands) takes dial/hangup/quit and reports events.
 */

/** The first of `commands` that is not on PATH, or undefined when all are there. */
export function missingCommand(...commands: string[]): string | undefined {
  return commands.find((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
}

// --- WAV files (PCM 16-bit mono) ---

export interface Pcm {
  readonly rate: number;
  readonly samples: Int16Array;
}

/** Reads a WAV file (the first channel when there are more) with the tree's one WAV reader. */
export function readWav(path: string): Pcm {
  try {
    const audio = parseWav(readFileSync(path));
    return { rate: audio.sampleRate, samples: wavChannel(audio) };
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`, { cause: err });
  }
}

export function writeWav(path: string, pcm: Pcm): void {
  writeFileSync(path, encodeWav(pcm.samples, pcm.rate));
}

/** Windowed-sinc resampling (Hann window, cut-off below the lower Nyquist frequency). */
export function resample(pcm: Pcm, rate: number): Pcm {
  if (pcm.rate === rate) return pcm;
  const ratio = pcm.rate / rate;
  const cutoff = Math.min(1, rate / pcm.rate) * 0.9; // relative to the input's Nyquist
  const half = 24;
  const out = new Int16Array(Math.floor(pcm.samples.length / ratio));
  for (let n = 0; n < out.length; n++) {
    const t = n * ratio;
    const centre = Math.floor(t);
    let acc = 0;
    for (let k = centre - half + 1; k <= centre + half; k++) {
      if (k < 0 || k >= pcm.samples.length) continue;
      const x = t - k;
      const sinc = x === 0 ? cutoff : Math.sin(Math.PI * cutoff * x) / (Math.PI * x);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / half);
      acc += pcm.samples[k]! * sinc * window;
    }
    out[n] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return { rate, samples: out };
}

/** Speech from espeak-ng, resampled to `rate` (espeak-ng writes 22050 Hz). */
export function speech(dir: string, text: string, rate = 8000): Pcm {
  const raw = join(dir, 'espeak.wav');
  const run = spawnSync('espeak-ng', ['-s', '150', '-w', raw, text], { timeout: 20_000, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`espeak-ng failed (${run.status ?? run.signal}): ${run.stderr}`);
  return resample(readWav(raw), rate);
}

/** `pcm` followed by `seconds` of silence. */
export function padded(pcm: Pcm, seconds: number): Pcm {
  const samples = new Int16Array(pcm.samples.length + Math.round(seconds * pcm.rate));
  samples.set(pcm.samples);
  return { rate: pcm.rate, samples };
}

// --- cross-correlation ---

export interface Correlation {
  /** Normalised cross-correlation at the best lag (1 = the same waveform, scaled). */
  readonly peak: number;
  readonly lagSamples: number;
  readonly lagMs: number;
}

/**
 * Where `sent` appears in `heard`: for each lag L in 0..maxLagSeconds, the normalised
 * correlation of sent[i] with heard[i + L] over their overlap (energies from prefix sums).
 */
export function crossCorrelate(sent: Pcm, heard: Pcm, maxLagSeconds: number): Correlation {
  if (sent.rate !== heard.rate) throw new Error(`sample rates differ: ${sent.rate} and ${heard.rate}`);
  const a = Float64Array.from(sent.samples);
  const b = Float64Array.from(heard.samples);
  const energyA = prefixEnergy(a);
  const energyB = prefixEnergy(b);
  const maxLag = Math.round(maxLagSeconds * sent.rate);
  const minOverlap = Math.round(0.5 * sent.rate);
  let best: Correlation = { peak: 0, lagSamples: 0, lagMs: 0 };
  for (let lag = 0; lag <= maxLag; lag++) {
    const n = Math.min(a.length, b.length - lag);
    if (n < minOverlap) break;
    let dot = 0;
    for (let i = 0; i < n; i++) dot += a[i]! * b[i + lag]!;
    const norm = Math.sqrt(energyA[n]! * (energyB[lag + n]! - energyB[lag]!));
    const c = norm > 0 ? dot / norm : 0;
    if (c > best.peak) best = { peak: c, lagSamples: lag, lagMs: (lag * 1000) / sent.rate };
  }
  return best;
}

function prefixEnergy(x: Float64Array): Float64Array {
  const sums = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) sums[i + 1] = sums[i]! + x[i]! * x[i]!;
  return sums;
}

// --- ports ---

/**
 * A block of 50 ports in 21000-29999, a range no local stack uses (their SIP, HTTP
 * and RTP ranges are 5060, 10000-20000 and 30000-59999): SIP on base (UDP/TCP, TLS on
 * base + 1), ctrl_tcp on base + 2, RTP on base + 10 .. base + 49.
 */
export async function baresipPorts(): Promise<{ sip: number; ctrl: number; rtpMin: number; rtpMax: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 21000 + 50 * Math.floor(Math.random() * 179);
    if ((await portFreeForSip(base)) && (await portFreeForSip(base + 1)) && (await portFreeForSip(base + 2))) {
      return { sip: base, ctrl: base + 2, rtpMin: base + 10, rtpMax: base + 49 };
    }
  }
  throw new Error('no free port block for baresip in 21000-29999');
}

// --- the phone ---

export interface BaresipOptions {
  /** Where the config, the recordings and the log go. */
  readonly dir: string;
  readonly username: string;
  readonly password: string;
  /** The registrar/proxy, host:port. */
  readonly proxy: string;
  readonly domain: string;
  /** The 8 kHz mono WAV aufile plays as the microphone. */
  readonly source: string;
  /** SIP transport to the proxy (default UDP); `tls` needs `cafile` to trust the proxy's certificate. */
  readonly transport?: 'udp' | 'tls';
  /** PEM file of the CAs (or the self-signed certificate) baresip trusts for TLS. */
  readonly cafile?: string;
  /** Media encryption the account insists on: SDES (RFC 4568) or DTLS-SRTP (RFC 5763). */
  readonly mediaenc?: 'srtp-mand' | 'dtls_srtp';
}

export interface BaresipEvent {
  readonly type: string;
  readonly class?: string;
  readonly param?: string;
  readonly [key: string]: unknown;
}

/** A running baresip driven through ctrl_tcp. */
export class Baresip {
  readonly events: BaresipEvent[] = [];
  private output = '';
  private buffered = Buffer.alloc(0);
  private token = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly pending = new Map<string, (response: { ok: boolean; data: string }) => void>();
  private exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly ctrl: Socket,
    readonly recordings: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    ctrl.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static async start(options: BaresipOptions): Promise<Baresip> {
    const ports = await baresipPorts();
    const config = join(options.dir, 'baresip');
    const recordings = join(options.dir, 'recordings');
    mkdirSync(config, { recursive: true });
    mkdirSync(recordings, { recursive: true });
    writeFileSync(
      join(config, 'config'),
      [
        'poll_method epoll',
        'net_interface 127.0.0.1',
        `sip_listen 127.0.0.1:${ports.sip}`,
        'call_local_timeout 30',
        'call_max_calls 1',
        'audio_buffer 20',
        // aufile as the microphone; no player module is loaded, so nothing opens a sound device.
        `audio_source aufile,${options.source}`,
        'ausrc_srate 8000',
        'auplay_srate 8000',
        'ausrc_channels 1',
        'auplay_channels 1',
        `rtp_ports ${ports.rtpMin}-${ports.rtpMax}`,
        'rtcp_mux no',
        'jitter_buffer_delay 1-10',
        'module_path /usr/lib/baresip/modules',
        'module g711.so',
        'module aufile.so',
        'module sndfile.so',
        ...(options.mediaenc === 'srtp-mand' ? ['module srtp.so'] : []),
        ...(options.mediaenc === 'dtls_srtp' ? ['module dtls_srtp.so'] : []),
        ...(options.cafile ? [`sip_cafile ${options.cafile}`] : []),
        'module_tmp account.so',
        'module_app menu.so',
        'module_app ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${ports.ctrl}`,
        `snd_path ${recordings}`,
        '',
      ].join('\n'),
    );
    const tls = options.transport === 'tls';
    writeFileSync(
      join(config, 'accounts'),
      `<sip:${options.username}@${options.domain}${tls ? ';transport=tls' : ''}>;auth_pass=${options.password};` +
        `outbound="sip:${options.proxy};${tls ? 'transport=tls;' : ''}lr";` +
        `regint=60;audio_codecs=pcmu,pcma;answermode=manual${options.mediaenc ? `;mediaenc=${options.mediaenc}` : ''}\n`,
    );
    const child = spawn('baresip', ['-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    try {
      const ctrl = await connectWithin(ports.ctrl, 5_000, child, () => output);
      const phone = new Baresip(child, ctrl, recordings);
      phone.output = output;
      child.stdout.off('data', collect);
      child.stderr.off('data', collect);
      child.stdout.on('data', (chunk: Buffer) => (phone.output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (phone.output += chunk.toString()));
      return phone;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  /** What baresip printed (its status line's carriage-return updates dropped). */
  log(): string {
    return this.output.replace(/[^\n]*\r/g, '');
  }

  /** Sends one command (menu's: dial, hangup, quit, ...) and resolves to baresip's answer. */
  command(command: string, params?: string): Promise<{ ok: boolean; data: string }> {
    const token = String(++this.token);
    const json = JSON.stringify({ command, params, token });
    return new Promise((resolve) => {
      this.pending.set(token, resolve);
      this.ctrl.write(`${Buffer.byteLength(json)}:${json},`);
    });
  }

  /** The first event (seen so far or later) that `match` accepts, within `ms`. */
  async waitFor(match: (e: BaresipEvent) => boolean, ms: number, what: string): Promise<BaresipEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.events.map((e) => e.type).join(', ');
        throw new Error(`baresip: no ${what} within ${ms} ms (events: ${seen || 'none'})\n${this.log().slice(-3000)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The WAV sndfile wrote of what baresip decoded from the network (`-dec.wav`). */
  received(): string {
    const files = readdirSync(this.recordings).filter((f) => f.endsWith('-dec.wav'));
    if (files.length !== 1)
      throw new Error(
        `expected one *-dec.wav in ${this.recordings}, found: ${readdirSync(this.recordings).join(', ') || 'none'}`,
      );
    return join(this.recordings, files[0]!);
  }

  /** Asks baresip to quit, then kills it if it is still there after `ms`. */
  async stop(ms = 3_000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (!this.ctrl.destroyed) {
        const json = JSON.stringify({ command: 'quit', token: 'quit' });
        this.ctrl.write(`${Buffer.byteLength(json)}:${json},`);
      }
      const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
      await this.exited;
      clearTimeout(timer);
    }
    this.ctrl.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const colon = this.buffered.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(this.buffered.toString('ascii', 0, colon));
      if (this.buffered.length < colon + 1 + length + 1) return;
      const message = JSON.parse(this.buffered.toString('utf8', colon + 1, colon + 1 + length)) as Record<
        string,
        unknown
      >;
      this.buffered = this.buffered.subarray(colon + 1 + length + 1);
      if (message['response']) {
        // Tokens go out as strings (command()); baresip echoes them back unchanged.
        const token = typeof message['token'] === 'string' ? message['token'] : '';
        this.pending.get(token)?.({
          ok: message['ok'] === true,
          data: typeof message['data'] === 'string' ? message['data'] : '',
        });
        this.pending.delete(token);
      } else if (message['event']) {
        this.events.push(message as unknown as BaresipEvent);
        this.waiters.splice(0).forEach((wake) => wake());
      }
    }
  }
}

async function connectWithin(port: number, ms: number, child: ChildProcess, output: () => string): Promise<Socket> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`baresip exited (${child.exitCode}) before its ctrl_tcp was up:\n${output()}`);
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (socket) return socket;
    if (Date.now() > deadline)
      throw new Error(`baresip's ctrl_tcp (127.0.0.1:${port}) did not answer within ${ms} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
