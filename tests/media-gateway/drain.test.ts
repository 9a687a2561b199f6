import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT } from '../../scripts/stack/env';
import { kamailioRpcUrl } from '../../services/common/src/kamailio/rpc';
import { api, createUser, type CreatedUser } from '../support/api';
import { waitFor } from '../support/calls';
import { RtpPeer } from '../../harness/rtp-peer';
import { expectSippSuccess, proxy } from '../support/sip';
import { startSipp, uacMediaScenario, waitForAnswer, type RunningSipp } from '../../harness/sipp';
import { testStack } from '../support/stack';

/** Kamailio's dispatcher set of the media gateways (services/common/src/kamailio/names.ts). */
const GATEWAY_SET = 2;
/** Dispatcher flag of a destination an administrator disabled. */
const DS_DISABLED = 4;
/** The extra gateways' drain grace and lease: short, so the test runs in bounded time. */
const GRACE_S = 12;
const LEASE_S = 3;

/**
 * One more media-gateway process beside the test stack's, on ports of its own (SIP
 * and ops ports just above the stack gateway's, an RTP range above every test slot's),
 * started and stopped by the test, in its own process group.
 */
class ExtraGateway {
  readonly id: string;
  readonly httpPort: number;
  readonly logPath: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;

  constructor(
    readonly index: number,
    readonly workers = 1,
  ) {
    const stack = testStack();
    const slot = Number(process.env['TEST_STACK_SLOT'] || '0');
    const sipPort = stack.config.gateway.sipPort + 1 + index;
    this.httpPort = stack.config.gateway.httpPort + 2 + index;
    // The slots' RTP ranges end at 62999 (scripts/stack/env.ts slotDefaults).
    const rtpMin = 63000 + slot * 300 + index * 100;
    this.id = `${stack.config.gateway.sipAddress}:${sipPort}`;
    this.logPath = join(stack.config.stateDir, 'logs', `media-gateway-extra-${index}.log`);
    const log = createWriteStream(this.logPath, { flags: 'w' });
    this.proc = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'services', 'media-gateway', 'src', 'main.js')], {
      env: {
        ...stack.env,
        GATEWAY_SIP_PORT: String(sipPort),
        GATEWAY_HTTP_PORT: String(this.httpPort),
        GATEWAY_RTP_PORT_MIN: String(rtpMin),
        GATEWAY_RTP_PORT_MAX: String(rtpMin + 99),
        GATEWAY_ID: '',
        GATEWAY_WORKERS: String(workers),
        LOG_LEVEL: 'info',
        GATEWAY_DRAIN_GRACE_SECONDS: String(GRACE_S),
        GATEWAY_LEASE_SECONDS: String(LEASE_S),
      },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.pipe(log, { end: false });
    this.proc.stderr?.pipe(log, { end: false });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** INVITEs its SIP user agent logged ("incoming call", LOG_LEVEL info). */
  invitesReceived(): number {
    try {
      return readFileSync(this.logPath, 'utf8').split('"message":"incoming call"').length - 1;
    } catch {
      return 0;
    }
  }

  /** GET /health: its status code (0 when nothing answers). */
  async health(): Promise<number> {
    try {
      return (await fetch(`http://127.0.0.1:${this.httpPort}/health`, { signal: AbortSignal.timeout(1000) })).status;
    } catch {
      return 0;
    }
  }

  /** Resolves with the time it became ready (GET /health 200). */
  async ready(withinMs = 30_000): Promise<number> {
    await waitFor(`gateway ${this.id} ready`, async () => ((await this.health()) === 200 ? true : undefined), withinMs);
    return Date.now();
  }

  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-(this.proc.pid ?? 0), signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = (GRACE_S + 10) * 1000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

describe('gateway scaling and drain: two gateways, one stopped during calls, a third added, one killed', () => {
  const stack = testStack();
  const db = new Client({ connectionString: stack.config.databaseUrl });
  const stackGateway = stack.config.gateway.id;
  const gateways: ExtraGateway[] = [];
  const calls: RunningSipp[] = [];
  const peers: RtpPeer[] = [];
  let caller: CreatedUser;
  let number: string;

  const reload = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(kamailioRpcUrl(stack.config), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'dispatcher.reload', id: 1 }),
      });
      const body = (await res.json()) as { error?: unknown };
      if (!body.error) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error('dispatcher.reload kept failing');
  };
  const setFlags = async (id: string, flags: number): Promise<void> => {
    await db.query('UPDATE dispatcher SET flags = $1 WHERE setid = $2 AND description = $3', [flags, GATEWAY_SET, id]);
    await reload();
  };

  /** A call to the echo AI number; `hangup` 'caller' sends BYE after `holdMs`, 'gateway' waits that long for the gateway's. */
  const call = async (
    holdMs: number,
    hangup: 'caller' | 'gateway',
  ): Promise<{ sipp: RunningSipp; gateway: string }> => {
    const rtp = await RtpPeer.open();
    peers.push(rtp);
    const sipp = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs, remoteHangup: hangup === 'gateway' }),
      remote: proxy(),
      keys: { user: caller.username, callee: number.slice(1), domain: stack.config.sip.domain, rtp_port: rtp.port },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: Math.ceil(holdMs / 1000) + 20,
    });
    calls.push(sipp);
    await waitForAnswer(sipp).catch(async (err: Error) => {
      sipp.kill();
      const run = await sipp.done;
      throw new Error(`${err.message}: ${run.messages.slice(-3000) || run.errors || run.stderr}`);
    });
    return { sipp, gateway: await gatewayOf(sipp) };
  };
  /** Which gateway holds SIPp's call (its Call-ID is `<n>-<sipp pid>@…`). */
  const callRow = async (sipp: RunningSipp): Promise<{ gateway: string; state: string; end_reason: string | null }> =>
    waitFor('the call row', async () => {
      const r = await db.query<{ gateway: string; state: string; end_reason: string | null }>(
        'SELECT gateway, state, end_reason FROM calls WHERE sip_call_id LIKE $1 ORDER BY id DESC LIMIT 1',
        [`%-${sipp.pid}@%`],
      );
      return r.rows[0];
    });
  const gatewayOf = async (sipp: RunningSipp): Promise<string> => (await callRow(sipp)).gateway;
  const members = async (): Promise<Array<{ description: string; flags: number }>> =>
    (
      await db.query<{ description: string; flags: number }>(
        'SELECT description, flags FROM dispatcher WHERE setid = $1 ORDER BY description',
        [GATEWAY_SET],
      )
    ).rows;

  beforeAll(async () => {
    await db.connect();
    caller = await createUser({ max_concurrent_calls: 20 });
    number = `+1555779${String(Date.now() % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
    });
    expect(created.status).toBe(201);
    // The stack's own gateway sits this test out, so which gateway takes a call is decided by the two under test.
    await setFlags(stackGateway, DS_DISABLED);
  });

  afterAll(async () => {
    for (const s of calls) s.kill();
    for (const p of peers) p.close();
    await Promise.all(gateways.map((g) => g.stop()));
    // Whatever a failure left behind: rows of the extra gateways, and the stack's gateway back in service.
    const ids = gateways.map((g) => g.id);
    await db.query('DELETE FROM dispatcher WHERE setid = $1 AND description = ANY($2)', [GATEWAY_SET, ids]);
    await db.query('DELETE FROM gateway_leases WHERE gateway = ANY($1)', [ids]);
    await setFlags(stackGateway, 0);
    await db.end();
  }, 60_000);

  test("SIGTERM during calls: new calls go to the other gateway at once, a call ends normally within the grace, the one still up at its end gets a BYE (gateway_shutdown); a third gateway takes calls right after it is ready; a killed gateway's call is closed within its lease", async () => {
    const [b, c] = [new ExtraGateway(0), new ExtraGateway(1)];
    gateways.push(b, c);
    await Promise.all([b.ready(), c.ready()]);
    expect((await members()).filter((m) => m.description === b.id || m.description === c.id)).toEqual([
      ...[b.id, c.id].sort().map((description) => ({ description, flags: 0 })),
    ]);

    // A short call (the caller hangs up after 6 s) and long ones (the gateway must end them) until both gateways hold a long one.
    const short = await call(10_000, 'caller');
    const shortStarted = Date.now();
    const x = short.gateway === b.id ? b : c;
    const y = x === b ? c : b;
    expect([b.id, c.id]).toContain(short.gateway);
    let longOnX: RunningSipp | undefined;
    let longOnY: RunningSipp | undefined;
    for (let i = 0; i < 4 && !(longOnX && longOnY); i++) {
      const l = await call(60_000, 'gateway');
      if (l.gateway === x.id) longOnX ??= l.sipp;
      else longOnY ??= l.sipp;
    }
    if (!longOnX || !longOnY) throw new Error('the calls did not spread over both gateways');

    const sigterm = Date.now();
    if (sigterm - shortStarted > 8000)
      throw new Error('setting the calls up took too long: the short call is nearly over');
    x.signal('SIGTERM');
    // Not ready at once.
    await waitFor('draining /health', async () => ((await x.health()) === 503 ? true : undefined), 1000);
    const notReadyMs = Date.now() - sigterm;

    // New calls during the drain: every one answered, by the other gateway.
    const during: string[] = [];
    for (let i = 0; i < 3; i++) {
      const n = await call(1000, 'caller');
      during.push(n.gateway);
      expectSippSuccess(await n.sipp.done, `call ${i + 1} during the drain`);
    }
    expect(during).toEqual([y.id, y.id, y.id]);

    // A Kamailio that still sends the draining gateway INVITEs (its row back in service,
    // as if the disable had not reached it): the gateway answers 503 and Kamailio's
    // GATEWAY_FAILOVER takes the call to the other gateway.
    await waitFor('the draining gateway disabled in the set', async () =>
      (await members()).find((m) => m.description === x.id && m.flags === DS_DISABLED),
    );
    const invitesBefore = x.invitesReceived();
    await setFlags(x.id, 0);
    const raced: string[] = [];
    for (let i = 0; i < 3; i++) {
      const n = await call(1000, 'caller');
      raced.push(n.gateway);
      expectSippSuccess(await n.sipp.done, `call ${i + 1} routed to the draining gateway`);
    }
    expect(raced).toEqual([y.id, y.id, y.id]);
    const refusedByX = x.invitesReceived() - invitesBefore;
    expect(refusedByX).toBeGreaterThanOrEqual(1);

    // The short call finishes normally: the caller's BYE still reaches the draining gateway (proven by Kamailio).
    expectSippSuccess(await short.sipp.done, 'the call that ends within the grace period');
    const shortRow = await waitFor('the short call ended', async () => {
      const r = await callRow(short.sipp);
      return r.state === 'ended' ? r : undefined;
    });
    expect(shortRow.end_reason).not.toBe('gateway_shutdown');

    // The long call on x gets the gateway's BYE when the grace period is over.
    expectSippSuccess(await longOnX.done, 'the call the gateway ends at the end of its grace');
    const byeAfterMs = Date.now() - sigterm;
    const cutRow = await waitFor('the cut call ended', async () => {
      const r = await callRow(longOnX);
      return r.state === 'ended' ? r : undefined;
    });
    expect(cutRow.end_reason).toBe('gateway_shutdown');
    expect(byeAfterMs).toBeGreaterThanOrEqual(GRACE_S * 1000 - 500);
    expect(byeAfterMs).toBeLessThan(GRACE_S * 1000 + 5000);

    const exit = await x.exited;
    const exitedAfterMs = Date.now() - sigterm;
    expect(exit.code).toBe(0);
    expect((await members()).map((m) => m.description)).not.toContain(x.id);
    expect((await db.query('SELECT 1 FROM gateway_leases WHERE gateway = $1', [x.id])).rowCount).toBe(0);
    console.log(
      `[drain] /health 503 ${notReadyMs} ms after SIGTERM; 3/3 calls during the drain answered by the other gateway; ` +
        `with the draining gateway put back in the set, ${refusedByX} INVITE(s) it got were refused 503 and failed over, 3/3 answered; ` +
        `live call ended by BYE ${(byeAfterMs / 1000).toFixed(1)} s after SIGTERM (grace ${GRACE_S} s); exited after ${(exitedAfterMs / 1000).toFixed(1)} s`,
    );

    // A third gateway: takes calls within 5 s of becoming ready.
    const z = new ExtraGateway(2);
    gateways.push(z);
    const readyAt = await z.ready();
    let takenAfterMs = -1;
    for (let i = 0; i < 10 && takenAfterMs < 0; i++) {
      const n = await call(500, 'caller');
      if (n.gateway === z.id) takenAfterMs = Date.now() - readyAt;
      expectSippSuccess(await n.sipp.done, `call ${i + 1} after the third gateway started`);
    }
    console.log(`[scale] the third gateway answered its first call ${takenAfterMs} ms after it became ready`);
    expect(takenAfterMs).toBeGreaterThanOrEqual(0);
    expect(takenAfterMs).toBeLessThan(5000);

    // kill -9 the gateway holding a live call: the call's row is closed by a surviving gateway within the lease.
    const killedAt = Date.now();
    y.signal('SIGKILL');
    await y.exited;
    const lost = await waitFor(
      "the killed gateway's call closed",
      async () => {
        const r = await callRow(longOnY);
        return r.state === 'ended' ? r : undefined;
      },
      (LEASE_S + 5) * 1000,
    );
    const closedAfterMs = Date.now() - killedAt;
    expect(lost.end_reason).toBe('gateway_lost');
    // Expired after at most one lease, found by the next sweep (every third of a lease).
    expect(closedAfterMs).toBeLessThanOrEqual(((LEASE_S * 4) / 3) * 1000 + 1000);
    await waitFor(
      'the killed gateway out of the gateway set',
      async () => ((await members()).some((m) => m.description === y.id) ? undefined : true),
      2000,
    );
    console.log(
      `[lost] kill -9 with a live call: its row closed (gateway_lost) ${(closedAfterMs / 1000).toFixed(1)} s later (lease ${LEASE_S} s), gateway removed from the set`,
    );
  }, 180_000);
});

describe('GATEWAY_WORKERS above 1: a primary and its replicas', () => {
  const stack = testStack();

  test('GATEWAY_WORKERS=2 → the primary forks two replicas, each joins the gateway set, /health 200; SIGTERM → exit 0', async () => {
    const db = new Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    const gateway = new ExtraGateway(3, 2);
    try {
      await gateway.ready(60_000);
      // Replica i is a whole gateway with its own id (GATEWAY_ID/i) and row in the set.
      const rows = await db.query<{ attrs: string }>(
        'SELECT attrs FROM dispatcher WHERE setid = $1 AND attrs LIKE $2',
        [GATEWAY_SET, `gateway=${gateway.id}/%`],
      );
      expect(rows.rows.map((r) => r.attrs).sort()).toEqual([`gateway=${gateway.id}/0`, `gateway=${gateway.id}/1`]);
      await gateway.stop();
      expect(await gateway.exited).toEqual({ code: 0, signal: null });
    } finally {
      gateway.signal('SIGKILL');
      await db.end();
    }
  }, 120_000);
});
