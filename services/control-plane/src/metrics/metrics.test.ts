import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import winston from 'winston';
import { KamailioControl } from '../kamailio/control';
import type { KamailioEventSource } from '../kamailio/evapi';
import type { KamailioEvent } from '../kamailio/events';
import { KamailioUnavailableError, type KamailioRpc } from '../../../common/src/kamailio/rpc';
import { ControlPlaneMetrics } from './metrics';

const silent = winston.createLogger({ silent: true });
const statsReply = (
  JSON.parse(readFileSync(join(__dirname, '..', 'kamailio', 'fixtures', 'stats-fetch.json'), 'utf8')) as {
    reply: { result: unknown };
  }
).reply.result;

/** stats.fetch answered from the captured reply, or refused while `down`. */
class SwitchableRpc implements KamailioRpc {
  down = false;

  async call<T>(method: string): Promise<T> {
    if (this.down) throw new KamailioUnavailableError(method, 'ECONNREFUSED');
    if (method !== 'stats.fetch') throw new Error(`unexpected ${method}`);
    return statsReply as T;
  }
}

class FakeEvents extends EventEmitter implements KamailioEventSource {
  connected = true;
}

function metricsOver(rpc: KamailioRpc): ControlPlaneMetrics {
  return new ControlPlaneMetrics(
    new KamailioControl(rpc, { maxFailures: 5, lockSeconds: 900, sourceBanSeconds: 3600, floodBanSeconds: 300 }),
    silent,
    200,
  );
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('control-plane metrics', () => {
  test('scrape with Kamailio up → kamailio_up 1 and gauges from stats.fetch', async () => {
    const text = await metricsOver(new SwitchableRpc()).render();
    expect(value(text, 'kamailio_up')).toBe(1);
    expect(value(text, 'kamailio_registered_users')).toBe(2);
    expect(value(text, 'kamailio_registered_contacts')).toBe(3);
    expect(value(text, 'kamailio_active_dialogs')).toBe(0);
    expect(value(text, 'kamailio_received_requests')).toBe(8);
  });

  test('Kamailio goes down → kamailio_up 0, its gauges absent (not 0); back up → present again', async () => {
    const rpc = new SwitchableRpc();
    const metrics = metricsOver(rpc);
    await metrics.render();
    rpc.down = true;
    const down = await metrics.render();
    expect(value(down, 'kamailio_up')).toBe(0);
    expect(value(down, 'kamailio_registered_users')).toBeUndefined();
    rpc.down = false;
    const up = await metrics.render();
    expect(value(up, 'kamailio_up')).toBe(1);
    expect(value(up, 'kamailio_registered_users')).toBe(2);
  });

  test('stats.fetch slower than the scrape timeout → kamailio_up 0, scrape still answers, error counted', async () => {
    let release: () => void = () => undefined;
    const hanging: KamailioRpc = { call: () => new Promise((resolve) => (release = () => resolve({} as never))) };
    const text = await metricsOver(hanging).render();
    release();
    expect(value(text, 'kamailio_up')).toBe(0);
    expect(value(text, 'kamailio_scrape_errors_total')).toBe(1);
  });

  test('every stats.fetch statistic → kamailio_statistic{group,name}; gone while Kamailio is down', async () => {
    const rpc = new SwitchableRpc();
    const metrics = metricsOver(rpc);
    const text = await metrics.render();
    expect(value(text, 'kamailio_statistic{group="core",name="rcv_requests_invite"}')).toBe(2);
    expect(value(text, 'kamailio_statistic{group="shmem",name="free_size"}')).toBe(64139712);
    expect(value(text, 'kamailio_statistic{group="sl",name="200_replies"}')).toBe(5);
    const series = text.split('\n').filter((l) => l.startsWith('kamailio_statistic{'));
    expect(series).toHaveLength(Object.keys(statsReply as object).length);
    expect(value(text, 'kamailio_scrape_errors_total')).toBe(0);
    rpc.down = true;
    const down = await metrics.render();
    expect(down.split('\n').filter((l) => l.startsWith('kamailio_statistic{'))).toEqual([]);
    expect(value(down, 'kamailio_scrape_errors_total')).toBe(1);
  });

  test('scrape sources run with Kamailio and before the text is made', async () => {
    const metrics = metricsOver(new SwitchableRpc());
    const order: string[] = [];
    metrics.addScrapeSource(async () => {
      order.push('source');
    });
    await metrics.render();
    expect(order).toEqual(['source']);
  });

  test('evapi events → counters by kind and outcome; connection state as a gauge', async () => {
    const metrics = metricsOver(new SwitchableRpc());
    const events = new FakeEvents();
    const stop = metrics.observeEvents(events);
    const send = (e: KamailioEvent): boolean => events.emit('event', e);
    send({ event: 'registration', user: 'a', contact: 'sip:a@h', expires: 3600, src_ip: '127.0.0.1' });
    send({ event: 'registration', user: 'a', contact: 'sip:a@h', expires: 0, src_ip: '127.0.0.1' });
    send({ event: 'auth_failed', user: 'a', src_ip: '192.0.2.1' });
    send({ event: 'auth_failed', user: 'a', src_ip: '192.0.2.1' });
    send({ event: 'account_locked', user: 'a', src_ip: '192.0.2.1' });
    send({ event: 'dialog_start', callid: 'c', from_user: 'a', to_user: 'b', src_ip: '127.0.0.1' });
    send({ event: 'dialog_end', callid: 'c', from_user: 'a', to_user: 'b' });
    send({ event: 'dialog_failed', callid: 'd', from_user: 'a', to_user: 'b' });
    send({ event: 'flood_ban', src_ip: '198.51.100.1' });
    events.emit('invalid', 'not JSON');
    events.emit('disconnected');
    const text = await metrics.render();
    expect(value(text, 'kamailio_registrations_total{kind="register"}')).toBe(1);
    expect(value(text, 'kamailio_registrations_total{kind="unregister"}')).toBe(1);
    expect(value(text, 'kamailio_auth_failures_total')).toBe(2);
    expect(value(text, 'kamailio_account_lockouts_total')).toBe(1);
    expect(value(text, 'kamailio_dialogs_total{outcome="started"}')).toBe(1);
    expect(value(text, 'kamailio_dialogs_total{outcome="ended"}')).toBe(1);
    expect(value(text, 'kamailio_dialogs_total{outcome="failed"}')).toBe(1);
    expect(value(text, 'kamailio_flood_bans_total')).toBe(1);
    expect(value(text, 'kamailio_evapi_invalid_events_total')).toBe(1);
    expect(value(text, 'kamailio_evapi_connected')).toBe(0);

    stop();
    expect(events.listenerCount('event')).toBe(0);
  });

  test('HTTP requests → histogram labelled by method, route template and status', async () => {
    const metrics = metricsOver(new SwitchableRpc());
    metrics.observeRequest('GET', '/api/sip-users/{id}', 404, 0.003);
    const text = await metrics.render();
    expect(
      value(text, 'http_request_duration_seconds_count{method="GET",route="/api/sip-users/{id}",status="404"}'),
    ).toBe(1);
  });

  test('refused requests → http_requests_rejected_total by catalogue code, zero series from the start', async () => {
    const metrics = metricsOver(new SwitchableRpc());
    expect(value(await metrics.render(), 'http_requests_rejected_total{code="ERR_RATE_LIMITED"}')).toBe(0);
    metrics.observeRequest('GET', '/api/trunks/', 400, 0.001, 'ERR_VALIDATION');
    metrics.observeRequest('GET', 'unmatched', 401, 0.001, 'ERR_UNAUTHENTICATED');
    metrics.observeRequest('GET', '/api/trunks/', 200, 0.001, undefined);
    metrics.countRejection('ERR_HEADERS_TOO_LARGE');
    const text = await metrics.render();
    expect(value(text, 'http_requests_rejected_total{code="ERR_VALIDATION"}')).toBe(1);
    expect(value(text, 'http_requests_rejected_total{code="ERR_UNAUTHENTICATED"}')).toBe(1);
    expect(value(text, 'http_requests_rejected_total{code="ERR_HEADERS_TOO_LARGE"}')).toBe(1);
  });

  test('label values never come from the request: an unknown code counts as ERR_BAD_REQUEST, an unknown method as other', async () => {
    const metrics = metricsOver(new SwitchableRpc());
    metrics.observeRequest('M-SEARCH', 'unmatched', 404, 0.001, 'attacker text');
    const text = await metrics.render();
    expect(text).not.toContain('attacker text');
    expect(value(text, 'http_requests_rejected_total{code="ERR_BAD_REQUEST"}')).toBe(1);
    expect(value(text, 'http_request_duration_seconds_count{method="other",route="unmatched",status="404"}')).toBe(1);
  });
});
