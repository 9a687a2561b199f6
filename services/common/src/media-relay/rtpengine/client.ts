import { ControlChannel, type RelayLogger } from '../control-channel';
import { RelayCommandError, RelayProtocolError } from '../errors';
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
  SdpOptions,
  SdpResult,
  SubscribeAnswerRequest,
  SubscribeRequest,
  SubscribeResult,
  SubscriptionRef,
} from '../relay';
import { udpTransport, type DatagramTransportFactory } from '../transport';
import { decodeNgDict, encodeNgDict, isDict, ngDict, ngList, ngNumber, ngString, type NgDict } from './ng';

export interface RtpengineClientOptions {
  /** Where `listen-ng` listens. */
  readonly host?: string;
  readonly port: number;
  readonly timeoutMs?: number;
  readonly retransmitMs?: number;
  readonly logger?: RelayLogger;
  /** Defaults to a UDP socket connected to host:port. */
  readonly transport?: DatagramTransportFactory;
}

const CAPABILITIES: RelayCapabilities = Object.freeze({
  transcoding: true,
  ptime: true,
  iceForce: true,
  transportConversion: true,
  byteCounters: true,
  list: true,
});

/**
 * rtpengine over its NG control protocol (`<cookie> <bencoded dict>` over UDP), as
 * documented in the rtpengine 10.5 README, section "The ng Control Protocol".
 */
export class RtpengineClient implements MediaRelay {
  readonly kind = 'rtpengine' as const;
  readonly capabilities = CAPABILITIES;
  private readonly channel: ControlChannel;

  constructor(options: RtpengineClientOptions) {
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
    const reply = await this.command({ command: 'ping' });
    // "The only valid value for result is pong."
    if (reply['result'] !== 'pong')
      throw new RelayProtocolError(this.kind, 'ping', `result ${JSON.stringify(reply['result'])}, expected pong`);
    return { latencyMs: Number(process.hrtime.bigint() - started) / 1e6 };
  }

  async offer(request: OfferRequest): Promise<SdpResult> {
    return this.sdpCommand('offer', request);
  }

  async answer(request: AnswerRequest): Promise<SdpResult> {
    if (!request.toTag) throw new TypeError('answer needs the To tag');
    return this.sdpCommand('answer', request);
  }

  async delete(call: CallRef): Promise<DeleteResult> {
    // `delete-delay: 0`: gone now, not after the daemon's delete-delay (30 s by
    // default, meant for Kamailio's forking), during which the call still answers
    // queries and a second delete. Without the `fatal` flag an unknown call is "ok"
    // with a warning ("Call-ID not found or tags didn't match").
    const reply = await this.command({ command: 'delete', ...callKeys(call), 'delete-delay': 0 });
    return { deleted: reply['warning'] === undefined };
  }

  async query(call: CallRef): Promise<CallStats> {
    const reply = await this.command({ command: 'query', ...callKeys(call) });
    return parseQueryReply(call.callId, reply);
  }

  async list(limit?: number): Promise<string[]> {
    // rtpengine lists 32 call-ids unless told otherwise.
    const reply = await this.command({ command: 'list', limit });
    return ngList(reply, 'calls').filter((c): c is string => typeof c === 'string');
  }

  async statistics(): Promise<RelayStatistics> {
    const reply = await this.command({ command: 'statistics' });
    return parseStatisticsReply(reply);
  }

  // rtpengine docs/ng_control_protocol.md (mr10.5), "subscribe request": one
  // subscription per party (`from-tag`) so that each copy is one labelled m= line;
  // `to-tag` names the subscriber's monologue.
  async subscribe(request: SubscribeRequest): Promise<SubscribeResult> {
    const reply = await this.command({
      command: 'subscribe request',
      'call-id': request.callId,
      'from-tag': request.partyTag,
      'to-tag': request.subscriberTag,
      replace: ['origin', 'session-connection'],
    });
    const sdp = ngString(reply, 'sdp');
    if (sdp === undefined) throw new RelayProtocolError(this.kind, 'subscribe request', 'no sdp in an ok reply');
    return { sdp };
  }

  async subscribeAnswer(request: SubscribeAnswerRequest): Promise<void> {
    await this.command({
      command: 'subscribe answer',
      'call-id': request.callId,
      'to-tag': request.subscriberTag,
      sdp: request.sdp,
    });
  }

  async unsubscribe(request: SubscriptionRef): Promise<DeleteResult> {
    try {
      await this.command({ command: 'unsubscribe', 'call-id': request.callId, 'to-tag': request.subscriberTag });
      return { deleted: true };
    } catch (err) {
      // The call ended first: rtpengine dropped its subscriptions with it.
      if (err instanceof RelayCommandError && /unknown (call|monologue|tag)/i.test(err.message))
        return { deleted: false };
      throw err;
    }
  }

  close(): Promise<void> {
    return this.channel.close();
  }

  private async sdpCommand(command: 'offer' | 'answer', request: OfferRequest): Promise<SdpResult> {
    const reply = await this.command({ command, sdp: request.sdp, ...callKeys(request), ...ngSdpOptions(request) });
    const sdp = ngString(reply, 'sdp');
    if (sdp === undefined) throw new RelayProtocolError(this.kind, command, 'no sdp in an ok reply');
    const warning = ngString(reply, 'warning');
    return warning === undefined ? { sdp } : { sdp, warning };
  }

  /** Sends one NG request; resolves with the reply dictionary when `result` is ok or pong. */
  private async command(dict: NgDict & { command: string }): Promise<NgDict> {
    const body = await this.channel.request(dict.command, encodeNgDict(dict));
    let reply: NgDict;
    try {
      reply = decodeNgDict(body);
    } catch (err) {
      throw new RelayProtocolError(this.kind, dict.command, (err as Error).message);
    }
    const result = ngString(reply, 'result');
    if (result === 'ok' || result === 'pong') return reply;
    if (result === 'error')
      throw new RelayCommandError(this.kind, dict.command, ngString(reply, 'error-reason') ?? 'no error-reason given');
    // `load limit` comes back only when `supports: [load limit]` was sent; we don't.
    throw new RelayProtocolError(
      this.kind,
      dict.command,
      `unexpected result ${JSON.stringify(result ?? reply['result'])}`,
    );
  }
}

function callKeys(call: CallRef): NgDict {
  // An empty From tag is none: `query` then reports every party of the call (an empty
  // one would match no party and report totals only).
  return {
    'call-id': call.callId,
    'from-tag': call.fromTag || undefined,
    'to-tag': call.toTag,
    'via-branch': call.viaBranch,
  };
}

/** Maps the relay-neutral SDP options to NG keys (README, `offer` Message). */
export function ngSdpOptions(options: SdpOptions): NgDict {
  const codec: Record<string, readonly string[]> = {};
  for (const key of ['strip', 'mask', 'transcode'] as const) {
    const names = options.codecs?.[key];
    if (names && names.length > 0) codec[key] = names;
  }
  if (options.ptime !== undefined && !(Number.isInteger(options.ptime) && options.ptime > 0 && options.ptime < 1000)) {
    throw new TypeError(`ptime must be a whole number of milliseconds, got ${options.ptime}`);
  }
  return {
    // The relay's address goes into o= and the session-level c= as well as the
    // media-level ones (rtpproxy `o`/`c` flags), so nothing in the SDP points past it.
    replace: ['origin', 'session-connection'],
    ICE: options.ice,
    'transport-protocol': options.transport,
    codec: Object.keys(codec).length > 0 ? codec : undefined,
    ptime: options.ptime,
  };
}

/**
 * Reduces a `query` (or `delete`) reply to per-leg RTP counters. Each entry of
 * `tags` is one party; its streams' `stats` count what the relay received from
 * that party on its local port (README, `query` Message).
 */
export function parseQueryReply(callId: string, reply: NgDict): CallStats {
  const legs: LegStats[] = [];
  const tags = ngDict(reply, 'tags') ?? {};
  for (const [key, value] of Object.entries(tags)) {
    if (!isDict(value)) continue;
    let packets = 0;
    let bytes = 0;
    let errors = 0;
    let endpoint: LegStats['endpoint'];
    let localPort: number | undefined;
    for (const media of ngList(value, 'medias')) {
      if (!isDict(media)) continue;
      for (const stream of ngList(media, 'streams')) {
        if (!isDict(stream)) continue;
        // A stranger may aim at the RTCP port as well: its drops count too.
        errors += ngNumber(ngDict(stream, 'stats') ?? {}, 'errors') ?? 0;
        if (!ngList(stream, 'flags').includes('RTP')) continue;
        const stats = ngDict(stream, 'stats') ?? {};
        packets += ngNumber(stats, 'packets') ?? 0;
        bytes += ngNumber(stats, 'bytes') ?? 0;
        localPort ??= ngNumber(stream, 'local port');
        const ep = ngDict(stream, 'endpoint');
        const address = ep && ngString(ep, 'address');
        const port = ep && ngNumber(ep, 'port');
        if (endpoint === undefined && address !== undefined && port !== undefined) endpoint = { address, port };
      }
    }
    legs.push({
      tag: ngString(value, 'tag') ?? key,
      packets,
      bytes,
      errors,
      ...(endpoint ? { endpoint } : {}),
      ...(localPort !== undefined ? { localPort } : {}),
    });
  }
  const rtp = ngDict(ngDict(reply, 'totals') ?? {}, 'RTP') ?? {};
  return {
    callId,
    legs,
    totals: {
      packets: ngNumber(rtp, 'packets') ?? legs.reduce((n, l) => n + l.packets, 0),
      bytes: ngNumber(rtp, 'bytes') ?? legs.reduce((n, l) => n + (l.bytes ?? 0), 0),
    },
  };
}

/** `statistics` replies as `list jsonstats` does (README, `statistics` Message). */
export function parseStatisticsReply(reply: NgDict): RelayStatistics {
  const stats = ngDict(reply, 'statistics') ?? {};
  const current = ngDict(stats, 'currentstatistics') ?? {};
  const total = ngDict(stats, 'totalstatistics') ?? {};
  // 10.5 splits relayed packets into _user and _kernel; older releases have one counter.
  const relayed = sumDefined(
    ngNumber(total, 'relayedpackets'),
    ngNumber(total, 'relayedpackets_user'),
    ngNumber(total, 'relayedpackets_kernel'),
  );
  const managed = ngNumber(total, 'managedsessions');
  return {
    activeSessions: ngNumber(current, 'sessionstotal') ?? 0,
    ...(managed !== undefined ? { totalSessions: managed } : {}),
    ...(relayed !== undefined ? { packetsRelayed: relayed } : {}),
    raw: stats,
  };
}

function sumDefined(...values: Array<number | undefined>): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? present.reduce((a, b) => a + b, 0) : undefined;
}
