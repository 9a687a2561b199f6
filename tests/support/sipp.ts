import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/stack/env';

/** Scenario files shipped with the tests. */
export const SCENARIOS = join(REPO_ROOT, 'tests', 'sipp');
export const G711A_PCAP = '/usr/share/sip-tester/g711a.pcap';

export interface SippRun {
  /** SIPp's exit code: 0 = every call succeeded, 1 = at least one failed. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Contents of the error trace (unexpected messages), if any. */
  readonly errors: string;
  /** Contents of the message trace. */
  readonly messages: string;
}

export interface SippOptions {
  readonly scenario: string;
  readonly remote: string;
  readonly localIp?: string;
  readonly localPort?: number;
  readonly transport?: 'u1' | 'un' | 't1' | 'tn';
  readonly keys?: Record<string, string | number>;
  /** Digest credentials for `[authentication]` (SIPp's -au / -ap). */
  readonly auth?: { readonly user: string; readonly password: string };
  readonly calls?: number;
  readonly rate?: number;
  readonly ratePeriodMs?: number;
  readonly limit?: number;
  readonly timeoutSeconds?: number;
  readonly mediaIp?: string;
  readonly mediaPort?: number;
  readonly rtpEcho?: boolean;
  readonly serverMode?: boolean;
  readonly extraArgs?: readonly string[];
}

/** A free UDP port on the loopback (the kernel picks one; we release it for SIPp). */
export async function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, address, resolve));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

/** A pair of adjacent free even ports for RTP/RTCP. */
export async function freeMediaPort(address = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const candidate = 20000 + 2 * Math.floor(Math.random() * 4000);
    if (await portsFree(address, candidate, candidate + 1, candidate + 2, candidate + 3)) return candidate;
  }
  throw new Error('no free media port pair found');
}

async function portsFree(address: string, ...ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const sock = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      sock.once('error', () => resolve(false));
      sock.bind(port, address, () => resolve(true));
    });
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    if (!ok) return false;
  }
  return true;
}

/** Runs SIPp to completion (bounded by timeoutSeconds) and returns its exit code and traces. */
export async function runSipp(options: SippOptions): Promise<SippRun> {
  return (await startSipp(options)).done;
}

export interface RunningSipp {
  readonly done: Promise<SippRun>;
  readonly localPort: number;
  /** SIPp's process id: it appears in SIPp's tags (`[pid]SIPpTag00[call_number]`). */
  readonly pid: number;
  kill(): void;
}

/** Starts SIPp; without an explicit localPort it gets a free one (never 5060). */
export async function startSipp(options: SippOptions): Promise<RunningSipp> {
  const localPort = options.localPort ?? (await freeUdpPort(options.localIp));
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const args = [
    ...(options.serverMode ? [] : [options.remote]),
    '-sf', options.scenario,
    '-i', options.localIp ?? '127.0.0.1',
    '-p', String(localPort),
    '-t', options.transport ?? 'u1',
    '-m', String(options.calls ?? 1),
    '-r', String(options.rate ?? 10),
    '-rp', String(options.ratePeriodMs ?? 1000),
    '-l', String(options.limit ?? options.calls ?? 1),
    '-timeout', `${options.timeoutSeconds ?? 20}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err', '-error_file', join(dir, 'errors.log'),
    '-trace_msg', '-message_file', join(dir, 'messages.log'),
    '-mi', options.mediaIp ?? options.localIp ?? '127.0.0.1',
  ];
  if (options.mediaPort !== undefined) args.push('-mp', String(options.mediaPort));
  if (options.rtpEcho) args.push('-rtp_echo');
  if (options.auth) args.push('-au', options.auth.user, '-ap', options.auth.password);
  for (const [k, v] of Object.entries(options.keys ?? {})) args.push('-key', k, String(v));
  args.push(...(options.extraArgs ?? []));
  const proc = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // SIPp honours -timeout; this is the backstop if it wedges.
  const backstop = setTimeout(() => proc.kill('SIGKILL'), ((options.timeoutSeconds ?? 20) + 10) * 1000);
  const done = new Promise<SippRun>((resolve) => {
    proc.once('exit', (code) => {
      clearTimeout(backstop);
      resolve({ code, stdout, stderr, errors: readIfExists(join(dir, 'errors.log')), messages: readIfExists(join(dir, 'messages.log')) });
    });
  });
  return { done, localPort, pid: proc.pid ?? 0, kill: () => proc.kill('SIGINT') };
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface RegisterScenario {
  /** What the first, credential-less REGISTER gets: 401 (challenge) or 403 (locked). */
  readonly first: 401 | 403;
  /** What the REGISTER with credentials gets; omitted when `first` is final. */
  readonly final?: 200 | 401 | 403;
  /** Contact port to register (defaults to SIPp's own port). */
  readonly contactPort?: number;
  readonly expires?: number;
}

/**
 * Writes a REGISTER scenario expecting exactly these responses; any other answer
 * fails the SIPp call (exit code 1). Keys: user, domain; credentials via `auth`.
 */
export function registerScenario(s: RegisterScenario): string {
  const contactPort = s.contactPort !== undefined ? String(s.contactPort) : '[local_port]';
  const expires = s.expires ?? 300;
  const register = (auth: boolean): string => `
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[user]@[domain]>
      Call-ID: [call_id]
      CSeq: ${auth ? 2 : 1} REGISTER
      Contact: <sip:[user]@[local_ip]:${contactPort};transport=[transport]>
      Max-Forwards: 70
      Expires: ${expires}
      User-Agent: SIPp register test${auth ? '\n      [authentication]' : ''}
      Content-Length: 0

    ]]>
  </send>`;
  let body = register(false);
  body += `\n  <recv response="${s.first}"${s.first === 401 ? ' auth="true"' : ''}/>`;
  if (s.first === 401 && s.final !== undefined) {
    body += register(true);
    body += `\n  <recv response="${s.final}"/>`;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sipp-scn-'));
  const file = join(dir, 'register.xml');
  writeFileSync(file, `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="register">${body}\n</scenario>\n`);
  return file;
}
