import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../scripts/stack/env';
import { api, createUser } from '../support/api';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import { expectSippSuccess, proxy } from '../support/sip';
import { G711A_PCAP, startSipp, tracedMessages, uacMediaScenario, waitForAnswer } from '../../harness/sipp';
import { testStack } from '../support/stack';

const run = promisify(execFile);

/**
 * What operators rely on (docs/operations.md), against the running test stack: one
 * call followed by its Call-ID through Kamailio's, the gateway's and the
 * control-plane's JSON logs; `npm run kamcmd` reaching Kamailio; Kamailio's and
 * rtpengine's statistics on the control-plane's /metrics.
 */

type LogLine = Record<string, unknown> & { message?: string };

function logLines(name: string): { parsed: LogLine[]; unparsed: string[] } {
  const text = readFileSync(join(testStack().config.stateDir, 'logs', `${name}.log`), 'utf8');
  const parsed: LogLine[] = [];
  const unparsed: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      parsed.push(JSON.parse(line) as LogLine);
    } catch {
      unparsed.push(line);
    }
  }
  return { parsed, unparsed };
}

/** Lines that mention the Call-ID anywhere, and whether each carries it as sip_call_id. */
function linesAbout(name: string, sipCallId: string): { tagged: LogLine[]; untagged: string[] } {
  const { parsed, unparsed } = logLines(name);
  const mentions = parsed.filter((l) => JSON.stringify(l).includes(sipCallId));
  return {
    tagged: mentions.filter((l) => l['sip_call_id'] === sipCallId),
    untagged: [
      ...mentions.filter((l) => l['sip_call_id'] !== sipCallId).map((l) => JSON.stringify(l)),
      ...unparsed.filter((l) => l.includes(sipCallId)),
    ],
  };
}

const level = testStack().config.logLevel;
const perCallLines = level === 'info' || level === 'debug';
if (!perCallLines)
  console.log(
    `tests/ops/observability.test.ts: per-call log test skipped: the test stack logs at ${level}; run with LOG_LEVEL=info`,
  );

describe('one call, one correlation id across the logs', () => {
  (perCallLines ? test : test.skip)(
    'a call to an AI number → every Kamailio, gateway and control-plane line about it carries its Call-ID as sip_call_id, the gateway lines one call_id',
    async () => {
      const caller = await createUser();
      const number = `+1555779${String(Date.now() % 10000).padStart(4, '0')}`;
      const created = await api('POST', '/api/numbers/', {
        role: 'operator',
        body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
      });
      expect(created.status).toBe(201);
      const audio = pcapRtp(G711A_PCAP, 8).slice(0, 50);
      const peer = await RtpPeer.open();
      let sipCallId: string;
      try {
        const sipp = await startSipp({
          scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 1500 }),
          remote: proxy(),
          keys: {
            user: caller.username,
            callee: number.slice(1),
            domain: testStack().config.sip.domain,
            rtp_port: peer.port,
          },
          auth: { user: caller.username, password: caller.password },
          timeoutSeconds: 30,
        });
        const relay = await waitForAnswer(sipp);
        await peer.send(audio, relay);
        const done = await sipp.done;
        expectSippSuccess(done, 'call to the AI number');
        const invite = tracedMessages(done).find((m) => m.direction === 'sent' && m.text.startsWith('INVITE '));
        sipCallId = /^Call-ID:\s*(\S+)/im.exec(invite?.text ?? '')?.[1] ?? '';
        expect(sipCallId).not.toBe('');
      } finally {
        peer.close();
      }
      // The gateway writes 'call ended' and the control-plane the dialog end shortly after the BYE.
      const deadline = Date.now() + 5000;
      while (
        Date.now() < deadline &&
        !(
          linesAbout('media-gateway', sipCallId).tagged.some((l) => l.message === 'call ended') &&
          linesAbout('control-plane', sipCallId).tagged.some((l) => l.message === 'call ended at the SIP edge')
        )
      )
        await new Promise((r) => setTimeout(r, 200));

      const kamailio = linesAbout('kamailio', sipCallId);
      const gateway = linesAbout('media-gateway', sipCallId);
      const control = linesAbout('control-plane', sipCallId);
      console.log(
        `Call-ID ${sipCallId}: kamailio ${kamailio.tagged.length} lines, media-gateway ${gateway.tagged.length}, control-plane ${control.tagged.length}`,
      );
      expect({ kamailio: kamailio.untagged, gateway: gateway.untagged, control: control.untagged }).toEqual({
        kamailio: [],
        gateway: [],
        control: [],
      });
      const messages = (lines: LogLine[]): string[] => lines.map((l) => String(l.message ?? ''));
      expect(messages(kamailio.tagged)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^call to AI gateway /),
          expect.stringMatching(/^dialog_start /),
        ]),
      );
      expect(messages(gateway.tagged)).toEqual(expect.arrayContaining(['call answered', 'call ended']));
      expect(messages(control.tagged)).toEqual(
        expect.arrayContaining(['call started at the SIP edge', 'call ended at the SIP edge']),
      );
      // The gateway's product call id is the same on every line, and every line with it carries the Call-ID.
      const callIds = new Set(gateway.tagged.map((l) => l['call_id']).filter((v) => v !== undefined));
      expect(callIds.size).toBe(1);
      const [callId] = [...callIds] as string[];
      const withCallId = logLines('media-gateway').parsed.filter((l) => l['call_id'] === callId);
      expect(withCallId.every((l) => l['sip_call_id'] === sipCallId)).toBe(true);
      const record = await api<{ sip_call_id?: string }>('GET', `/api/calls/${callId}`, { role: 'operator' });
      expect(record.status).toBe(200);
      expect(record.body.sip_call_id).toBe(sipCallId);
    },
  );
});

describe('npm run kamcmd reaches the local stack', () => {
  const kamcmd = (...args: string[]): Promise<{ stdout: string }> =>
    run(process.execPath, [join(REPO_ROOT, 'dist', 'scripts', 'kamcmd.js'), '--instance', 'test', ...args], {
      timeout: 10_000,
    });

  test('ul.dump, dlg.list, dispatcher.list and stats.fetch answer without -s', async () => {
    const stats = await kamcmd('stats.fetch', 'all');
    expect(stats.stdout).toMatch(/core\.rcv_requests/);
    expect((await kamcmd('ul.dump')).stdout).toMatch(/Domains|AoR/);
    await kamcmd('dlg.list'); // no calls: an empty answer, but an answer
    const sets = await kamcmd('dispatcher.list');
    // The gateway and the SMS endpoint joined their sets.
    expect(sets.stdout).toMatch(/ID: 2/);
    expect(sets.stdout).toMatch(/URI: sip:/);
  });
});

describe('Kamailio and rtpengine statistics on /metrics', () => {
  test('a scrape → kamailio_statistic and media_relay_statistic series, no scrape errors, within the deadline', async () => {
    const times: number[] = [];
    let text = '';
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const res = await fetch(`${testStack().apiUrl}/metrics`);
      text = await res.text();
      times.push(performance.now() - started);
      expect(res.status).toBe(200);
    }
    times.sort((a, b) => a - b);
    console.log(
      `/metrics scrape: median ${times[5]!.toFixed(1)} ms, max ${times[9]!.toFixed(1)} ms, ${text.length} bytes, ` +
        `${text.split('\n').filter((l) => l.startsWith('kamailio_statistic{')).length} Kamailio and ` +
        `${text.split('\n').filter((l) => l.startsWith('media_relay_statistic{')).length} relay statistics; ` +
        `stats.fetch ${/^kamailio_scrape_duration_seconds (\S+)/m.exec(text)?.[1]} s, relay ${/^media_relay_scrape_duration_seconds (\S+)/m.exec(text)?.[1]} s`,
    );
    expect(text).toMatch(/^kamailio_statistic\{group="core",name="rcv_requests"\} \d+/m);
    expect(text).toMatch(/^kamailio_statistic\{group="usrloc",name="registered_users"\} \d+/m);
    expect(text).toMatch(/^kamailio_scrape_errors_total 0$/m);
    expect(text).toMatch(/^kamailio_up 1$/m);
    if (testStack().config.relay.kind === 'rtpengine') {
      expect(text).toMatch(/^media_relay_statistic\{section="currentstatistics",name="sessionstotal"\} \d+/m);
      expect(text).toMatch(/^media_relay_statistic\{section="totalstatistics",name="managedsessions"\} \d+/m);
    }
    expect(text).toMatch(/^media_relay_up 1$/m);
    expect(text).toMatch(/^media_relay_scrape_errors_total 0$/m);
    expect(times[9]).toBeLessThan(1000);
  });
});
