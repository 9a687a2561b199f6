/**
 * New calls a media gateway places through Kamailio (issue 14, contract §2): an initial
 * INVITE from an address of dispatcher set 2 must carry a fresh X-Bridge-Proof signed
 * over its Call-ID with the shared secret; then Kamailio routes it like an
 * authenticated user's call (here: out through a trunk). Without a proof, with a forged
 * or stale one, or with one made for another Call-ID: 403 and the counter
 * gateway_proof_rejected moves on /metrics. SIPp plays the gateway (its address joins
 * set 2 for the suite, disabled so Kamailio never sends AI calls to it) and the
 * provider behind the trunk; Kamailio, rtpengine and PostgreSQL are the stack's own.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { GATEWAY_SET } from '../../services/common/src/kamailio/names';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { DS_DISABLED } from '../../services/common/src/kamailio/dispatcher-membership';
import { signProxyProof } from '../../services/common/src/sip/proxy-proof';
import { api, createUser } from '../support/api';
import { expectSippSuccess, proxy, register } from '../support/sip';
import {
  freeUdpPort,
  requestsReceived,
  responsesSent,
  startSipp,
  tracedMessages,
  uacInviteScenario,
  uasScenario,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { testStack } from '../support/stack';

const stack = testStack();
const SECRET = stack.config.secrets.proxySharedSecret;
const OTHER_SECRET = 'not-the-stack-secret-but-just-as-long-0123';
const GATEWAY_IP = '127.0.0.8';
const PROVIDER_IP = '127.0.0.2';
const TRUNK_ID = 'gwcalls_trunk';
const FAKE_GATEWAY = 'tests-gateway-calls';

const KAMAILIO_LOG = join(stack.config.stateDir, 'logs', 'kamailio.log');

const db = new Client({ connectionString: stack.config.databaseUrl });
const rpc = kamailioRpcFromConfig(stack.config);

async function reloadDispatcher(): Promise<void> {
  // Kamailio refuses reloads closer than reload_delta (1 s).
  for (let i = 0; ; i++) {
    try {
      await rpc.call('dispatcher.reload');
      return;
    } catch (err) {
      if (i >= 10) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** The gateway's INVITE (uacInviteScenario with X-Bridge-Proof: [proof] when `proof`). Keys: user (caller ID), callee, domain, proof. */
function gatewayInvite(expect: number, proof: boolean, holdMs = 500): string {
  const file = uacInviteScenario({ expect, holdMs });
  const text = readFileSync(file, 'utf8');
  const marker = 'Max-Forwards: 70\n      Content-Type: application/sdp';
  if (!text.includes(marker)) throw new Error('the INVITE of uacInviteScenario changed');
  writeFileSync(
    file,
    text.replace(
      marker,
      `Max-Forwards: 70${proof ? '\n      X-Bridge-Proof: [proof]' : ''}\n      Content-Type: application/sdp`,
    ),
  );
  return file;
}

async function scriptCounter(): Promise<number> {
  const res = await fetch(`${stack.apiUrl}/metrics`);
  const text = await res.text();
  const m = /^kamailio_statistic\{group="script",name="gateway_proof_rejected"\} (\d+)/m.exec(text);
  if (!m) throw new Error('no gateway_proof_rejected statistic on /metrics');
  return Number(m[1]);
}

const finals = (run: SippRun): string[] =>
  tracedMessages(run)
    .filter((m) => m.direction === 'received' && /^SIP\/2\.0 [2-6]\d\d/.test(m.text))
    .map((m) => (m.text.split(/\r?\n/)[0] ?? '').replace(/^SIP\/2\.0 /, '').trim());

describe('calls a media gateway places through Kamailio', () => {
  let gatewayPort: number;
  let provider: RunningSipp;

  beforeAll(async () => {
    await db.connect();
    gatewayPort = await freeUdpPort(GATEWAY_IP);
    await db.query('DELETE FROM dispatcher WHERE description = $1', [FAKE_GATEWAY]);
    await db.query(
      `INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES ($1, $2, $3, 0, '', $4)`,
      [GATEWAY_SET, `sip:${GATEWAY_IP}:${gatewayPort}`, DS_DISABLED, FAKE_GATEWAY],
    );
    await reloadDispatcher();
    provider = await startSipp({
      scenario: uasScenario({ answer: 200 }),
      remote: proxy(),
      serverMode: true,
      localIp: PROVIDER_IP,
      localPort: await freeUdpPort(PROVIDER_IP),
      calls: 100_000,
      limit: 100,
      timeoutSeconds: 90,
    });
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
    const trunk = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: TRUNK_ID,
        name: 'Gateway calls test trunk',
        provider: 'sipp',
        proxy_address: PROVIDER_IP,
        proxy_port: provider.localPort,
        transport: 'UDP',
        supports_inbound: false,
        supports_outbound: true,
      },
    });
    if (trunk.status !== 201) throw new Error(`trunk: ${trunk.status} ${JSON.stringify(trunk.body)}`);
  });

  afterAll(async () => {
    provider?.kill();
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
    await db.query('DELETE FROM dispatcher WHERE description = $1', [FAKE_GATEWAY]);
    await reloadDispatcher();
    await db.end();
  });

  /** One INVITE from the gateway's address and port to `callee`, with the proof `sign` makes (none without). */
  async function fromGateway(
    callee: string,
    o: {
      expect: number;
      sign?: (callId: string) => string;
      callerId?: string;
      holdMs?: number;
      during?: (callId: string) => Promise<void>;
    },
  ): Promise<{ run: SippRun; callId: string }> {
    const callId = `${randomBytes(8).toString('hex')}@${GATEWAY_IP}`;
    const sipp = await startSipp({
      scenario: gatewayInvite(o.expect, o.sign !== undefined, o.holdMs),
      remote: proxy(),
      localIp: GATEWAY_IP,
      localPort: gatewayPort,
      keys: {
        user: o.callerId ?? '+15550001234',
        callee,
        domain: stack.config.sip.domain,
        proof: o.sign?.(callId) ?? '',
      },
      extraArgs: ['-cid_str', callId],
      timeoutSeconds: 20,
    });
    if (o.during) await o.during(callId);
    return { run: await sipp.done, callId };
  }

  test('a proven INVITE to an external number → out through the trunk with an E.164 From and P-Asserted-Identity, no proof header; a gateway dialog with a CDR', async () => {
    let dialog = '';
    const { run, callId } = await fromGateway('+15551230077', {
      expect: 200,
      sign: (id) => signProxyProof(SECRET, id),
      holdMs: 1500,
      during: async (id) => {
        for (let i = 0; i < 40 && !dialog.includes('gateway'); i++) {
          await new Promise((r) => setTimeout(r, 100));
          const list = await rpc.call<unknown>('dlg.list').catch(() => []);
          const mine = (Array.isArray(list) ? list : []).find((d) => JSON.stringify(d).includes(id));
          if (mine) dialog = JSON.stringify(mine);
        }
      },
    });
    expectSippSuccess(run, 'gateway call through the trunk');
    expect(dialog).toMatch(/"origin":\s*"gateway"/);

    // The provider saw it: its INVITE carries the caller ID, PAI and never our proof.
    const invite = tracedMessages({ messages: readFileSync(providerTrace(), 'utf8') } as SippRun).find(
      (m) => m.direction === 'received' && m.text.startsWith('INVITE ') && m.text.includes(callId),
    );
    expect(invite?.text).toMatch(/^INVITE sip:\+15551230077@127\.0\.0\.2/);
    expect(invite?.text).toMatch(/^From: <sip:\+15550001234@/m);
    expect(invite?.text).toMatch(/^P-Asserted-Identity: <sip:\+15550001234@/m);
    expect(invite?.text).not.toMatch(/X-Bridge/i);

    const cdr = await waitForRow('SELECT src_user, dst_user, trunk_id FROM acc_cdrs WHERE callid = $1', callId);
    expect(cdr).toMatchObject({ src_user: '+15550001234', trunk_id: TRUNK_ID });
  });

  test('a caller ID without "+" (00 prefix) → sent to the trunk as +<digits>', async () => {
    const { run, callId } = await fromGateway('+15551230078', {
      expect: 200,
      sign: (id) => signProxyProof(SECRET, id),
      callerId: '0015550004321',
    });
    expectSippSuccess(run, 'gateway call with a 00 caller ID');
    const invite = tracedMessages({ messages: readFileSync(providerTrace(), 'utf8') } as SippRun).find(
      (m) => m.direction === 'received' && m.text.startsWith('INVITE ') && m.text.includes(callId),
    );
    expect(invite?.text).toMatch(/^From: <sip:\+15550004321@/m);
    expect(invite?.text).toMatch(/^P-Asserted-Identity: <sip:\+15550004321@/m);
  });

  test("a proven INVITE to a user name → rings that user's registered phone, no digest asked", async () => {
    const bob = await createUser();
    const port = await freeUdpPort();
    expectSippSuccess(
      await register(bob.username, bob.password, { first: 401, final: 200, contactPort: port }),
      'bob registers',
    );
    const phone = await startSipp({
      scenario: uasScenario({ answer: 200 }),
      remote: proxy(),
      serverMode: true,
      localPort: port,
      timeoutSeconds: 20,
    });
    const { run, callId } = await fromGateway(bob.username, { expect: 200, sign: (id) => signProxyProof(SECRET, id) });
    expectSippSuccess(run, 'gateway call to a user');
    expect(finals(run)).not.toContain('407 Proxy Authentication Required');
    const bobRun = await phone.done;
    expect(responsesSent(bobRun, 200, 'INVITE')).toBe(1);
    expect(bobRun.messages).toContain(callId);
    expect(bobRun.messages).not.toMatch(/X-Bridge/i);
  });

  test.each<[string, ((callId: string) => string) | undefined]>([
    ['no proof', undefined],
    ['a proof signed with another secret', (id) => signProxyProof(OTHER_SECRET, id)],
    ['a genuine proof two minutes old', (id) => signProxyProof(SECRET, id, Date.now() / 1000 - 120)],
    ['a genuine proof made for another Call-ID', () => signProxyProof(SECRET, 'another-call@127.0.0.8')],
    ['a malformed proof', () => 'yes-really'],
  ])(
    '%s → 403 Forbidden - Not Through The Proxy, one log line, the counter moves, nothing reaches the trunk',
    async (_label, sign) => {
      const before = await scriptCounter();
      const invitesBefore = requestsReceived(await snapshot(), 'INVITE');
      const { run, callId } = await fromGateway('+15551230079', { expect: 403, ...(sign ? { sign } : {}) });
      expectSippSuccess(run, 'refused');
      expect(finals(run)).toEqual(['403 Forbidden - Not Through The Proxy']);
      expect(await scriptCounter()).toBe(before + 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(requestsReceived(await snapshot(), 'INVITE')).toBe(invitesBefore);
      const logged = readFileSync(KAMAILIO_LOG, 'utf8')
        .split('\n')
        .filter(
          (line) =>
            line.includes(callId) && line.includes(`INVITE from gateway address ${GATEWAY_IP}:${gatewayPort} refused`),
        );
      expect(logged).toHaveLength(1);
      const metrics = await (await fetch(`${stack.apiUrl}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`^kamailio_gateway_proof_rejected ${before + 1}$`, 'm'));
    },
  );

  /** The provider's trace so far (it runs for the whole suite). */
  function providerTrace(): string {
    return provider.messagesPath;
  }

  async function snapshot(): Promise<SippRun> {
    return { messages: readFileSync(providerTrace(), 'utf8') } as SippRun;
  }

  async function waitForRow(query: string, callId: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 40; i++) {
      const { rows } = await db.query<Record<string, unknown>>(query, [callId]);
      if (rows[0]) return rows[0];
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no row for ${callId}`);
  }

  test('the provider answered every proven call and nothing else', async () => {
    const run = await snapshot();
    expect(responsesSent(run, 200, 'INVITE')).toBe(requestsReceived(run, 'INVITE'));
  });
});
