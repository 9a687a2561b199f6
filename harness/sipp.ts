import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portFree } from '../services/common/src/net/ports';

/**
 * The SIPp driver the tests and the benches share: run or start SIPp, read its
 * traces, and the scenarios both generate (REGISTER, INVITE with media, a UAS).
 * The XML scenarios only the tests play are in tests/sipp (tests/support/sipp-scenarios.ts).
 */

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
  /** With `rtt`: every measured response time (ms), from SIPp's -trace_rtt file. */
  readonly rtts: number[];
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
  /** Record every response time SIPp measures (scenario `start_rtd` / `rtd`). */
  readonly rtt?: boolean;
  /** Keep the message trace (default true; high-rate runs turn it off). */
  readonly traceMessages?: boolean;
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
    if (await udpPortsFree(address, [candidate, candidate + 1, candidate + 2, candidate + 3])) return candidate;
  }
  throw new Error('no free media port pair found');
}

async function udpPortsFree(address: string, ports: readonly number[]): Promise<boolean> {
  for (const port of ports) if (!(await portFree('udp', address, port))) return false;
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
  /** The message trace SIPp is writing (to follow a call while it runs). */
  readonly messagesPath: string;
  kill(): void;
}

/** Starts SIPp; without an explicit localPort it gets a free one (never 5060). */
export async function startSipp(options: SippOptions): Promise<RunningSipp> {
  const localPort = options.localPort ?? (await freeUdpPort(options.localIp));
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const args = [
    ...(options.serverMode ? [] : [options.remote]),
    // An empty scenario: SIPp's built-in one, named in extraArgs with -sn.
    ...(options.scenario ? ['-sf', options.scenario] : []),
    '-i',
    options.localIp ?? '127.0.0.1',
    '-p',
    String(localPort),
    '-t',
    options.transport ?? 'u1',
    '-m',
    String(options.calls ?? 1),
    '-r',
    String(options.rate ?? 10),
    '-rp',
    String(options.ratePeriodMs ?? 1000),
    '-l',
    String(options.limit ?? options.calls ?? 1),
    '-timeout',
    `${options.timeoutSeconds ?? 20}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file',
    join(dir, 'errors.log'),
    ...(options.traceMessages === false ? [] : ['-trace_msg', '-message_file', join(dir, 'messages.log')]),
    ...(options.rtt ? ['-trace_rtt', '-rtt_freq', '1'] : []),
    '-mi',
    options.mediaIp ?? options.localIp ?? '127.0.0.1',
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
      resolve({
        code,
        stdout,
        stderr,
        errors: readIfExists(join(dir, 'errors.log')),
        messages: readIfExists(join(dir, 'messages.log')),
        rtts: options.rtt ? readRtts(dir) : [],
      });
    });
  });
  // SIGTERM: SIPp has written its traces message by message; SIGINT would wait for calls.
  return {
    done,
    localPort,
    pid: proc.pid ?? 0,
    messagesPath: join(dir, 'messages.log'),
    kill: () => proc.kill('SIGTERM'),
  };
}

export interface TracedMessage {
  readonly direction: 'sent' | 'received';
  readonly text: string;
}

/** The SIP messages of a SIPp message trace, in order. */
export function tracedMessages(run: SippRun): TracedMessage[] {
  const out: TracedMessage[] = [];
  for (const block of run.messages.split(/^-{20,}[^\n]*\n/m)) {
    const m = /^(?:UDP|TCP) message (sent|received)[^\n]*\n\n([\s\S]*)$/.exec(block);
    if (m) out.push({ direction: m[1] === 'sent' ? 'sent' : 'received', text: m[2] as string });
  }
  return out;
}

/** How many requests of `method` a SIPp instance received. */
export function requestsReceived(run: SippRun, method: string): number {
  return tracedMessages(run).filter((m) => m.direction === 'received' && m.text.startsWith(`${method} `)).length;
}

/** How many `status` responses to `method` a SIPp instance sent. */
export function responsesSent(run: SippRun, status: number, method: string): number {
  const cseq = new RegExp(`^CSeq:\\s*\\d+\\s+${method}\\s*$`, 'im');
  return tracedMessages(run).filter(
    (m) => m.direction === 'sent' && m.text.startsWith(`SIP/2.0 ${status} `) && cseq.test(m.text),
  ).length;
}

/** SIPp's `<scenario>_<pid>_rtt.csv`: `Date_ms;response_time_ms;rtd_no` per measurement. */
function readRtts(dir: string): number[] {
  const out: number[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('_rtt.csv'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n').slice(1)) {
      const ms = Number(line.split(';')[1]);
      if (line && Number.isFinite(ms)) out.push(ms);
    }
  }
  return out;
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

export function writeScenario(name: string, body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-scn-'));
  const file = join(dir, `${name}.xml`);
  writeFileSync(file, `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="${name}">${body}\n</scenario>\n`);
  return file;
}

const SDP_OFFER = `v=0
      o=[user] 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20`;

/**
 * An authenticated call whose media is not SIPp's: the SDP offers `c=IN IP4
 * [media_ip]` and `m=audio [rtp_port]` (key rtp_port, a socket of the test's own)
 * with the given codec and telephone-event 101 (unless `telephoneEvent` is false: a
 * phone that can only send keys as tones). Keys: user, callee, domain, rtp_port.
 */
export function uacMediaScenario(s: {
  readonly codec: 'PCMU' | 'PCMA';
  readonly telephoneEvent?: boolean;
  readonly holdMs: number;
  readonly authenticate?: boolean;
  /** SIP INFO key presses (application/dtmf-relay) sent in the dialog, 400 ms apart, before the hold. */
  readonly infoDigits?: string;
  /** The far end hangs up: after the ACK, wait (up to holdMs) for its BYE instead of sending one. */
  readonly remoteHangup?: boolean;
}): string {
  const pt = s.codec === 'PCMU' ? 0 : 8;
  const te = s.telephoneEvent ?? true;
  const file = uacInviteScenario({ expect: 200, authenticate: s.authenticate ?? true, holdMs: s.holdMs });
  let text = readFileSync(file, 'utf8');
  const hold = `  <pause milliseconds="${s.holdMs}"/>`;
  if (s.infoDigits) {
    const infos = [...s.infoDigits]
      .map(
        (digit, i) => `
  <pause milliseconds="400"/>
  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[callee]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: ${10 + i} INFO
      [routes]
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal=${digit}
      Duration=160

    ]]>
  </send>
  <recv response="200"/>`,
      )
      .join('');
    text = text.replace(hold, `${infos}\n${hold}`);
  }
  // BYE after any INFO: CSeq must keep increasing (RFC 3261 §12.2.1.1).
  text = text.replace(/CSeq: \d+ BYE/, 'CSeq: 50 BYE');
  if (s.remoteHangup) {
    const byeAt = text.indexOf(hold);
    text = `${text.slice(0, byeAt)}  <recv request="BYE" timeout="${s.holdMs}"/>${BYE_OK}
</scenario>
`;
  }
  text = text.replaceAll(
    SDP_OFFER,
    `v=0
      o=[user] 53655765 2353687637 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP ${pt}${te ? ' 101' : ''}
      a=rtpmap:${pt} ${s.codec}/8000${
        te
          ? `
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15`
          : ''
      }
      a=ptime:20`,
  );
  writeFileSync(file, text);
  return file;
}

/**
 * Waits until SIPp's live trace shows a 200 OK with SDP; returns the media address it names.
 * Without an answer in time it stops SIPp (so no process outlives the failed test) and throws.
 */
export async function waitForAnswer(run: RunningSipp, timeoutMs = 10_000): Promise<{ address: string; port: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const trace = (() => {
      try {
        return readFileSync(run.messagesPath, 'utf8');
      } catch {
        return '';
      }
    })();
    const ok = tracedMessages({ messages: trace } as SippRun).find(
      (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 200 OK') && /m=audio \d+/.test(m.text),
    );
    if (ok) {
      const c = /c=IN IP4 ([0-9.]+)/.exec(ok.text);
      const m = /m=audio (\d+)/.exec(ok.text);
      return { address: c?.[1] ?? '127.0.0.1', port: Number(m?.[1]) };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  run.kill();
  throw new Error(`no 200 OK with SDP within ${timeoutMs} ms`);
}

export interface UacInvite {
  /** The final response the INVITE must get. */
  readonly expect: number;
  /** Answer a 407 with the -au/-ap credentials first. */
  readonly authenticate?: boolean;
  /** With expect 200: how long to hold the call before BYE. */
  readonly holdMs?: number;
  /** Measure INVITE (with credentials, if any) → 200 as SIPp response time 1. */
  readonly measureSetup?: boolean;
}

/**
 * An INVITE to sip:[callee]@[domain] (keys: user, callee, domain) that must end with
 * exactly `expect`; a 200 is ACKed, held for holdMs and hung up with BYE.
 */
export function uacInviteScenario(s: UacInvite): string {
  const invite = (cseq: number, auth: boolean): string => `
  <send retrans="500"${s.measureSetup && (auth || !s.authenticate) ? ' start_rtd="1"' : ''}>
    <![CDATA[
      INVITE sip:[callee]@[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[callee]@[domain]>
      Call-ID: [call_id]
      CSeq: ${cseq} INVITE
      Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>${auth ? '\n      [authentication]' : ''}
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      ${SDP_OFFER}

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>`;
  const ackFailure = (cseq: number): string => `
  <send>
    <![CDATA[
      ACK sip:[callee]@[domain] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: ${cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>`;
  let body = '';
  let cseq = 1;
  if (s.authenticate) {
    body += invite(cseq, false) + `\n  <recv response="407" auth="true"/>` + ackFailure(cseq);
    cseq++;
  }
  body += invite(cseq, !!s.authenticate);
  if (s.expect !== 200) {
    body += `\n  <recv response="${s.expect}"/>` + ackFailure(cseq);
    return writeScenario('uac-invite', body);
  }
  body += `
  <recv response="200" rrs="true"${s.measureSetup ? ' rtd="1"' : ''}/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[callee]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: ${cseq} ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="${s.holdMs ?? 1000}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[callee]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: ${cseq + 1} BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>`;
  return writeScenario('uac-invite', body);
}

export interface UasBehaviour {
  /** 200 answers (then waits for BYE), another code refuses, 'silent' never answers. */
  readonly answer: number | 'silent';
  /** Send 180 before answering (default true). Load runs turn it off: Kamailio's workers may forward a 180 after the 200. */
  readonly ring?: boolean;
  /** Challenge with 401 first and accept only these digest credentials (SIPp verifyauth). */
  readonly challenge?: { readonly user: string; readonly password: string; readonly realm: string };
}

/** The 200 OK to a BYE just received (`<recv request="BYE"/>` before it). */
export const BYE_OK = `
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>`;

export const OPTIONS_OK = `
  <label id="options"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagOpt[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>`;

/**
 * A provider-side UAS for `answer`, in server mode. Kamailio's dispatcher probes
 * providers with OPTIONS, which SIPp sees as calls of their own: each is answered 200
 * and counts as a call, so run it with a large -m and read the outcome from the trace
 * (see `invitesSeen` in the trunk tests) after stopping it.
 */
export function uasScenario(b: UasBehaviour): string {
  const reply = (status: string, extra = '', sdp = false): string => `
  <send${sdp ? ' retrans="500"' : ''}>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>${extra}
      ${sdp ? 'Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=provider 1 1 IN IP[local_ip_type] [local_ip]\n      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a=ptime:20\n' : 'Content-Length: 0\n'}
    ]]>
  </send>`;
  let body = `\n  <recv request="OPTIONS" optional="true" next="options"/>\n  <recv request="INVITE" crlf="true"/>`;
  if (b.challenge) {
    const { user, password, realm } = b.challenge;
    // 401 + WWW-Authenticate: SIPp's verifyauth checks the Authorization header.
    body += reply(
      '401 Unauthorized',
      `\n      WWW-Authenticate: Digest realm="${realm}", nonce="sippnonce[call_number][pid]", algorithm=MD5`,
    );
    body += `\n  <recv request="ACK"/>
  <recv request="INVITE" crlf="true">
    <action>
      <verifyauth assign_to="authvalid" username="${user}" password="${password}"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="authorized"/>`;
    body += reply('403 Wrong Credentials');
    body += `\n  <recv request="ACK" next="failed"/>\n  <label id="authorized"/>`;
  }
  if (b.answer === 'silent') {
    body += `\n  <pause milliseconds="15000"/>`;
  } else if (b.answer === 200) {
    body += (b.ring === false ? '' : reply('180 Ringing')) + reply('200 OK', '', true);
    body +=
      `\n  <recv request="ACK" crlf="true"/>\n  <recv request="BYE"/>` +
      reply('200 OK').replace(';tag=[pid]SIPpTag01[call_number]', '');
  } else {
    body += reply(`${b.answer} Refused By Test`) + `\n  <recv request="ACK"/>`;
  }
  if (b.challenge) body += `\n  <label id="failed"/>`;
  body += `\n  <nop hide="true" next="end"/>` + OPTIONS_OK;
  return writeScenario('uas', body);
}

export interface Callee {
  /** The final answer: 200 (with SDP), or a refusal such as 486. */
  readonly answer: number;
  /** How long it rings (180) before the final answer (default 0: 180 and the answer at once). */
  readonly ringMs?: number;
  /** With 200: the callee hangs up (BYE) after this long; absent: it waits for the caller's BYE. */
  readonly hangupAfterMs?: number;
}

/**
 * A PSTN party behind a trunk, in server mode, for calls placed towards it: answers
 * Kamailio's OPTIONS probes, rings, then answers 200 with an SDP naming the test's
 * own RTP socket (`c=IN IP4 [media_ip]`, `m=audio [rtp_port]`, key rtp_port; PCMU,
 * PCMA, telephone-event) or refuses with `answer`; hangs up itself after
 * hangupAfterMs, or waits for the caller's BYE. One scenario run serves many calls.
 */
export function calleeScenario(c: Callee): string {
  const reply = (status: string, sdp = false, toTag = true): string => `
  <send${sdp ? ' retrans="500"' : ''}>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_From:]
      [last_To:]${toTag ? ';tag=[pid]SIPpTag01[call_number]' : ''}
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      ${sdp ? 'Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=pstn 1 1 IN IP4 [media_ip]\n      s=-\n      c=IN IP4 [media_ip]\n      t=0 0\n      m=audio [rtp_port] RTP/AVP 0 8 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:8 PCMA/8000\n      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-15\n      a=ptime:20\n' : 'Content-Length: 0\n'}
    ]]>
  </send>`;
  const hangsUp = c.answer === 200 && c.hangupAfterMs !== undefined;
  // While it rings a CANCEL may come: 200 to it, 487 to the INVITE (RFC 3261 §9.2).
  const cancellable = (c.ringMs ?? 0) > 0;
  // Its own BYE needs the INVITE's From and To, the 487 its CSeq (SIPp refuses variables it never uses).
  const captures = [
    ...(hangsUp
      ? [
          '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>',
          '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="callee"/>',
        ]
      : []),
    ...(cancellable
      ? [
          '<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>',
          // The 487 answers the INVITE, so it carries the INVITE's Vias (RFC 3261 §8.2.6.2), not
          // the CANCEL's: a proxy forwards a CANCEL with its own Via only and could not relay it.
          // (all of them: a header search would give the first only).
          '<ereg regexp="Via: [^[:cntrl:]]*([[:cntrl:]]+Via: [^[:cntrl:]]*)*" search_in="msg" check_it="true" assign_to="invite_via"/>',
        ]
      : []),
  ];
  const capture = captures.length > 0 ? `\n    <action>\n      ${captures.join('\n      ')}\n    </action>\n  ` : '';
  let body = `
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="INVITE" crlf="true" rrs="true">${capture}</recv>`;
  body += reply('180 Ringing');
  if (cancellable)
    body +=
      `\n  <recv request="CANCEL" timeout="${c.ringMs}" ontimeout="answer"/>` +
      reply('200 OK') +
      reply('487 Request Terminated')
        .replace('[last_CSeq:]', 'CSeq: [$invite_cseq] INVITE')
        .replace('[last_Via:]', '[$invite_via]') +
      `\n  <recv request="ACK" next="end"/>\n  <label id="answer"/>`;
  if (c.answer !== 200) {
    body += reply(`${c.answer} Refused By Test`) + `\n  <recv request="ACK"/>`;
  } else {
    body += reply('200 OK', true) + `\n  <recv request="ACK" crlf="true"/>`;
    if (c.hangupAfterMs === undefined) {
      body += `\n  <recv request="BYE"/>` + reply('200 OK', false, false);
    } else {
      body += `
  <pause milliseconds="${c.hangupAfterMs}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: [$callee];tag=[pid]SIPpTag01[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>`;
    }
  }
  body += `\n  <nop hide="true" next="end"/>` + OPTIONS_OK;
  return writeScenario('callee', body);
}

/** A provider registrar: challenges with 401 and answers 200 only to the right digest. */
export function registrarScenario(c: {
  readonly user: string;
  readonly password: string;
  readonly realm: string;
}): string {
  return writeScenario(
    'registrar',
    `
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="REGISTER" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="${c.realm}", nonce="regnonce[call_number][pid]", algorithm=MD5
      Content-Length: 0

    ]]>
  </send>
  <recv request="REGISTER" crlf="true">
    <action>
      <verifyauth assign_to="authvalid" username="${c.user}" password="${c.password}"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="ok"/>
  <send next="end">
    <![CDATA[
      SIP/2.0 403 Wrong Credentials
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="ok"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=300
      Expires: 300
      Content-Length: 0

    ]]>
  </send>
  <nop hide="true" next="end"/>${OPTIONS_OK}`,
  );
}
