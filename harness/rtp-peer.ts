import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseRtp, serializeRtp, type RtpPacket } from '../services/media-gateway/src/rtp/packet';
import { rtpFromPcap } from '../services/media-gateway/src/rtp/pcap';

export interface ReceivedPacket {
  readonly packet: RtpPacket;
  readonly atMs: number;
}

/**
 * The caller's media side in tests: a UDP socket that sends RTP at a steady 20 ms
 * pace and keeps everything it receives, with arrival times.
 */
export class RtpPeer {
  readonly received: ReceivedPacket[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('message', (msg) => {
      try {
        this.received.push({ packet: parseRtp(Buffer.from(msg)), atMs: performance.now() });
      } catch {
        // RTCP or junk: not counted
      }
    });
  }

  static async open(address = '127.0.0.1'): Promise<RtpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new RtpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Sends packets 20 ms apart (deadlines from the start, so no drift); resolves after the last. */
  async send(packets: readonly RtpPacket[], target: { address: string; port: number }): Promise<void> {
    const start = performance.now();
    for (let i = 0; i < packets.length; i++) {
      const due = start + i * 20;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.socket.send(serializeRtp(packets[i] as RtpPacket), target.port, target.address);
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** The RTP packets of a capture (e.g. SIPp's g711a.pcap), optionally of one payload type. */
export function pcapRtp(path: string, payloadType?: number): RtpPacket[] {
  return rtpFromPcap(readFileSync(path))
    .map((c) => c.packet)
    .filter((p) => payloadType === undefined || p.payloadType === payloadType);
}
