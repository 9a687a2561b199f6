import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { OPTIONS_OK, startSipp, writeScenario, type RunningSipp } from '../../harness/sipp';

/**
 * A provider that answers every MESSAGE 200 and writes its X-SMS-Id (one line a new
 * Call-ID) to SIPp's log file, instead of the full message trace: at thousands of
 * MESSAGEs a second the trace costs SIPp more than the SIP does. Retransmissions of a
 * MESSAGE SIPp already answered are absorbed by SIPp and not logged; a second attempt
 * of the same message (another CSeq, or another Call-ID) would be a second line.
 */
export function smsBenchProviderScenario(): string {
  return writeScenario(
    'sms-bench-provider',
    `
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="MESSAGE" crlf="true">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="X-SMS-Id:" check_it="true" assign_to="id"/>
      <log message="[$id]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagSms[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <nop hide="true" next="end"/>${OPTIONS_OK}`,
  );
}

/** A running bench provider: its log grows by one X-SMS-Id line per MESSAGE received. */
export interface SmsBenchProvider {
  readonly sipp: RunningSipp;
  readonly logPath: string;
  /** Lines appended since the last call (complete lines only). */
  drain(): string[];
  close(): void;
}

export async function startSmsBenchProvider(
  ip: string,
  port: number,
  proxy: string,
  timeoutSeconds: number,
): Promise<SmsBenchProvider> {
  const sipp = await startSipp({
    scenario: smsBenchProviderScenario(),
    remote: proxy,
    serverMode: true,
    localIp: ip,
    localPort: port,
    calls: 10_000_000,
    limit: 100_000,
    timeoutSeconds,
    traceMessages: false,
    // -trace_logs: the id lines the bench counts; -buff_size: a socket buffer that rides out bursts.
    extraArgs: ['-trace_logs', '-log_file', 'ids.log', '-buff_size', '4194304'],
  });
  const logPath = join(sipp.messagesPath, '..', 'ids.log');
  let fd: number | undefined;
  let carry = '';
  const chunk = Buffer.alloc(1 << 20);
  return {
    sipp,
    logPath,
    drain(): string[] {
      try {
        fd ??= openSync(logPath, 'r');
      } catch {
        return [];
      }
      let text = carry;
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n <= 0) break;
        text += chunk.toString('latin1', 0, n);
      }
      const end = text.lastIndexOf('\n') + 1;
      carry = text.slice(end);
      return text.slice(0, end).split('\n').filter(Boolean);
    },
    close(): void {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
