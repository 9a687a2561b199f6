import { ControlChannel, type RelayLogger } from '../control-channel';
import { RelayCommandError, RelayOptionUnsupportedError, RelayProtocolError } from '../errors';
import type {
  AnswerRequest,
  CallRef,
  CallStats,
  DeleteResult,
  LegStats,
  MediaRelay,
  OfferRequest,
  PingResult,
  RelayCapabilities,
  RelayStatistics,
  SdpResult,
  SubscribeResult,
} from '../relay';
import { udpTransport, type DatagramTransportFactory } from '../transport';
import {
  SESSION_NOT_FOUND,
  assertToken,
  deleteCommand,
  describeErrorCode,
  parseDone,
  parseInfo,
  parsePort,
  parseQuery,
  parseReply,
  parseVersion,
  queryCommand,
  streamTag,
  updateCommand,
  type QueryReply,
  type Reply,
} from './protocol';
import { SdpError } from '../../sdp/sdp';
import { describeSdp, rewriteSdp, type RelayEndpoint } from './sdp';

export interface RtpproxyClientOptions {
  /** Where `-s udp:host:port` listens. */
  readonly host?: string;
  readonly port: number;
  readonly timeoutMs?: number;
  readonly retransmitMs?: number;
  readonly logger?: RelayLogger;
  /** Defaults to a UDP socket connected to host:port. */
  readonly transport?: DatagramTransportFactory;
}

const CAPABILITIES: RelayCapabilities = Object.freeze({
  transcoding: false,
  // RTPProxy's `z` modifier re-packetises only what it receives from one side and
  // leaves a=ptime to the controller; not the same promise as rtpengine's ptime.
  ptime: false,
  iceForce: false,
  transportConversion: false,
  byteCounters: false,
  list: false,
});

// Streams per call probed by query; no call of ours has more m= lines.
const MAX_STREAMS = 16;

/**
 * RTPProxy over its UDP control socket. RTPProxy only allocates ports; reading the
 * SDP and pointing it at the relay is this client's job (rewriting c=, m=, o= and
 * a=rtcp, removing ICE attributes since RTPProxy is no ICE agent).
 *
 * Deviations from rtpengine worth knowing: `viaBranch` is not sent (forked
 * branches share the session); a failure on the n-th stream of a multi-stream
 * offer leaves the earlier streams to RTPProxy's inactivity timer (`-T`, 60 s),
 * as a D would also end an established call during a re-offer.
 */
export class RtpproxyClient implements MediaRelay {
  readonly kind = 'rtpproxy' as const;
  readonly capabilities = CAPABILITIES;
  private readonly channel: ControlChannel;

  constructor(options: RtpproxyClientOptions) {
    this.channel = new ControlChannel({
      relay: this.kind,
      transport: options.transport ?? udpTransport(options.host ?? '127.0.0.1', options.port),
      timeoutMs: options.timeoutMs,
      retransmitMs: options.retransmitMs,
      logger: options.logger,
    });
  }

  async ping(): Promise<PingResult> {
    const started = process.hrtime.bigint();
    const version = await this.command('V', 'V', parseVersion);
    return { latencyMs: Number(process.hrtime.bigint() - started) / 1e6, version };
  }

  async offer(request: OfferRequest): Promise<SdpResult> {
    return this.anchor('U', 'offer', request);
  }

  async answer(request: AnswerRequest): Promise<SdpResult> {
    if (!request.toTag) throw new TypeError('answer needs the To tag');
    return this.anchor('L', 'answer', request);
  }

  async delete(call: CallRef): Promise<DeleteResult> {
    // Bare tags: RTPProxy removes every media stream of the call (rpcpv1_delete.c).
    const reply = await this.send('delete', deleteCommand(call.callId, call.fromTag, call.toTag), parseDone);
    if (reply.ok) return { deleted: true };
    if (reply.code === SESSION_NOT_FOUND) return { deleted: false };
    throw this.refused('delete', reply.code);
  }

  async query(call: CallRef): Promise<CallStats> {
    const streams: QueryReply[] = [];
    for (let n = 1; n <= MAX_STREAMS; n++) {
      const toTag = call.toTag === undefined ? undefined : streamTag(call.toTag, n);
      const reply = await this.send('query', queryCommand(call.callId, streamTag(call.fromTag, n), toTag), parseQuery);
      if (!reply.ok) {
        if (reply.code === SESSION_NOT_FOUND && streams.length > 0) break;
        throw this.refused('query', reply.code);
      }
      streams.push(reply.value);
    }
    const fromCaller = streams.reduce((n, s) => n + s.packetsFromCaller, 0);
    const fromCallee = streams.reduce((n, s) => n + s.packetsFromCallee, 0);
    const legs: LegStats[] = [
      { tag: call.fromTag, packets: fromCaller },
      { tag: call.toTag ?? '', packets: fromCallee },
    ];
    return { callId: call.callId, legs, totals: { packets: fromCaller + fromCallee } };
  }

  list(): Promise<string[]> {
    return Promise.reject(
      new RelayOptionUnsupportedError(
        this.kind,
        'list',
        'list',
        'the RTPProxy control protocol has no command listing sessions',
      ),
    );
  }

  // RTPProxy copies a session with `C` to a UDP address of its own choosing, without
  // SDP; the subscribe/answer model of the interface is rtpengine's only for now.
  subscribe(): Promise<SubscribeResult> {
    return Promise.reject(this.noSubscribe('subscribe'));
  }

  subscribeAnswer(): Promise<void> {
    return Promise.reject(this.noSubscribe('subscribe answer'));
  }

  unsubscribe(): Promise<DeleteResult> {
    return Promise.reject(this.noSubscribe('unsubscribe'));
  }

  private noSubscribe(command: string): RelayOptionUnsupportedError {
    return new RelayOptionUnsupportedError(this.kind, command, 'subscribe', 'listen-only forks need rtpengine');
  }

  async statistics(): Promise<RelayStatistics> {
    const info = await this.command('info', 'I', parseInfo);
    const num = (key: string): number | undefined => (typeof info[key] === 'number' ? info[key] : undefined);
    const total = num('sessions created');
    const transmitted = num('packets transmitted');
    return {
      activeSessions: num('active sessions') ?? 0,
      ...(total !== undefined ? { totalSessions: total } : {}),
      ...(transmitted !== undefined ? { packetsRelayed: transmitted } : {}),
      raw: info,
    };
  }

  close(): Promise<void> {
    return this.channel.close();
  }

  private async anchor(op: 'U' | 'L', command: 'offer' | 'answer', request: OfferRequest): Promise<SdpResult> {
    assertToken('Call-ID', request.callId);
    let media;
    try {
      media = describeSdp(request.sdp).media;
    } catch (err) {
      if (err instanceof SdpError) throw new TypeError(`${command}: ${err.message}`);
      throw err;
    }
    this.checkOptions(command, request, media);
    const endpoints = new Map<number, RelayEndpoint>();
    for (const m of media) {
      // Port 0 rejects or disables the stream (RFC 3264 §6, §8.2): nothing to anchor.
      if (m.port === 0) continue;
      if (!m.connection) throw new TypeError(`${command}: media ${m.number} has no c= line`);
      const text = updateCommand(op, {
        callId: request.callId,
        address: m.connection.address,
        port: m.port,
        fromTag: streamTag(request.fromTag, m.number),
        toTag: request.toTag === undefined ? undefined : streamTag(request.toTag, m.number),
        ipv6: m.connection.addrType === 'IP6',
      });
      const reply = await this.send(command, text, parsePort);
      if (!reply.ok) throw this.refused(command, reply.code);
      // L on a call RTPProxy does not know answers port 0 rather than an error.
      if (reply.value.port === 0)
        throw new RelayCommandError(this.kind, command, describeErrorCode(SESSION_NOT_FOUND), SESSION_NOT_FOUND);
      if (reply.value.address === undefined) {
        throw new RelayProtocolError(this.kind, command, 'reply without an address (RTPProxy older than 1.2?)');
      }
      endpoints.set(m.number, { address: reply.value.address, port: reply.value.port, ipv6: reply.value.ipv6 });
    }
    return { sdp: rewriteSdp(request.sdp, { endpoints, stripCodecs: request.codecs?.strip }) };
  }

  /** Refuses, before anything is sent, what RTPProxy cannot do. */
  private checkOptions(command: string, request: OfferRequest, media: ReturnType<typeof describeSdp>['media']): void {
    const unsupported = (option: string, detail: string): never => {
      throw new RelayOptionUnsupportedError(this.kind, command, option, detail);
    };
    if (request.codecs?.mask?.length) unsupported('codecs.mask', 'RTPProxy does not transcode');
    if (request.codecs?.transcode?.length) unsupported('codecs.transcode', 'RTPProxy does not transcode');
    if (request.ptime !== undefined) unsupported('ptime', 'RTPProxy does not rewrite packetisation time');
    if (request.ice === 'force') unsupported('ice', 'RTPProxy is no ICE agent; ICE attributes are always removed');
    const transport = request.transport;
    if (transport !== undefined) {
      const other = media.find((m) => m.port !== 0 && m.proto !== transport);
      if (other)
        unsupported('transport', `RTPProxy relays ${other.proto} as it is and cannot turn it into ${transport}`);
    }
  }

  private async command<T>(command: string, text: string, parse: (body: string) => T | undefined): Promise<T> {
    const reply = await this.send(command, text, parse);
    if (!reply.ok) throw this.refused(command, reply.code);
    return reply.value;
  }

  private async send<T>(command: string, text: string, parse: (body: string) => T | undefined): Promise<Reply<T>> {
    const body = (await this.channel.request(command, text)).toString('utf8');
    const reply = parseReply(body, parse);
    if (!reply)
      throw new RelayProtocolError(this.kind, command, `unexpected reply ${JSON.stringify(body.slice(0, 80))}`);
    return reply;
  }

  private refused(command: string, code: number): RelayCommandError {
    return new RelayCommandError(this.kind, command, `E${code} ${describeErrorCode(code)}`, code);
  }
}
