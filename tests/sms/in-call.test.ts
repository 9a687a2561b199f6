import { Client } from 'pg';
import { AiPeer } from '../support/ai-peer';
import { api, createUser } from '../support/api';
import { RtpPeer } from '../../harness/rtp-peer';
import { proxy } from '../support/sip';
import { eventually, messagesReceived, smsHistory, smsProvider, stop } from '../support/sms';
import { startSipp, uacMediaScenario, waitForAnswer, type RunningSipp } from '../../harness/sipp';
import { testStack } from '../support/stack';

const PROVIDER = '127.0.0.8';

describe('SMS the AI sends during a call', () => {
  test('an `sms` frame mid-call is queued from the dialled number and reaches the provider; the call records it', async () => {
    const peer = await AiPeer.start();
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    const db = new Client({ connectionString: testStack().env['DATABASE_URL'] });
    await db.connect();
    const number = '+15557770400';
    const customer = `+1415556${String(Date.now() % 10000).padStart(4, '0')}`;
    let rtp: RtpPeer | undefined;
    let sipp: RunningSipp | undefined;
    try {
      expect(
        (
          await api('POST', '/api/trunks/', {
            role: 'operator',
            body: {
              trunk_id: 'in_call_sms',
              name: 'In-call SMS',
              provider: 'test',
              proxy_address: PROVIDER,
              proxy_port: provider.localPort,
              transport: 'UDP',
            },
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await api('POST', '/api/numbers/', {
            role: 'operator',
            body: { number, route_type: 'ai', ai_dialect: 'olib', ai_agent_url: `${peer.url}/olib` },
          })
        ).status,
      ).toBe(201);
      const caller = await createUser();
      rtp = await RtpPeer.open();
      sipp = await startSipp({
        scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 4000 }),
        remote: proxy(),
        keys: {
          user: caller.username,
          callee: number.slice(1),
          domain: testStack().config.sip.domain,
          rtp_port: rtp.port,
        },
        auth: { user: caller.username, password: caller.password },
        timeoutSeconds: 25,
      });
      await waitForAnswer(sipp);
      const ai = await peer.connection(0);
      await ai.waitFor('auth', (c) => c.of('auth').length === 1);
      const callId = (ai.of('auth')[0] as { auth: { call_id: string } }).auth.call_id;
      ai.send({ type: 'sms', data: { text: 'Your code is 1234', to_number: customer } });

      const sent = await eventually('the SMS to be sent', async () =>
        (await smsHistory(`number=${encodeURIComponent(customer)}`)).find((m) => m.status === 'sent'),
      );
      expect(sent).toMatchObject({ from_number: number, to_number: customer, message: 'Your code is 1234' });
      const got = messagesReceived(await stop(provider));
      expect(got).toHaveLength(1);
      expect(got[0]).toMatch(new RegExp(`^From: <sip:\\${number}@`, 'm'));
      const events = await eventually('the call event', async () => {
        const r = await db.query<{ data: { message_id: string } }>(
          `SELECT data FROM call_events WHERE type = 'sms' AND call_id = (SELECT call_id FROM calls WHERE sip_call_id = $1 OR call_id = $1 LIMIT 1)`,
          [callId],
        );
        return r.rows.length > 0 ? r.rows : undefined;
      });
      expect(events[0]?.data.message_id).toBe(sent.message_id);
      await sipp.done;
    } finally {
      rtp?.close();
      sipp?.kill();
      await stop(provider).catch(() => undefined);
      await api('DELETE', '/api/trunks/in_call_sms', { role: 'operator' });
      await api('DELETE', `/api/numbers/${encodeURIComponent(number)}`, { role: 'operator' });
      await db.end();
      await peer.close();
    }
  });
});
