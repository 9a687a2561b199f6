import { closeSync, openSync, readSync } from 'node:fs';
import { tracedMessages, type SippRun } from '../../harness/sipp';

/** What a bench call's SIP shows so far. */
export interface TracedCall {
  readonly callId: string;
  /** The caller's media port its INVITE offered. */
  peerPort?: number;
  /** The relay's address and port from the 200 OK to the INVITE. */
  relay?: { address: string; port: number };
  /** A final failure response to the INVITE (the 407 challenge does not count). */
  failedWith?: number;
  /** SIPp sent its BYE (the hold is over). */
  hungUp?: boolean;
  /** The far end sent a BYE: the call was dropped under us. */
  droppedByPeer?: boolean;
}

export interface TraceEvents {
  answered(call: TracedCall): void;
  ended(call: TracedCall): void;
}

// SIPp separates traced messages with a line of dashes and a timestamp.
const SEPARATOR = /^-{20,}[^\n]*\n/gm;

const header = (text: string, long: string, compact: string): string | undefined =>
  new RegExp(`^(?:${long}|${compact})\\s*:\\s*(.+?)\\s*$`, 'im').exec(text)?.[1];

/**
 * Follows a running SIPp's message trace (-trace_msg) from where it last stopped, so a
 * few hundred calls are mapped as they are set up: Call-ID → the caller port its
 * INVITE offered → the relay port its 200 OK answered. Only whole messages are read:
 * the text after the last separator waits for the next poll.
 */
export class SippTraceFollower {
  readonly calls = new Map<string, TracedCall>();
  private offset = 0;
  private pending = '';
  private timer: NodeJS.Timeout | null = null;
  /** One read buffer for every poll: a fresh megabyte five times a second is garbage the bench's own callers would pay for. */
  private readonly chunk = Buffer.allocUnsafe(1 << 20);

  constructor(
    private readonly path: string,
    private readonly events: TraceEvents,
  ) {}

  start(everyMs = 200): void {
    this.timer = setInterval(() => this.poll(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.poll();
  }

  poll(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return; // SIPp has not written its first message yet
    }
    try {
      const chunk = this.chunk;
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.pending += chunk.toString('latin1', 0, n);
      }
    } finally {
      closeSync(fd);
    }
    let last = -1;
    for (const m of this.pending.matchAll(SEPARATOR)) last = m.index;
    if (last <= 0) return;
    const complete = this.pending.slice(0, last);
    this.pending = this.pending.slice(last);
    for (const message of tracedMessages({ messages: complete } as SippRun))
      this.onMessage(message.direction, message.text);
  }

  private call(callId: string): TracedCall {
    let call = this.calls.get(callId);
    if (!call) {
      call = { callId };
      this.calls.set(callId, call);
    }
    return call;
  }

  private onMessage(direction: 'sent' | 'received', text: string): void {
    const callId = header(text, 'Call-ID', 'i');
    if (!callId) return;
    const cseq = header(text, 'CSeq', 'CSeq') ?? '';
    const call = this.call(callId);
    if (direction === 'sent' && text.startsWith('INVITE ')) {
      const port = /^m=audio (\d+)/m.exec(text)?.[1];
      if (port) call.peerPort = Number(port);
    } else if (direction === 'sent' && text.startsWith('BYE ')) {
      if (!call.hungUp) {
        call.hungUp = true;
        this.events.ended(call);
      }
    } else if (direction === 'received' && text.startsWith('BYE ')) {
      if (!call.droppedByPeer) {
        call.droppedByPeer = true;
        this.events.ended(call);
      }
    } else if (direction === 'received' && text.startsWith('SIP/2.0 ') && /\bINVITE$/.test(cseq)) {
      const status = Number(text.slice(8, 11));
      if (status === 200 && !call.relay) {
        const address = /^c=IN IP4 ([0-9.]+)/m.exec(text)?.[1];
        const port = /^m=audio (\d+)/m.exec(text)?.[1];
        if (address && port) {
          call.relay = { address, port: Number(port) };
          this.events.answered(call);
        }
      } else if (status >= 300 && status !== 407 && call.failedWith === undefined) {
        call.failedWith = status;
      }
    }
  }
}
