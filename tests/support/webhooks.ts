import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  verifyWebhookSignature,
  type CallWebhookBody,
  type WebhookVerdict,
} from '../../services/common/src/webhooks/outbox';
import { eventually } from './sms';

/** One request a {@link WebhookReceiver} got. */
export interface ReceivedWebhook {
  readonly at: number;
  readonly headers: IncomingHttpHeaders;
  /** the body's exact bytes, as signed */
  readonly raw: string;
  readonly body: CallWebhookBody;
  /** the X-Bridge-Signature checked against the raw body with the stack's secret */
  readonly verdict: WebhookVerdict;
}

/** What the receiver answers a request with: a status, or 'hang' (no answer until it closes). */
export type WebhookAnswer = number | 'hang';

/**
 * A webhook receiver for the suites, the way a user writes one: reads the raw body,
 * checks the signature on it, answers. `answer` decides the status per request (it
 * sees every earlier request too), so a test can fail the first N attempts, refuse
 * one event, or hold a request open while the deliverer is killed.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(
    host: string,
    port: number,
    secret: string,
    answer: (hook: ReceivedWebhook, earlier: readonly ReceivedWebhook[]) => WebhookAnswer = () => 200,
  ): Promise<WebhookReceiver> {
    const box: { receiver?: WebhookReceiver } = {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const hook: ReceivedWebhook = {
          at: Date.now(),
          headers: req.headers,
          raw,
          body: JSON.parse(raw) as CallWebhookBody,
          verdict: verifyWebhookSignature(secret, req.headers['x-bridge-signature'], raw),
        };
        const self = box.receiver as WebhookReceiver;
        const earlier = [...self.received];
        self.received.push(hook);
        const status = answer(hook, earlier);
        if (status === 'hang') {
          self.hanging.add(res);
          return;
        }
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const receiver = new WebhookReceiver(server, `http://${host}:${address.port}/hooks/calls?token=kept-out-of-logs`);
    box.receiver = receiver;
    return receiver;
  }

  /** The requests about one call, in arrival order. */
  forCall(callId: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.body.call_id === callId);
  }

  /** Waits until `count` requests about the call have arrived. */
  async waitFor(callId: string, count: number, timeoutMs = 15_000): Promise<ReceivedWebhook[]> {
    return eventually(
      `${count} webhook requests for ${callId} (got ${this.forCall(callId).length})`,
      () => {
        const got = this.forCall(callId);
        return Promise.resolve(got.length >= count ? got : undefined);
      },
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
