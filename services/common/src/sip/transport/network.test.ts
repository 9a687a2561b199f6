import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SipError } from '../errors';
import { topViaOf, type SipMessage, type SipRequest } from '../message/message';
import { parseMessage } from '../message/parser';
import { createResponse } from '../message/response';
import { serializeMessage } from '../message/serializer';
import { NetworkTransport } from './network';
import { responseTarget } from './routing';
import type { MessageSource } from './transport';
import { freeSipPort } from '../../net/ports';

const fixtureBytes = (name: string): Buffer => readFileSync(join(__dirname, '..', 'message', 'fixtures', name));

/**
 * A port outside the ranges other local stacks use (SIP 5060/15060-16081/35060-38448,
 * HTTP, relays and their RTP ranges): 46000-59999, free for UDP and TCP right now.
 */
function quietPort(): Promise<number> {
  return freeSipPort(46000, 14000);
}

async function startTransport(protocols: Array<'udp' | 'tcp'>): Promise<NetworkTransport> {
  for (;;) {
    const t = new NetworkTransport({ host: '127.0.0.1', port: await quietPort(), protocols });
    try {
      await t.start();
      return t;
    } catch (err) {
      await t.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

async function listenQuietly(server: Server): Promise<number> {
  for (;;) {
    const port = await quietPort();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return port;
  }
}

function nextMessage(t: NetworkTransport): Promise<[SipMessage, MessageSource]> {
  return once(t, 'message') as Promise<[SipMessage, MessageSource]>;
}

describe('NetworkTransport on loopback', () => {
  let transport: NetworkTransport;
  const closers: Array<() => unknown> = [];

  beforeEach(async () => {
    transport = await startTransport(['udp', 'tcp']);
  });

  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await transport.close();
  });

  async function udpPeer(): Promise<UdpSocket> {
    const sock = createSocket('udp4');
    const port = await quietPort();
    await new Promise<void>((r) => sock.bind(port, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => sock.close(() => r())));
    return sock;
  }

  async function tcpPeer(): Promise<Socket> {
    const sock = connect(transport.port, '127.0.0.1');
    await once(sock, 'connect');
    closers.push(() => sock.destroy());
    return sock;
  }

  it('one port → UDP and TCP both bound on it', async () => {
    const sock = await tcpPeer();
    expect(sock.remotePort).toBe(transport.port);
    const peer = await udpPeer();
    const got = nextMessage(transport);
    peer.send(fixtureBytes('kam-options-00-received-options.sip'), transport.port, '127.0.0.1');
    expect((await got)[1].protocol).toBe('udp');
  });

  it('UDP request with an empty rport → delivered with rport and received stamped; the response goes back to the source port', async () => {
    const peer = await udpPeer();
    const port = peer.address().port;
    const raw = `OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKa\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:gw@x>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
    const got = nextMessage(transport);
    peer.send(raw, transport.port, '127.0.0.1');
    const [msg, source] = await got;
    expect(source).toEqual({ protocol: 'udp', address: '127.0.0.1', port });
    expect(topViaOf(msg).params).toEqual(
      expect.arrayContaining([
        ['rport', String(port)],
        ['received', '127.0.0.1'],
      ]),
    );
    const reply = once(peer, 'message');
    transport.send(createResponse(msg as SipRequest, 200), { protocol: 'udp', address: '127.0.0.1', port });
    const [data] = (await reply) as [Buffer];
    expect(parseMessage(data).type === 'response').toBe(true);
  });

  it('UDP keep-alive and garbage datagrams → nothing delivered, transport keeps working', async () => {
    const peer = await udpPeer();
    const seen: SipMessage[] = [];
    transport.on('message', (m) => seen.push(m));
    peer.send('\r\n\r\n', transport.port, '127.0.0.1');
    peer.send('not sip at all', transport.port, '127.0.0.1');
    const got = nextMessage(transport);
    peer.send(fixtureBytes('kam-options-00-received-options.sip'), transport.port, '127.0.0.1');
    await got;
    expect(seen).toHaveLength(1);
  });

  it('TCP: two messages in odd-sized chunks → two messages with the connection id; the response returns on that connection', async () => {
    const sock = await tcpPeer();
    const bytes = Buffer.concat([
      fixtureBytes('kam-uas-tcp-00-received-invite.sip'),
      fixtureBytes('kam-uas-tcp-04-received-info.sip'),
    ]);
    const messages: Array<[SipMessage, MessageSource]> = [];
    const both = new Promise<void>((resolve) => {
      transport.on('message', (m, s) => {
        messages.push([m, s]);
        if (messages.length === 2) resolve();
      });
    });
    for (let i = 0; i < bytes.length; i += 97) sock.write(bytes.subarray(i, i + 97));
    await both;
    const [[invite, source]] = messages as [[SipMessage, MessageSource]];
    expect(source.protocol).toBe('tcp');
    expect(source.connectionId).toMatch(/^tcp-/);
    expect(messages.map(([m]) => (m as SipRequest).method)).toEqual(['INVITE', 'INFO']);
    const data = once(sock, 'data');
    transport.send(createResponse(invite as SipRequest, 180, { toTag: 't' }), {
      protocol: 'tcp',
      address: source.address,
      port: source.port,
      connectionId: source.connectionId,
    });
    const [chunk] = (await data) as [Buffer];
    expect(chunk.toString()).toMatch(/^SIP\/2.0 180 Ringing\r\n/);
  });

  it('TCP CRLF CRLF ping → CRLF pong', async () => {
    const sock = await tcpPeer();
    const data = once(sock, 'data');
    sock.write('\r\n\r\n');
    const [chunk] = (await data) as [Buffer];
    expect(chunk.toString()).toBe('\r\n');
  });

  it('TCP message without Content-Length → connection closed (§18.3)', async () => {
    const sock = await tcpPeer();
    const closed = once(sock, 'close');
    sock.write('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\r\n');
    await closed;
    await new Promise((r) => setTimeout(r, 20));
    expect(transport.tcpConnections).toBe(0);
  });

  it('TCP send to a peer with no connection → dials once and reuses the connection for the next message', async () => {
    const accepted: Socket[] = [];
    const received: Buffer[] = [];
    const server: Server = createServer((s) => {
      accepted.push(s);
      s.on('data', (d: Buffer) => received.push(d));
    });
    const port = await listenQuietly(server);
    closers.push(() => {
      for (const s of accepted) s.destroy();
      return new Promise((r) => server.close(r));
    });
    const msg = parseMessage(fixtureBytes('kam-uas-tcp-09-received-bye.sip'));
    transport.send(msg, { protocol: 'tcp', address: '127.0.0.1', port });
    transport.send(msg, { protocol: 'tcp', address: '127.0.0.1', port });
    await new Promise((r) => setTimeout(r, 100));
    expect(accepted).toHaveLength(1);
    transport.send(msg, { protocol: 'tcp', address: '127.0.0.1', port });
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toHaveLength(1);
    expect(Buffer.concat(received).toString()).toBe(serializeMessage(msg).toString().repeat(3));
  });

  it('TCP response whose connection has closed → a new connection to the sent-by port (§18.2.2)', async () => {
    const accepted: Socket[] = [];
    const received: Buffer[] = [];
    const server: Server = createServer((s) => {
      accepted.push(s);
      s.on('data', (d: Buffer) => received.push(d));
    });
    const listenPort = await listenQuietly(server);
    closers.push(() => {
      for (const s of accepted) s.destroy();
      return new Promise((r) => server.close(r));
    });
    const sock = await tcpPeer();
    const invite = fixtureBytes('kam-uas-tcp-00-received-invite.sip')
      .toString()
      .replace('SIP/2.0/TCP 127.0.0.1:25070;', `SIP/2.0/TCP 127.0.0.1:${listenPort};`);
    const got = nextMessage(transport);
    sock.write(invite);
    const [msg, source] = await got;
    const closed = once(sock, 'close');
    sock.destroy();
    await closed;
    await new Promise((r) => setTimeout(r, 20));
    transport.send(createResponse(msg as SipRequest, 486, { toTag: 't' }), responseTarget(topViaOf(msg), source));
    await new Promise((r) => setTimeout(r, 100));
    expect(accepted).toHaveLength(1);
    expect(Buffer.concat(received).toString()).toMatch(/^SIP\/2.0 486 Busy Here\r\n/);
  });

  it('TCP send to a closed port → onError with ERR_SIP_TRANSPORT', async () => {
    const port = await quietPort();
    const err = await new Promise<SipError>((resolve) => {
      transport.send(
        parseMessage(fixtureBytes('kam-uas-tcp-09-received-bye.sip')),
        { protocol: 'tcp', address: '127.0.0.1', port },
        resolve,
      );
    });
    expect(err.code).toBe('ERR_SIP_TRANSPORT');
  });

  it('close twice → one close, and sends afterwards fail instead of throwing', async () => {
    await Promise.all([transport.close(), transport.close()]);
    const err = await new Promise<SipError>((resolve) => {
      transport.send(
        parseMessage(fixtureBytes('kam-uas-tcp-09-received-bye.sip')),
        { protocol: 'udp', address: '127.0.0.1', port: 9 },
        resolve,
      );
    });
    expect(err.code).toBe('ERR_SIP_TRANSPORT');
  });
});

describe('NetworkTransport with one protocol', () => {
  it('UDP only → TCP sends fail with ERR_SIP_TRANSPORT', async () => {
    const t = await startTransport(['udp']);
    const err = await new Promise<SipError>((resolve) => {
      t.send(
        parseMessage(fixtureBytes('kam-uas-tcp-09-received-bye.sip')),
        { protocol: 'tcp', address: '127.0.0.1', port: 9 },
        resolve,
      );
    });
    await t.close();
    expect(err.message).toMatch(/TCP is not enabled/);
  });

  it('no protocols → TypeError', () => {
    expect(() => new NetworkTransport({ host: '127.0.0.1', port: 0, protocols: [] })).toThrow(TypeError);
  });
});
