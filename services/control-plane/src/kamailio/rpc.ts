import { CodedError } from '../../../common/src/errors';

/**
 * Kamailio JSON-RPC over HTTP (jsonrpcs + xhttp, see kamailio/kamailio.cfg). Kamailio's
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
  id: number;
  result?: unknown;
  error?: { code: number; message: string };
}

export class HttpKamailioRpc implements KamailioRpc {
  private nextId = 1;

  constructor(
    private readonly url: string,
    private readonly timeoutMs = 3000,
  ) {}

  async call<T = unknown>(method: string, ...params: Array<string | number>): Promise<T> {
    const id = this.nextId++;
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method, params, id }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new KamailioUnavailableError(method, cause);
    }
    const text = await response.text();
    let reply: JsonRpcReply;
    try {
      reply = JSON.parse(text) as JsonRpcReply;
    } catch {
      throw new KamailioUnavailableError(method, `HTTP ${response.status} with a non-JSON body`);
    }
    if (reply.error) throw new KamailioRpcError(method, reply.error.code, reply.error.message);
    return reply.result as T;
  }
}
