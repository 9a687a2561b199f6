import { Client } from 'pg';
import { LocalStack } from '../../scripts/stack/supervisor';
import { api } from '../support/api';
import { eventually, messagesReceived, smsProvider, stop } from '../support/sms';
import { stackView, type TestStack } from '../support/stack';

/**
 * SIGKILL the process that sends SMS in the middle of a 1,000-message batch, start
 * it again, and count what the provider got: every message exactly once. Its own
 * stack (ports, database), because the control-plane it kills is the one that sends.
 */
const OVERRIDES = {
  STACK_INSTANCE: 'test-sms-crash',
  DB_NAME: 'sipai_test_sms_crash',
  SIP_PROXY_PORT: '17360',
  SIP_TLS_PORT: '17361',
  API_PORT: '17380',
  KAMAILIO_RPC_PORT: '17381',
  KAMAILIO_EVAPI_PORT: '17348',
  RTPENGINE_NG_PORT: '17323',
  RTPPROXY_CONTROL_PORT: '17325',
  RTP_PORT_MIN: '45000',
  RTP_PORT_MAX: '45499',
  GATEWAY_SIP_PORT: '17370',
  GATEWAY_HTTP_PORT: '17382',
  GATEWAY_RTP_PORT_MIN: '45500',
  GATEWAY_RTP_PORT_MAX: '45999',
  DEMO_AGENT_PORT: '17390',
  SMS_SIP_PORT: '17391',
};
const PROVIDER = '127.0.0.6';
const FROM = '+15557770300';
const BATCH = 1000;

describe('SMS queue: a sender killed mid-batch loses and duplicates nothing', () => {
  let stack: LocalStack;
  let view: TestStack;

  beforeAll(async () => {
    stack = new LocalStack({ instance: 'test', freshDatabase: true, overrides: OVERRIDES, say: () => undefined });
    await stack.start();
    view = stackView(stack.env);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  const call = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
    api<T>(method, path, { role: 'operator', stack: view, ...(body === undefined ? {} : { body }) });

  const countSent = async (): Promise<number> =>
    (await call<{ total: number }>('GET', '/api/sms/history?per_page=1&status=sent')).body.total;

  test('SIGKILL during 1,000 messages, restart: the provider receives each exactly once', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    try {
      // 250 MESSAGEs a second: the batch takes about 4 s, so the kill lands in the middle.
      expect(
        (
          await call('POST', '/api/trunks/', {
            trunk_id: 'crash_trunk',
            name: 'Crash test',
            provider: 'test',
            proxy_address: PROVIDER,
            proxy_port: provider.localPort,
            transport: 'UDP',
            // 1,000 messages take 8 s at this rate: room for the kill to land mid-batch even
            // when a loaded machine delays the test's polling by seconds.
            sms_rate_limit: 125,
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await call('POST', '/api/numbers/', {
            number: FROM,
            route_type: 'ai',
            ai_dialect: 'olib',
            ai_options: { mode: 'echo' },
          })
        ).status,
      ).toBe(201);

      const ids: string[] = [];
      for (let i = 0; i < BATCH; i += 50) {
        const replies = await Promise.all(
          Array.from({ length: Math.min(50, BATCH - i) }, (_, k) =>
            call<{ message_id: string }>('POST', '/api/sms/send', {
              from_number: FROM,
              to_number: `+1415555${String(1000 + i + k).padStart(4, '0')}`,
              message: `batch message ${i + k}`,
            }),
          ),
        );
        for (const r of replies) {
          expect(r.status).toBe(202);
          ids.push(r.body.message_id);
        }
      }

      await eventually(
        'a third of the batch to be sent',
        async () => ((await countSent()) >= 300 ? true : undefined),
        30_000,
      );
      const sentAtKill = await countSent();
      expect(sentAtKill).toBeLessThan(BATCH);
      const pid = stack.pidOf('control-plane') as number;
      process.kill(pid, 'SIGKILL');
      await eventually(
        'the control-plane to be gone',
        async () => (stack.pidOf('control-plane') === undefined ? true : undefined),
        10_000,
      );
      await stack.restartControlPlane();

      await eventually(
        'every message to be sent',
        async () => ((await countSent()) === BATCH ? true : undefined),
        60_000,
      );
      const failed = await call<{ total: number }>('GET', '/api/sms/history?per_page=1&status=failed');
      expect(failed.body.total).toBe(0);
      // The restarted worker took over what the killed one had claimed and re-sent it with the
      // same transaction identifiers; those already relayed were answered from Kamailio's transaction.
      const db = new Client({ connectionString: stack.env['DATABASE_URL'] });
      await db.connect();
      try {
        const res = await db.query<{ n: number; batch: number }>(
          `SELECT count(DISTINCT message_id) FILTER (WHERE detail = 'taken over from a stopped worker')::int AS n,
                  count(DISTINCT message_id)::int AS batch FROM sms_events WHERE message_id = ANY($1)`,
          [ids],
        );
        const row = res.rows[0] as { n: number; batch: number };
        expect(row.batch).toBe(BATCH);
        expect(row.n).toBeGreaterThan(0);
        console.log(
          `SMS crash test: ${sentAtKill} sent when the sender was killed, ${row.n} taken over by the restarted worker`,
        );
      } finally {
        await db.end();
      }
    } finally {
      const run = await stop(provider);
      const received = messagesReceived(run);
      const seen = new Map<string, number>();
      for (const m of received) {
        const id = /^X-SMS-Id: (\S+)/m.exec(m)?.[1] ?? 'missing';
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      const duplicates = [...seen].filter(([, n]) => n > 1);
      expect(duplicates).toEqual([]);
      expect(received).toHaveLength(BATCH);
      expect(seen.size).toBe(BATCH);
    }
  }, 180_000);
});
