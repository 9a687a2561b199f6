import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { REPO_ROOT } from '../../scripts/stack/env';
import { StreamFramer } from '../../services/common/src/sip/message/parser';
import type { SipRequest } from '../../services/common/src/sip/message/message';
import { api, createUser } from '../support/api';
import { StreamSipClient } from '../support/sip-stream';
import { testStack } from '../support/stack';

/**
 * Trunks with `transport: TLS`: Kamailio reaches the provider over TLS and verifies its
 * certificate chain (SIP_TLS_CA_FILE; the test stack trusts tests/fixtures/tls/ca.pem).
 * The provider is a TLS SIP endpoint played here: SIPp 3.6.1 in Debian has no TLS.
 */

const PROVIDER_IP = '127.0.0.6';
const FIXTURES = join(REPO_ROOT, 'tests', 'fixtures', 'tls');

/** A provider over TLS: 200 to OPTIONS, INVITE (plain RTP/AVP answer) and BYE; remembers what it got. */
class TlsProvider {
  readonly requests: Array<{ request: SipRequest; tls: string | null }> = [];
  handshakeErrors = 0;
  private readonly sockets = new Set<TLSSocket>();

  private constructor(private readonly server: Server) {}

  static async start(name: 'provider' | 'stranger'): Promise<TlsProvider> {
    const server = createServer({
      key: readFileSync(join(FIXTURES, `${name}-key.pem`)),
      cert: readFileSync(join(FIXTURES, `${name}-cert.pem`)),
    });
    const provider = new TlsProvider(server);
    server.on('secureConnection', (socket) => provider.serve(socket));
    server.on('tlsClientError', () => provider.handshakeErrors++);
    await new Promise<void>((resolve) => server.listen(0, PROVIDER_IP, resolve));
    return provider;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  invites(): SipRequest[] {
    return this.requests.filter((r) => r.request.method === 'INVITE').map((r) => r.request);
  }

  private serve(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const framer = new StreamFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const item of framer.push(chunk)) {
        if (item.kind !== 'message' || item.message.type !== 'request') continue;
        const request = item.message;
        this.requests.push({ request, tls: socket.getProtocol() });
        if (request.method === 'ACK') continue;
        socket.write(this.answer(request));
      }
    });
  }

  private answer(req: SipRequest): string {
    const to = req.headers.get('To') ?? '';
    const sdp =
      req.method === 'INVITE'
        ? [
            'v=0',
            `o=- 1 1 IN IP4 ${PROVIDER_IP}`,
            's=-',
            `c=IN IP4 ${PROVIDER_IP}`,
            't=0 0',
            'm=audio 40000 RTP/AVP 0',
            'a=rtpmap:0 PCMU/8000',
            '',
          ].join('\r\n')
        : '';
    return [
      'SIP/2.0 200 OK',
      ...req.headers.getAll('Via').map((v) => `Via: ${v}`),
      ...req.headers.getAll('Record-Route').map((v) => `Record-Route: ${v}`),
      `From: ${req.headers.get('From') ?? ''}`,
      `To: ${to}${/;tag=/.test(to) ? '' : `;tag=${randomBytes(4).toString('hex')}`}`,
      `Call-ID: ${req.headers.get('Call-ID') ?? ''}`,
      `CSeq: ${req.headers.get('CSeq') ?? ''}`,
      `Contact: <sip:provider@${PROVIDER_IP}:${this.port};transport=tls>`,
      ...(sdp ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function tlsTrunk(port: number): Promise<void> {
  const res = await api('POST', '/api/trunks/', {
    role: 'operator',
    body: {
      trunk_id: 'tls_provider',
      name: 'TLS provider',
      provider: 'tls-test',
      proxy_address: PROVIDER_IP,
      proxy_port: port,
      transport: 'TLS',
      supports_outbound: true,
      supports_inbound: false,
      priority: 1,
    },
  });
  if (res.status !== 201) throw new Error(`creating the TLS trunk: ${res.status} ${JSON.stringify(res.body)}`);
}

async function callOut(number: string): Promise<number> {
  const stack = testStack();
  const user = await createUser();
  const phone = await StreamSipClient.connect({
    host: stack.config.sip.listenAddress,
    port: stack.config.sip.port,
    username: user.username,
    password: user.password,
    domain: stack.config.sip.domain,
  });
  try {
    const sdp = [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=audio 40002 RTP/AVP 0',
      'a=rtpmap:0 PCMU/8000',
      '',
    ].join('\r\n');
    const { response, dialog } = await phone.invite(number, sdp);
    if (dialog) expect((await phone.bye(dialog)).status).toBe(200);
    return response.status;
  } finally {
    phone.close();
  }
}

describe('trunks over TLS', () => {
  afterEach(async () => {
    await api('DELETE', '/api/trunks/tls_provider', { role: 'operator' });
  });

  test('a user calls an outside number through a TLS trunk → the INVITE reaches the provider over TLS (its certificate from a trusted CA) and the call is answered', async () => {
    const provider = await TlsProvider.start('provider');
    try {
      await tlsTrunk(provider.port);
      const status = await callOut('+15559870001');
      expect(status).toBe(200);
      const [invite] = provider.invites();
      expect(invite?.uri).toMatch(/^sip:\+15559870001@127\.0\.0\.6/);
      expect(invite?.headers.get('Via')).toMatch(/^SIP\/2\.0\/TLS /);
      expect(provider.requests.find((r) => r.request.method === 'INVITE')?.tls).toMatch(/^TLSv1\.[23]$/);
      // The SDP towards the provider is plain RTP from the relay (SRTP ends at the relay).
      expect(invite?.body.toString()).toMatch(/^m=audio \d+ RTP\/AVP /m);
    } finally {
      await provider.close();
    }
  }, 30_000);

  test('a provider whose certificate no trusted CA signed gets no INVITE: Kamailio aborts the handshake and the call fails', async () => {
    const provider = await TlsProvider.start('stranger');
    try {
      await tlsTrunk(provider.port);
      const status = await callOut('+15559870002');
      console.log(
        `call through a TLS trunk with an untrusted certificate: ${status}; handshakes the provider saw fail: ${provider.handshakeErrors}`,
      );
      expect(status).toBeGreaterThanOrEqual(400);
      expect(provider.invites()).toHaveLength(0);
      expect(provider.handshakeErrors).toBeGreaterThan(0);
    } finally {
      await provider.close();
    }
  }, 40_000);
});
