import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Client } from 'pg';
import { verifyWebhookSignature, type CallWebhookBody } from '../../services/common/src/webhooks/outbox';
import { api } from '../support/api';
import { proxy } from '../support/sip';
import { waitFor } from '../support/calls';
import { RtpPeer } from '../../harness/rtp-peer';
import { calleeScenario, requestsReceived, startSipp, type Callee, type RunningSipp } from '../../harness/sipp';
import { testStack } from '../support/stack';

/**
 * API-initiated AI calls end to end: POST /api/calls/initiate → a gateway claims the
 * originate command → INVITE to Kamailio with its proof → a trunk (limits, caller ID)
 * → a SIPp "PSTN" party on 127.0.0.x, which answers with an SDP naming this test's
 * RTP socket → rtpengine → the gateway → the demo agent (greeting), whose speech the
 * far end must receive. A webhook receiver on 127.0.0.x checks every event's
 * signature and order; GET /api/calls/{id} must tell the same story.
 */
const SLOT = Number(process.env['TEST_STACK_SLOT'] || '0');
/** Second parties of this slot: 40000 + slot·500 + k (contract §5). */
const PORT_BASE = 40_000 + SLOT * 500;
const PSTN = '127.0.0.2';
const RECEIVER = '127.0.0.3';
const TRUNK_ID = 'initiate_pstn';

interface Delivery {
  readonly body: CallWebhookBody;
  readonly valid: boolean;
}

/** A webhook endpoint: keeps every delivery with whether its X-Bridge-Signature verified against the raw body. */
class WebhookReceiver {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly deliveries: Delivery[],
  ) {}

  static async start(secret: string, port: number): Promise<WebhookReceiver> {
    const deliveries: Delivery[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const verdict = verifyWebhookSignature(secret, req.headers['x-bridge-signature'], raw);
        try {
          deliveries.push({ body: JSON.parse(raw.toString('utf8')) as CallWebhookBody, valid: verdict.ok });
        } catch {
          // not JSON: counted as nothing, the test fails on the missing event
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, RECEIVER, resolve));
    return new WebhookReceiver(server, `http://${RECEIVER}:${port}/hooks`, deliveries);
  }

  of(callId: string): Delivery[] {
    return this.deliveries.filter((d) => d.body.call_id === callId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The stack supervisor's pid of a child (scripts/stack/processes.ts PidRegistry). */
function childPid(name: string): number | undefined {
  const file = join(testStack().config.stateDir, 'children.json');
  const registry = JSON.parse(readFileSync(file, 'utf8')) as { byName?: Record<string, number> };
  return registry.byName?.[name];
}

/** The PSTN party: SIPp in server mode on its own address, media on `rtp`. */
async function pstn(callee: Callee, port: number, rtp: RtpPeer): Promise<RunningSipp> {
  return startSipp({
    scenario: calleeScenario(callee),
    remote: proxy(),
    serverMode: true,
    localIp: PSTN,
    localPort: port,
    // Its SDP names the address it signals from: the relay sends only there (kamailio/media.cfg, RTP bleed).
    mediaIp: PSTN,
    keys: { rtp_port: rtp.port },
    calls: 100_000,
    limit: 100,
    timeoutSeconds: 90,
  });
}

async function finish(p: RunningSipp) {
  p.kill();
  return p.done;
}

/** Energy of the far end's received audio: packets whose payload is not G.711 silence. */
function loudPackets(peer: RtpPeer): number {
  return peer.received.filter((r) => {
    const { payloadType, payload } = r.packet;
    if (payloadType !== 0 && payloadType !== 8) return false;
    const silent = payloadType === 0 ? [0xff, 0x7f] : [0xd5, 0x55];
    let loud = 0;
    for (const b of payload) if (!silent.includes(b)) loud++;
    return loud > payload.length / 4;
  }).length;
}

const initiate = (body: Record<string, unknown>) => api('POST', '/api/calls/initiate', { role: 'operator', body });

describe('POST /api/calls/initiate: an AI call placed through Kamailio and a trunk', () => {
  let number: string;
  let receiver: WebhookReceiver;
  let db: Client;

  beforeAll(async () => {
    const stack = testStack();
    receiver = await WebhookReceiver.start(stack.config.webhooks.signingSecret, PORT_BASE + 10);
    db = new Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    number = `+1555779${String(Date.now() % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'greeting' } },
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
    await receiver?.close();
    await db?.end();
  });

  /** (Re)creates the trunk towards the PSTN party on `port`. */
  async function trunkTo(port: number): Promise<void> {
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
    const res = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: TRUNK_ID,
        name: 'PSTN played by SIPp',
        provider: 'test',
        proxy_address: PSTN,
        proxy_port: port,
        username: 'initiate',
        password: 'initiate-password',
        supports_outbound: true,
        supports_inbound: false,
        transport: 'UDP',
        preferred_codecs: ['PCMU', 'PCMA'],
        max_concurrent_calls: 20,
        calls_per_second_limit: 10,
        priority: 1,
      },
    });
    expect(res.status).toBe(201);
  }

  test('answered → the far end hears the demo agent; webhooks initiated, ringing, answered, completed in order, signed; the API shows the same', async () => {
    const port = PORT_BASE + 1;
    await trunkTo(port);
    const rtp = await RtpPeer.open(PSTN);
    const sipp = await pstn({ answer: 200, ringMs: 500, hangupAfterMs: 4000 }, port, rtp);
    try {
      const to = '+15550009001';
      const res = await initiate({ from_number: number, to_number: to, webhook_url: receiver.url });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ state: 'initiated' });
      const callId = res.body['call_id'] as string;

      const events = await waitFor(
        'the completed webhook',
        async () => {
          const got = receiver.of(callId);
          return got.some((d) => d.body.event === 'completed' || d.body.event === 'failed') ? got : undefined;
        },
        30_000,
      );
      expect(events.map((d) => d.body.event)).toEqual(['initiated', 'ringing', 'answered', 'completed']);
      expect(events.map((d) => d.body.sequence)).toEqual([1, 2, 3, 4]);
      expect(events.every((d) => d.valid)).toBe(true);
      const completed = events[3]!.body.data;
      expect(completed).toMatchObject({
        from_number: number,
        to_number: to,
        direction: 'outbound',
        ended_by: 'callee',
      });
      // The callee hung up 4 s after answering.
      expect(completed.duration_seconds).toBeGreaterThan(3);
      expect(completed.duration_seconds).toBeLessThan(6);

      // The demo agent's greeting reached the far end through the relay.
      expect(loudPackets(rtp)).toBeGreaterThan(50);

      const call = await api('GET', `/api/calls/${callId}`, { role: 'operator' });
      expect(call.status).toBe(200);
      expect(call.body).toMatchObject({ state: 'ended', direction: 'outbound', from_number: number, to_number: to });
      const row = await db.query<{ state: string; disposition: string; sip_status: number; answered_at: Date }>(
        'SELECT state, disposition, sip_status, answered_at FROM calls WHERE call_id = $1',
        [callId],
      );
      expect(row.rows[0]).toMatchObject({ state: 'ended', disposition: 'answered', sip_status: 200 });
      expect(row.rows[0]!.answered_at).not.toBeNull();
    } finally {
      const run = await finish(sipp);
      rtp.close();
      expect(requestsReceived(run, 'INVITE')).toBeGreaterThanOrEqual(1);
    }
  }, 60_000);

  test('a busy destination (486) → failed with sip_status 486, disposition busy', async () => {
    const port = PORT_BASE + 2;
    await trunkTo(port);
    const rtp = await RtpPeer.open(PSTN);
    const sipp = await pstn({ answer: 486 }, port, rtp);
    try {
      const res = await initiate({ from_number: number, to_number: '+15550009002', webhook_url: receiver.url });
      expect(res.status).toBe(201);
      const callId = res.body['call_id'] as string;
      const events = await waitFor(
        'the failed webhook',
        async () => {
          const got = receiver.of(callId);
          return got.some((d) => d.body.event === 'failed' || d.body.event === 'completed') ? got : undefined;
        },
        20_000,
      );
      expect(events.map((d) => d.body.event)).toEqual(['initiated', 'ringing', 'failed']);
      expect(events[2]!.body.data).toMatchObject({ sip_status: 486 });
      expect(events.every((d) => d.valid)).toBe(true);
      const call = await api('GET', `/api/calls/${callId}`, { role: 'operator' });
      expect(call.body).toMatchObject({ state: 'ended' });
      const row = await db.query('SELECT disposition, sip_status FROM calls WHERE call_id = $1', [callId]);
      expect(row.rows[0]).toMatchObject({ disposition: 'busy', sip_status: 486 });
    } finally {
      await finish(sipp);
      rtp.close();
    }
  }, 40_000);

  test('a control-plane restart between two events loses none: what the gateway wrote while it was down arrives, once, in order', async () => {
    const port = PORT_BASE + 3;
    await trunkTo(port);
    const rtp = await RtpPeer.open(PSTN);
    // The control-plane is killed once `ringing` went out; the far end answers 1.5 s after
    // ringing and hangs up 1.5 s later, while the control-plane is still starting again.
    const sipp = await pstn({ answer: 200, ringMs: 1500, hangupAfterMs: 1500 }, port, rtp);
    try {
      const res = await initiate({ from_number: number, to_number: '+15550009003', webhook_url: receiver.url });
      expect(res.status).toBe(201);
      const callId = res.body['call_id'] as string;
      await waitFor(
        'ringing delivered',
        async () => (receiver.of(callId).some((d) => d.body.event === 'ringing') ? true : undefined),
        10_000,
      );
      const pid = childPid('control-plane');
      expect(pid).toBeDefined();
      process.kill(pid!, 'SIGKILL');
      const killedAt = Date.now();
      // The supervisor starts it again (restartCrashed) after its backoff.
      await waitFor(
        'a new control-plane',
        async () => {
          const now = childPid('control-plane');
          if (now === undefined || now === pid) return undefined;
          const health = await fetch(`${testStack().apiUrl}/health`).catch(() => null);
          return health?.status === 200 ? true : undefined;
        },
        30_000,
      );
      const upAt = Date.now();
      const events = await waitFor(
        'the completed webhook',
        async () => {
          const got = receiver.of(callId);
          return got.some((d) => d.body.event === 'completed' || d.body.event === 'failed') ? got : undefined;
        },
        40_000,
      );
      // At least once: a retry may repeat an event, never skip or reorder one.
      const unique = [...new Map(events.map((d) => [d.body.id, d.body])).values()];
      expect(unique.map((b) => b.event)).toEqual(['initiated', 'ringing', 'answered', 'completed']);
      expect(unique.map((b) => b.sequence)).toEqual([1, 2, 3, 4]);
      expect(events.every((d) => d.valid)).toBe(true);
      // The gateway wrote at least one of them while no control-plane ran.
      const whileDown = unique.filter((b) => {
        const at = Date.parse(b.occurred_at);
        return at > killedAt && at < upAt;
      });
      expect(whileDown.map((b) => b.event)).toContain('answered');
    } finally {
      await finish(sipp);
      rtp.close();
    }
  }, 90_000);

  test('hangup while it rings → CANCEL to the far end, failed with 487, disposition cancelled, ended by the API', async () => {
    const port = PORT_BASE + 4;
    await trunkTo(port);
    const rtp = await RtpPeer.open(PSTN);
    const sipp = await pstn({ answer: 200, ringMs: 15_000 }, port, rtp);
    try {
      const res = await initiate({ from_number: number, to_number: '+15550009006', webhook_url: receiver.url });
      expect(res.status).toBe(201);
      const callId = res.body['call_id'] as string;
      await waitFor(
        'ringing delivered',
        async () => (receiver.of(callId).some((d) => d.body.event === 'ringing') ? true : undefined),
        10_000,
      );
      const hangup = await api('POST', `/api/calls/${callId}/hangup`, { role: 'operator', body: {} });
      expect(hangup.status).toBe(200);
      // The far end's 487 comes back through Kamailio at once; the gateway's own give-up
      // (64·T1 after its CANCEL) would take 32 s, so this wait cannot pass on it.
      const hungUpAt = performance.now();
      const events = await waitFor(
        'the failed webhook',
        async () => {
          const got = receiver.of(callId);
          return got.some((d) => d.body.event === 'failed' || d.body.event === 'completed') ? got : undefined;
        },
        5_000,
      );
      console.log(
        `[initiate] hangup while ringing → failed webhook in ${(performance.now() - hungUpAt).toFixed(0)} ms`,
      );
      expect(events.map((d) => d.body.event)).toEqual(['initiated', 'ringing', 'failed']);
      expect(events[2]!.body.data).toMatchObject({ sip_status: 487, disposition: 'cancelled', ended_by: 'api' });
      const row = await db.query('SELECT state, disposition, sip_status FROM calls WHERE call_id = $1', [callId]);
      expect(row.rows[0]).toMatchObject({ state: 'ended', disposition: 'cancelled', sip_status: 487 });
    } finally {
      const run = await finish(sipp);
      rtp.close();
      expect(requestsReceived(run, 'CANCEL')).toBe(1);
    }
  }, 60_000);

  test('a caller ID that is not ours → 400, nothing placed', async () => {
    const before = await db.query<{ n: string }>("SELECT count(*) AS n FROM call_commands WHERE command = 'originate'");
    const res = await initiate({ from_number: '+15550000000', to_number: '+15550009004', webhook_url: receiver.url });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'ERR_CALLER_ID_NOT_ALLOWED' } });
    const after = await db.query<{ n: string }>("SELECT count(*) AS n FROM call_commands WHERE command = 'originate'");
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  test.each([
    ['no to_number', () => ({ from_number: number })],
    ['a to_number that is no number or user name', () => ({ from_number: number, to_number: 'sip:x@evil\r\nX: 1' })],
    [
      'a webhook_url that is not http(s)',
      () => ({ from_number: number, to_number: '+15550009005', webhook_url: 'ftp://x' }),
    ],
    [
      'a ring timeout out of range',
      () => ({ from_number: number, to_number: '+15550009005', ring_timeout_seconds: 0 }),
    ],
    ['an unknown field', () => ({ from_number: number, to_number: '+15550009005', surprise: true })],
  ])('a body with %s → 400 ERR_VALIDATION', async (_what, body) => {
    const res = await initiate(body());
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'ERR_VALIDATION' } });
  });
});
