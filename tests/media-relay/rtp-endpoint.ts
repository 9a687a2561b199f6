import dgram from 'node:dgram';

/** The fields of a received RTP packet the relay tests look at (RFC 3550 §5.1). */
export interface ReceivedRtp {
  readonly payloadType: number;
  readonly sequence: number;
  readonly ssrc: number;
  readonly payload: Buffer;
  readonly from: { readonly address: string; readonly port: number };
}

/** 20 ms of G.711 at 8 kHz. */
export const G711_FRAME_BYTES = 160;

/**
 * One party of a test call: a UDP socket on a loopback address other than the
 * relay's, sending paced RTP from the port its SDP names (symmetric RTP, as
 * phones do) and recording what arrives.
 */
export class RtpEndpoint {
  readonly received: ReceivedRtp[] = [];
  private sequence = 0;
  private readonly ssrc = Math.floor(Math.random() * 0xffffffff);

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {
    socket.on('message', (msg, rinfo) => {
      // 12-byte fixed header, no CSRCs or extension in what the tests send.
      if (msg.length < 12 || msg[0]! >> 6 !== 2) return;
      this.received.push({
        payloadType: msg[1]! & 0x7f,
        sequence: msg.readUInt16BE(2),
        ssrc: msg.readUInt32BE(8),
        payload: msg.subarray(12),
        from: { address: rinfo.address, port: rinfo.port },
      });
    });
  }

  static open(address: string): Promise<RtpEndpoint> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, address, () => resolve(new RtpEndpoint(socket, address, socket.address().port)));
    });
  }

  /** Sends `count` packets of `payloadType`, 20 ms apart, with a G.711 frame of `fill`. */
  async sendRtp(
    to: { address: string; port: number },
    count: number,
    payloadType: number,
    fill: number,
  ): Promise<void> {
    for (let i = 0; i < count; i++) {
      const packet = Buffer.alloc(12 + G711_FRAME_BYTES, fill);
      packet[0] = 0x80; // V=2, P=0, X=0, CC=0
      packet[1] = payloadType & 0x7f; // M=0
      packet.writeUInt16BE(this.sequence & 0xffff, 2);
      packet.writeUInt32BE((this.sequence * G711_FRAME_BYTES) >>> 0, 4);
      packet.writeUInt32BE(this.ssrc >>> 0, 8);
      this.sequence += 1;
      await new Promise<void>((resolve, reject) =>
        this.socket.send(packet, to.port, to.address, (err) => (err ? reject(err) : resolve())),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits until at least `count` packets arrived (or the timeout), then returns them all. */
  async waitFor(count: number, timeoutMs = 3000): Promise<ReceivedRtp[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** The relay port and address an SDP tells its receiver to send to. */
export function mediaTarget(sdp: string): { address: string; port: number } {
  const port = /^m=audio (\d+) /m.exec(sdp)?.[1];
  const address = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  if (!port || !address) throw new Error(`no audio target in SDP:\n${sdp}`);
  return { address, port: Number(port) };
}

/** A SIPp-style audio SDP (tests/sipp/uac-call.xml) for `endpoint` offering `payloadTypes`. */
export function audioSdp(user: string, endpoint: RtpEndpoint, payloadTypes: readonly number[]): string {
  const names: Record<number, string> = { 0: 'PCMU/8000', 8: 'PCMA/8000', 101: 'telephone-event/8000' };
  const lines = [
    'v=0',
    `o=${user} 53655765 2353687637 IN IP4 ${endpoint.address}`,
    's=-',
    `c=IN IP4 ${endpoint.address}`,
    't=0 0',
    `m=audio ${endpoint.port} RTP/AVP ${payloadTypes.join(' ')}`,
    ...payloadTypes.map((pt) => `a=rtpmap:${pt} ${names[pt] ?? 'unknown/8000'}`),
    ...(payloadTypes.includes(101) ? ['a=fmtp:101 0-15'] : []),
    'a=ptime:20',
    '',
  ];
  return lines.join('\r\n');
}
