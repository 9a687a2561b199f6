import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import type { SipMessage } from '../message/message';
import { parseMessage } from '../message/parser';
import { serializeMessage } from '../message/serializer';
import { stampReceived } from './routing';
import type { MessageSource, SipTransport, TransportTarget } from './transport';

type Events = { message: [SipMessage, MessageSource]; sent: [SipMessage, TransportTarget] };

/** One message handed to the transport, as the wire would carry it. */
export interface SentMessage {
  readonly msg: SipMessage;
  readonly target: TransportTarget;
}

/**
 * An in-memory transport: what is sent is recorded (serialized and parsed again, so
 * it is exactly what a peer would read) and what a test injects is delivered as the
 * network transport would deliver it. For the transaction, dialog and UA tests.
 */
export class MemoryTransport extends EventEmitter<Events> implements SipTransport {
  readonly sent: SentMessage[] = [];
  /** When set, every send fails with this error. */
  failure: SipError | undefined;
  private closed = false;

  send(msg: SipMessage, target: TransportTarget, onError?: (err: SipError) => void): void {
    if (this.closed) {
      onError?.(new SipError('ERR_SIP_TRANSPORT', 'transport closed'));
      return;
    }
    if (this.failure) {
      const err = this.failure;
      void Promise.resolve().then(() => onError?.(err));
      return;
    }
    const copy = parseMessage(serializeMessage(msg));
    this.sent.push({ msg: copy, target });
    this.emit('sent', copy, target);
  }

  /** Delivers `msg` (a message or its wire text) as if it came from `source`. */
  receive(msg: SipMessage | string | Buffer, source: MessageSource): void {
    const parsed =
      typeof msg === 'string' || Buffer.isBuffer(msg)
        ? parseMessage(Buffer.from(msg))
        : parseMessage(serializeMessage(msg));
    if (parsed.type === 'request') stampReceived(parsed, source);
    this.emit('message', parsed, source);
  }

  /** Messages sent so far that satisfy `predicate`, oldest first. */
  find(predicate: (msg: SipMessage) => boolean): SipMessage[] {
    return this.sent.filter((s) => predicate(s.msg)).map((s) => s.msg);
  }

  /** Status codes of the responses sent, in order. */
  statuses(): number[] {
    return this.sent.flatMap((s) => (s.msg.type === 'response' ? [s.msg.status] : []));
  }

  /** Methods of the requests sent, in order. */
  methods(): string[] {
    return this.sent.flatMap((s) => (s.msg.type === 'request' ? [s.msg.method] : []));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
