import { loadConfig } from '../config';
import { FakeUdpPeer } from '../../../../tests/media-relay/fake-udp-peer';
import { createMediaRelay } from './index';
import { RtpengineClient } from './rtpengine/client';
import { RtpproxyClient } from './rtpproxy/client';

const SECRETS = {
  DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/db',
  JWT_SECRET_KEY: 'x'.repeat(32),
  SIP_JWT_SECRET: 'y'.repeat(32),
  SIP_SHARED_SECRET: 'z'.repeat(32),
  PROXY_SHARED_SECRET: 'p'.repeat(32),
};

describe('createMediaRelay', () => {
  it('RTPENGINE_NG_HOST → NG commands go to that host, not loopback 127.0.0.1', async () => {
    const peer = await FakeUdpPeer.start('127.0.0.3');
    peer.respond(() => 'd6:result4:ponge');
    const config = loadConfig({ ...SECRETS, RTPENGINE_NG_HOST: '127.0.0.3', RTPENGINE_NG_PORT: String(peer.port) });
    const relay = createMediaRelay(config.relay, undefined, { timeoutMs: 1000 });
    try {
      await expect(relay.ping()).resolves.toMatchObject({ latencyMs: expect.any(Number) });
      expect(peer.received).toHaveLength(1);
    } finally {
      await relay.close();
      await peer.close();
    }
  });

  it('config.relay with MEDIA_RELAY=rtpengine → an NG client on RTPENGINE_NG_PORT', async () => {
    const peer = await FakeUdpPeer.start();
    peer.respond(() => 'd6:result4:ponge');
    const relay = createMediaRelay(loadConfig({ ...SECRETS, RTPENGINE_NG_PORT: String(peer.port) }).relay);
    try {
      expect(relay).toBeInstanceOf(RtpengineClient);
      expect(relay.kind).toBe('rtpengine');
      await expect(relay.ping()).resolves.toHaveProperty('latencyMs');
      expect(peer.received[0]?.text).toBe('d7:command4:pinge');
    } finally {
      await relay.close();
      await peer.close();
    }
  });

  it('config.relay with MEDIA_RELAY=rtpproxy → a client on RTPPROXY_CONTROL_PORT', async () => {
    const peer = await FakeUdpPeer.start();
    peer.respond(() => '20040107\n');
    const relay = createMediaRelay(
      loadConfig({ ...SECRETS, MEDIA_RELAY: 'rtpproxy', RTPPROXY_CONTROL_PORT: String(peer.port) }).relay,
    );
    try {
      expect(relay).toBeInstanceOf(RtpproxyClient);
      await expect(relay.ping()).resolves.toMatchObject({ version: '20040107' });
    } finally {
      await relay.close();
      await peer.close();
    }
  });

  it('passes timeouts through: a silent relay fails within timeoutMs', async () => {
    const peer = await FakeUdpPeer.start();
    const relay = createMediaRelay(loadConfig({ ...SECRETS, RTPENGINE_NG_PORT: String(peer.port) }).relay, undefined, {
      timeoutMs: 200,
    });
    const started = Date.now();
    try {
      await expect(relay.ping()).rejects.toMatchObject({ code: 'ERR_RELAY_UNAVAILABLE', reason: 'timeout' });
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await relay.close();
      await peer.close();
    }
  });

  it('close() twice is fine and a later ping is refused as closed', async () => {
    const relay = createMediaRelay(loadConfig(SECRETS).relay);
    await relay.close();
    await relay.close();
    await expect(relay.ping()).rejects.toMatchObject({ reason: 'closed' });
  });
});
