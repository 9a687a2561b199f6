import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPublicAddress, webhookUrlProblem } from '../../../common/src/webhooks/destination';
import { parseRetryAfter } from '../sms/ai-delivery';

/** What one POST came to. */
export type WebhookSendResult =
  | { readonly kind: 'response'; readonly status: number; readonly retryAfterMs?: number }
  /** not sent: the destination is not allowed (SSRF defence) or the URL is unusable */
  | { readonly kind: 'refused'; readonly reason: 'private_address' | 'invalid_url'; readonly detail: string }
  /** sent or not, no status came back: DNS, connection, TLS, timeout */
  | { readonly kind: 'error'; readonly reason: 'timeout' | 'network'; readonly detail: string };

export interface WebhookSender {
  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<WebhookSendResult>;
  close(): void;
}

export interface HttpWebhookSenderOptions {
  readonly timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE_ADDRESSES */
  readonly allowPrivate: boolean;
  /** Name resolution; default the system's (dns.lookup, all addresses). */
  readonly resolve?: (hostname: string, family: number) => Promise<LookupAddress[]>;
}

const systemResolve = (hostname: string, family: number): Promise<LookupAddress[]> =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, family }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/** A resolved address was refused: surfaces from the socket as the request's error. */
class RefusedAddress extends Error {
  readonly code = 'ERR_WEBHOOK_ADDRESS_REFUSED';
  constructor(readonly address: string) {
    super(`resolves to a non-public address (${address})`);
  }
}

/**
 * POSTs webhooks over node:http/https (not fetch: its connections cannot be given a
 * lookup function). Unless private addresses are allowed, every address a name resolves
 * to must be public, and the connection is made to the address that was checked, so a
 * DNS answer cannot change between the check and the connect (rebinding). A URL with a
 * literal IP never reaches the lookup: webhookUrlProblem checks those first.
 *
 * Redirects are not followed (a signed request goes where it was configured to).
 * Keep-alive connections are reused per origin; `close()` drops them.
 */
export class HttpWebhookSender implements WebhookSender {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 32 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 32 }),
  };
  private readonly lookup: LookupFunction;

  constructor(private readonly opts: HttpWebhookSenderOptions) {
    const resolve = opts.resolve ?? systemResolve;
    this.lookup = (hostname, options, callback) => {
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
      resolve(hostname, family).then(
        (list) => {
          const refused = opts.allowPrivate ? undefined : list.find((a) => !isPublicAddress(a.address));
          if (refused) return callback(new RefusedAddress(refused.address), '', 4);
          const first = list[0];
          if (!first)
            return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
          // net's autoSelectFamily asks for every address; the classic path for one.
          if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
          else callback(null, first.address, first.family);
        },
        (err: NodeJS.ErrnoException) => callback(err, '', 4),
      );
    };
  }

  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<WebhookSendResult> {
    const problem = webhookUrlProblem(url, { allowPrivate: this.opts.allowPrivate });
    if (problem !== null) {
      const reason = /non-public|localhost/.test(problem) ? 'private_address' : 'invalid_url';
      return Promise.resolve({ kind: 'refused', reason, detail: `webhook URL ${problem}` });
    }
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    return new Promise<WebhookSendResult>((resolve) => {
      let settled = false;
      const settle = (result: WebhookSendResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(result);
      };
      const req = transport.request(target, {
        method: 'POST',
        agent: this.agents[target.protocol as 'http:' | 'https:'],
        lookup: this.lookup,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      const deadline = setTimeout(() => {
        settle({ kind: 'error', reason: 'timeout', detail: `no response within ${this.opts.timeoutMs} ms` });
        req.destroy();
      }, this.opts.timeoutMs);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const retryAfterMs = parseRetryAfter(
          typeof res.headers['retry-after'] === 'string' ? res.headers['retry-after'] : null,
        );
        settle(retryAfterMs === undefined ? { kind: 'response', status } : { kind: 'response', status, retryAfterMs });
        // The body means nothing to us; drained so the connection can be reused, cut if it never ends.
        const cut = setTimeout(() => res.destroy(), this.opts.timeoutMs);
        res.on('close', () => clearTimeout(cut));
        res.resume();
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof RefusedAddress)
          settle({ kind: 'refused', reason: 'private_address', detail: `webhook host ${err.message}` });
        else
          settle({ kind: 'error', reason: 'network', detail: `${err.code ?? 'error'}: ${err.message}`.slice(0, 300) });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}
