import { api } from './api';
import { proxy } from './sip';
import {
  OPTIONS_OK,
  freeUdpPort,
  requestsReceived,
  runSipp,
  startSipp,
  tracedMessages,
  writeScenario,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { testStack, type TestStack } from './stack';

/** A reply of the provider's: a SIP status line for one MESSAGE. */
function reply(status: string): string {
  return `
  <send>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagSms[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>`;
}

/**
 * A provider taking MESSAGEs (SIPp server mode). Each MESSAGE Call-ID is a SIPp call:
 * `answers` are the replies to its successive MESSAGEs (retries keep the Call-ID),
 * e.g. ['503 Busy', '503 Busy', '200 OK']. Dispatcher OPTIONS probes are answered 200.
 */
export function smsProviderScenario(answers: readonly string[]): string {
  let body = `\n  <recv request="OPTIONS" optional="true" next="options"/>\n  <recv request="MESSAGE" crlf="true"/>`;
  answers.forEach((a, i) => {
    if (i > 0) body += `\n  <recv request="MESSAGE" crlf="true"/>`;
    body += reply(a);
  });
  body += `\n  <nop hide="true" next="end"/>` + OPTIONS_OK;
  return writeScenario('sms-provider', body);
}

/** A phone's inbox: waits for one MESSAGE and answers 200 (run in server mode; register its port as the Contact). */
export function userInboxScenario(): string {
  return writeScenario('user-inbox', `\n  <recv request="MESSAGE"/>${reply('200 OK')}`);
}

/** One MESSAGE from `[from]` to `[to]` with `[text]`, expecting `expect` (with an X-SMS-Part header when `part` is set). */
export function smsSenderScenario(expect: number, part = false, contentType = 'text/plain;charset=UTF-8'): string {
  return writeScenario(
    'sms-sender',
    `
  <send retrans="500">
    <![CDATA[
      MESSAGE sip:[to]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[from]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[to]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Content-Type: ${contentType}${part ? '\n      X-SMS-Part: [part]' : ''}
      Content-Length: [len]

      [text]
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="${expect}"/>`,
  );
}

/** A registered user's MESSAGE to `[to]`: challenged (407), sent again with credentials (-au/-ap), accepted with `expect`. */
export function smsUserSenderScenario(expect: number): string {
  const message = (cseq: number, auth: boolean): string => `
  <send retrans="500">
    <![CDATA[
      MESSAGE sip:[to]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[user]@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[to]@[domain]>
      Call-ID: [call_id]
      CSeq: ${cseq} MESSAGE${auth ? '\n      [authentication]' : ''}
      Content-Type: text/plain;charset=UTF-8
      Content-Length: [len]

      [text]
    ]]>
  </send>`;
  return writeScenario(
    'sms-user-sender',
    `${message(1, false)}\n  <recv response="407" auth="true"/>${message(2, true)}\n  <recv response="${expect}"/>`,
  );
}

export async function smsProvider(ip: string, answers: readonly string[]): Promise<RunningSipp> {
  const port = await freeUdpPort(ip);
  return startSipp({
    scenario: smsProviderScenario(answers),
    remote: proxy(),
    serverMode: true,
    localIp: ip,
    localPort: port,
    calls: 100_000,
    limit: 5000,
    timeoutSeconds: 120,
  });
}

export async function stop(p: RunningSipp): Promise<SippRun> {
  p.kill();
  return p.done;
}

/** MESSAGE requests a provider received, with their headers and body. */
export function messagesReceived(run: SippRun): string[] {
  return tracedMessages(run)
    .filter((m) => m.direction === 'received' && m.text.startsWith('MESSAGE '))
    .map((m) => m.text);
}

export const messageCount = (run: SippRun): number => requestsReceived(run, 'MESSAGE');

/** Sends one MESSAGE from `ip` (a trunk's address, or a stranger's). */
export function sendSms(
  ip: string,
  from: string,
  to: string,
  text: string,
  expect: number,
  part?: string,
  contentType?: string,
): Promise<SippRun> {
  return runSipp({
    scenario: smsSenderScenario(expect, part !== undefined, contentType),
    remote: proxy(),
    localIp: ip,
    keys: { from, to, text, ...(part !== undefined ? { part } : {}) },
    timeoutSeconds: 10,
  });
}

export interface SmsItem {
  readonly message_id: string;
  readonly direction: string;
  readonly from_number: string;
  readonly to_number: string;
  readonly message: string;
  readonly status: string;
  readonly segments: number;
  readonly encoding: string;
  readonly attempts: number;
  readonly last_sip_status: number | null;
  readonly error: string | null;
  readonly in_reply_to: string | null;
  readonly trunk_id: string | null;
}

export async function smsHistory(query: string, stack: TestStack = testStack()): Promise<SmsItem[]> {
  const res = await api<{ items: SmsItem[] }>('GET', `/api/sms/history?per_page=200&${query}`, {
    role: 'operator',
    stack,
  });
  if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.items;
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
