/**
 * The media gateway and the SMS endpoint take requests only from Kamailio (issue 10,
 * finding 1). An attacker on another address (127.0.0.7) who sends a well-formed
 * INVITE straight to the gateway's SIP port would skip digest auth, call limits, the
 * blocklist and CDRs; Kamailio therefore signs what it relays (X-Bridge-Proof, an
 * HMAC over time and Call-ID with PROXY_SHARED_SECRET) and strips the header from
 * what clients send. SIPp plays the attacker and the callers; the stack is real.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from 'pg';
import { signProxyProof } from '../../services/common/src/sip/proxy-proof';
import { AiPeer } from '../support/ai-peer';
import { api, createUser } from '../support/api';
import { expectSippSuccess, proxy } from '../support/sip';
import { runSipp, tracedMessages, uacInviteScenario, writeScenario, type SippRun } from '../../harness/sipp';
import { testStack } from '../support/stack';

const ATTACKER = '127.0.0.7';
const stack = testStack();
const SECRET = stack.config.secrets.proxySharedSecret;
const OTHER_SECRET = 'not-the-stack-secret-but-just-as-long-0123';

type Transport = 'u1' | 't1';

/** A Call-ID of our own (SIPp's -cid_str), so the test can sign it the way Kamailio would. */
const newCallId = (): string => `${randomBytes(8).toString('hex')}@${ATTACKER}`;

/** SDP of a SIPp offer; `connection` / `port` replace the c= address and m= port. */
function offer(o: { connection?: string; port?: string } = {}): string {
  return `v=0
      o=sipp 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 ${o.connection ?? '[media_ip]'}
      t=0 0
      m=audio ${o.port ?? '[media_port]'} RTP/AVP 0 8 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendrecv`;
}

/**
 * An INVITE for the AI number sent straight to the gateway, as Kamailio would relay
 * it (X-Route), with X-Bridge-Proof: [proof] when `proof` and no such header when
 * not. A final answer other than 200 is ACKed; a 200 is ACKed, held briefly and hung
 * up, each request with the proof. Keys: number, proof (the Call-ID is SIPp's -cid_str).
 */
function directInvite(o: { expect: number; proof: boolean; sdp?: { connection?: string; port?: string } }): string {
  const proof = o.proof ? '\n      X-Bridge-Proof: [proof]' : '';
  let body = `
  <send retrans="500">
    <![CDATA[
      INVITE sip:[number]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15551230001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[number]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:attacker@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      X-Route: ai|[number]${proof}
      Content-Type: application/sdp
      Content-Length: [len]

      ${offer(o.sdp)}

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>`;
  if (o.expect !== 200) {
    return writeScenario(
      'direct-invite',
      `${body}
  <recv response="${o.expect}"/>
  <send>
    <![CDATA[
      ACK sip:[number]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:+15551230001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70${proof}
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="200"/>`,
    );
  }
  body += `
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15551230001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70${proof}
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15551230001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70${proof}
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>`;
  return writeScenario('direct-invite', body);
}

/** A MESSAGE straight to the SMS endpoint that claims, in Kamailio's headers, to come from a trunk for our number. Keys: number, proof (the Call-ID is SIPp's -cid_str). */
function directMessage(proof: boolean): string {
  return writeScenario(
    'direct-message',
    `
  <send retrans="500">
    <![CDATA[
      MESSAGE sip:[number]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+15551230009@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[number]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      X-Bridge-Source: trunk;trunk=forged
      X-Bridge-Route: ai|[number]
      X-Bridge-Did: [number]${proof ? '\n      X-Bridge-Proof: [proof]' : ''}
      Content-Type: text/plain
      Content-Length: [len]

      free money, reply YES
    ]]>
  </send>
  <recv response="403"/>`,
  );
}

/** Counters of a Prometheus text page, `name{reason="x"} n` → {x: n}. */
async function counters(url: string, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(url)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{reason="(\\w+)"\\} (\\d+(?:\\.\\d+)?)`, 'gm')))
    out[m[1] as string] = Number(m[2]);
  return out;
}
const GATEWAY_METRICS = `http://${stack.config.gateway.httpHost}:${stack.config.gateway.httpPort}/metrics`;
const gatewayRejected = (): Promise<Record<string, number>> => counters(GATEWAY_METRICS, 'gateway_sip_rejected_total');
const smsRejected = (): Promise<Record<string, number>> =>
  counters(`${stack.apiUrl}/metrics`, 'sms_sip_rejected_total');

/** The final responses SIPp received, as `<status> <reason>`. */
function finals(run: SippRun): string[] {
  return tracedMessages(run)
    .filter((m) => m.direction === 'received' && /^SIP\/2\.0 [2-6]\d\d /.test(m.text))
    .map((m) => (m.text.split('\r\n')[0] ?? m.text.split('\n')[0] ?? '').replace(/^SIP\/2\.0 /, '').trim());
}

describe('the media gateway and the SMS endpoint take only what came through Kamailio', () => {
  const db = new Client({ connectionString: stack.config.databaseUrl });
  let peer: AiPeer;
  let number: string;

  beforeAll(async () => {
    peer = await AiPeer.start();
    await db.connect();
    number = `1555779${String(Date.now() % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number: `+${number}`, route_type: 'ai', ai_dialect: 'olib', ai_agent_url: `${peer.url}/olib` },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await peer.close();
    await db.end();
  });

  const callRows = async (callId: string): Promise<number> =>
    Number(
      (await db.query<{ n: string }>('SELECT count(*) AS n FROM calls WHERE sip_call_id = $1', [callId])).rows[0]?.n,
    );

  /** An INVITE to the gateway's port from 127.0.0.7; `sign` makes its X-Bridge-Proof (none without). */
  async function direct(
    transport: Transport,
    o: { expect: number; sign?: (callId: string) => string; sdp?: { connection?: string; port?: string } },
  ): Promise<{ run: SippRun; callId: string }> {
    const callId = newCallId();
    const run = await runSipp({
      scenario: directInvite({ expect: o.expect, proof: o.sign !== undefined, sdp: o.sdp }),
      remote: `${stack.config.gateway.sipAddress}:${stack.config.gateway.sipPort}`,
      localIp: ATTACKER,
      transport,
      keys: { number, proof: o.sign?.(callId) ?? '' },
      extraArgs: ['-cid_str', callId],
      timeoutSeconds: 15,
    });
    return { run, callId };
  }

  describe.each<[string, Transport]>([
    ['UDP', 'u1'],
    ['TCP', 't1'],
  ])('an INVITE straight to the gateway over %s', (_name, transport) => {
    test('without a proof → 403 Forbidden - Not Through The Proxy, no AI session, no call row; no_proof counted', async () => {
      const before = await gatewayRejected();
      const connections = peer.connections.length;
      const { run, callId } = await direct(transport, { expect: 403 });
      expectSippSuccess(run, 'INVITE without a proof');
      expect(finals(run)).toEqual(['403 Forbidden - Not Through The Proxy']);
      await new Promise((r) => setTimeout(r, 500));
      expect(peer.connections.length).toBe(connections);
      expect(await callRows(callId)).toBe(0);
      expect((await gatewayRejected())['no_proof']).toBeGreaterThanOrEqual((before['no_proof'] ?? 0) + 1);
    });

    test('with a forged proof (another secret) → 403, bad_proof counted; with a genuine but stale one (2 min old) → 403, stale_proof counted', async () => {
      const before = await gatewayRejected();
      const bad = await direct(transport, { expect: 403, sign: (id) => signProxyProof(OTHER_SECRET, id) });
      expectSippSuccess(bad.run, 'INVITE with a forged proof');
      expect(finals(bad.run)).toEqual(['403 Forbidden - Not Through The Proxy']);
      const stale = await direct(transport, {
        expect: 403,
        sign: (id) => signProxyProof(SECRET, id, Date.now() / 1000 - 120),
      });
      expectSippSuccess(stale.run, 'INVITE with a stale proof');
      expect(finals(stale.run)).toEqual(['403 Forbidden - Not Through The Proxy']);
      expect(await callRows(bad.callId)).toBe(0);
      expect(await callRows(stale.callId)).toBe(0);
      const after = await gatewayRejected();
      expect(after['bad_proof']).toBeGreaterThanOrEqual((before['bad_proof'] ?? 0) + 1);
      expect(after['stale_proof']).toBeGreaterThanOrEqual((before['stale_proof'] ?? 0) + 1);
    });

    test('with a valid proof (signed as Kamailio signs) → 200 and an AI session; its ACK and BYE, signed too, are taken', async () => {
      const connections = peer.connections.length;
      const { run, callId } = await direct(transport, { expect: 200, sign: (id) => signProxyProof(SECRET, id) });
      expectSippSuccess(run, 'INVITE with a valid proof');
      expect(peer.connections.length).toBe(connections + 1);
      expect(await callRows(callId)).toBe(1);
    });
  });

  describe.each<[string, { connection?: string; port?: string }, RegExp]>([
    [
      'c=IN IP4 999.999.999.999',
      { connection: '999.999.999.999' },
      /^488 unusable connection address c=IN IP4 999\.999\.999\.999$/,
    ],
    ['m=audio 70000', { port: '70000' }, /^488 malformed SDP: line \d+: m= port "70000" is not a port$/],
  ])('an offer with %s', (_name, sdp, refusal) => {
    test('straight to the gateway with a valid proof → 488 naming what is wrong', async () => {
      const { run, callId } = await direct('u1', { expect: 488, sign: (id) => signProxyProof(SECRET, id), sdp });
      expectSippSuccess(run, 'bad SDP straight to the gateway');
      expect(finals(run)).toHaveLength(1);
      expect(finals(run)[0]).toMatch(refusal);
      expect(await callRows(callId)).toBe(0);
    });

    // rtpengine refuses the offer ("Failed to parse SDP"); Kamailio relays the INVITE
    // unanchored and the gateway's 488 reaches the caller.
    test("through Kamailio from an authenticated caller → the gateway's 488", async () => {
      const caller = await createUser();
      const file = uacInviteScenario({ expect: 488, authenticate: true });
      let text = readFileSync(file, 'utf8');
      if (sdp.connection) text = text.replaceAll('c=IN IP[media_ip_type] [media_ip]', `c=IN IP4 ${sdp.connection}`);
      if (sdp.port) text = text.replaceAll('m=audio [media_port]', `m=audio ${sdp.port}`);
      writeFileSync(file, text);
      const run = await runSipp({
        scenario: file,
        remote: proxy(),
        keys: { user: caller.username, callee: number, domain: stack.config.sip.domain },
        auth: { user: caller.username, password: caller.password },
        timeoutSeconds: 10,
      });
      expectSippSuccess(run, 'bad SDP through Kamailio');
      expect(finals(run).slice(-1)[0]).toMatch(refusal);
    });
  });

  test("a caller's own X-Bridge-Proof never reaches the gateway: the call through Kamailio carries only Kamailio's and is answered", async () => {
    const caller = await createUser();
    const before = await gatewayRejected();
    const connections = peer.connections.length;
    const file = uacInviteScenario({ expect: 200, authenticate: true, holdMs: 1000 });
    // On INVITE, ACK and BYE. Were it relayed, it would come first and the gateway would refuse the call (bad_proof).
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replaceAll('Max-Forwards: 70', 'Max-Forwards: 70\n      X-Bridge-Proof: [proof]'),
    );
    const run = await runSipp({
      scenario: file,
      remote: proxy(),
      keys: {
        user: caller.username,
        callee: number,
        domain: stack.config.sip.domain,
        proof: signProxyProof(OTHER_SECRET, 'whatever'),
      },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 15,
    });
    expectSippSuccess(run, 'call with a forged X-Bridge-Proof through Kamailio');
    expect(peer.connections.length).toBe(connections + 1);
    const after = await gatewayRejected();
    expect(after['bad_proof']).toBe(before['bad_proof']);
  });

  describe('the SMS endpoint', () => {
    const smsEndpoint = `${stack.config.sms.sipAddress}:${stack.config.sms.sipPort}`;
    const smsRows = async (callId: string): Promise<number> =>
      Number(
        (await db.query<{ n: string }>('SELECT count(*) AS n FROM sms_messages WHERE sip_call_id = $1', [callId]))
          .rows[0]?.n,
      );

    test.each([
      ['no proof', false, 'no_proof'],
      ['a forged proof', true, 'bad_proof'],
    ])(
      'a MESSAGE with a forged X-Bridge-Source and %s → 403 Forbidden - Not Through The Proxy, nothing stored',
      async (_name, withProof, reason) => {
        const before = await smsRejected();
        const callId = newCallId();
        const run = await runSipp({
          scenario: directMessage(withProof),
          remote: smsEndpoint,
          localIp: ATTACKER,
          keys: { number, proof: signProxyProof(OTHER_SECRET, callId) },
          extraArgs: ['-cid_str', callId],
          timeoutSeconds: 10,
        });
        expectSippSuccess(run, 'forged MESSAGE');
        expect(finals(run)).toEqual(['403 Forbidden - Not Through The Proxy']);
        expect(await smsRows(callId)).toBe(0);
        expect((await smsRejected())[reason]).toBeGreaterThanOrEqual((before[reason] ?? 0) + 1);
      },
    );
  });
});
