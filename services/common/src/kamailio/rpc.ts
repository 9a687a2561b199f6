import { isIPv6 } from 'node:net';
import type { Config } from '../config';
import { CodedError } from '../errors';
import type { Logger } from '../logger';

/**
 * Kamailio JSON-RPC over HTTP (jsonrpcs + xhttp, see kamailio/kamailio.cfg): the one
 * interface every caller of Kamailio's RPC takes (the control-plane's Kamailio
 * control, dispatcher membership, the stack supervisor, tests and benches). Kamailio's
 * RPC methods take positional parameters.
 */
export interface KamailioRpc {
  call<T = unknown>(method: string, ...params: Array<string | number>): Promise<T>;
}

/** A JSON-RPC error Kamailio answered with (e.g. 404 "AOR not found"). */
export class KamailioRpcError extends CodedError<'ERR_KAMAILIO_RPC'> {
  constructor(
    readonly method: string,
    readonly rpcCode: number,
    message: string,
  ) {
    super('ERR_KAMAILIO_RPC', `${method}: ${rpcCode} ${message}`);
  }
}

/** Kamailio did not answer (down, refused, timed out). */
export class KamailioUnavailableError extends CodedError<'ERR_KAMAILIO_UNAVAILABLE'> {
  constructor(
    readonly method: string,
    cause: string,
  ) {
    super('ERR_KAMAILIO_UNAVAILABLE', `${method}: Kamailio did not answer (${cause})`);
  }
}

interface JsonRpcReply {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

export const DEFAULT_RPC_TIMEOUT_MS = 3000;

export interface HttpKamailioRpcOptions {
  /** Kamailio's xhttp RPC endpoint, e.g. {@link kamailioRpcUrl}. */
  readonly url: string;
  /** Per request; a request that takes longer fails with `KamailioUnavailableError` (`TimeoutError`). */
  readonly timeoutMs?: number;
  readonly logger?: Pick<Logger, 'warn'>;
}

/** Where Kamailio answers JSON-RPC: xhttp on `KAMAILIO_RPC_HOST:KAMAILIO_RPC_PORT` (rpc.cfg serves nothing else). */
export function kamailioRpcUrl(config: Pick<Config, 'kamailio'>): string {
  return `http://${urlHost(config.kamailio.rpcHost)}:${config.kamailio.rpcPort}/RPC`;
}

/** An IPv6 literal goes in brackets in a URL; names and IPv4 addresses as they are. */
function urlHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/** The RPC client for the configured Kamailio. The caller owns it and closes it. */
export function kamailioRpcFromConfig(
  config: Pick<Config, 'kamailio'>,
  options: Omit<HttpKamailioRpcOptions, 'url'> = {},
): HttpKamailioRpc {
  return new HttpKamailioRpc({ ...options, url: kamailioRpcUrl(config) });
}

interface Pending {
  readonly method: string;
  readonly abort: AbortController;
}

/**
 * One HTTP POST per request, JSON-RPC 2.0 ids from a counter. Requests in flight
 * stay in a pending map, each with its own deadline, so `close()` can fail them all
 * at once; a reply whose id is not the request's is logged (HTTP pairs request and
 * reply, so it can only be a Kamailio fault) and still taken as the answer.
 */
export class HttpKamailioRpc implements KamailioRpc {
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly logger: Pick<Logger, 'warn'> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(options: HttpKamailioRpcOptions) {
    this.url = options.url;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    this.logger = options.logger;
  }

  /** Number of requests waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  async call<T = unknown>(method: string, ...params: Array<string | number>): Promise<T> {
    if (this.closed) throw new KamailioUnavailableError(method, 'client closed');
    const id = this.nextId++;
    const abort = new AbortController();
    this.pending.set(id, { method, abort });
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method, params, id }),
        signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), abort.signal]),
      });
      text = await response.text();
    } catch (err) {
      const cause = abort.signal.aborted
        ? 'client closed'
        : ((err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
      throw new KamailioUnavailableError(method, cause);
    } finally {
      this.pending.delete(id);
    }
    let reply: JsonRpcReply;
    try {
      reply = JSON.parse(text) as JsonRpcReply;
    } catch {
      throw new KamailioUnavailableError(method, `HTTP ${response.status} with a non-JSON body`);
    }
    if (reply.id !== id) {
      this.logger?.warn('Kamailio RPC reply for another request', { method, requestId: id, replyId: reply.id });
    }
    if (reply.error) throw new KamailioRpcError(method, reply.error.code, reply.error.message);
    return reply.result as T;
  }

  /** Idempotent: fails every request in flight (`client closed`) and refuses new ones. */
  close(): Promise<void> {
    this.closed = true;
    for (const { abort } of this.pending.values()) abort.abort();
    this.pending.clear();
    return Promise.resolve();
  }
}
