import { randomUUID } from 'node:crypto';
import { createMediaRelay } from '../../services/common/src/media-relay';
import type { CallStats } from '../../services/common/src/media-relay/relay';
import type { CreatedUser } from './api';
import { expectSippSuccess, proxy, register } from './sip';
import { freeMediaPort, freeUdpPort, startSipp, type RunningSipp } from '../../harness/sipp';
import { SCENARIOS } from './sipp-scenarios';
import type { TestStack } from './stack';

export interface CallUnderTest {
  readonly callId: string;
  readonly uac: RunningSipp;
  readonly uas: RunningSipp;
  readonly uacMediaPort: number;
  readonly uasMediaPort: number;
}

/**
 * Registers `callee` with its contact at a SIPp UAS (answers, echoes RTP) and starts
 * `caller`'s authenticated call to it: about 7 s of G.711 A-law from g711a.pcap, then BYE.
 */
export async function startCall(stack: TestStack, caller: CreatedUser, callee: CreatedUser): Promise<CallUnderTest> {
  const uasPort = await freeUdpPort();
  expectSippSuccess(
    await register(callee.username, callee.password, { first: 401, final: 200, contactPort: uasPort }, { stack }),
    'callee registers',
  );
  const uasMediaPort = await freeMediaPort();
  const uas = await startSipp({
    scenario: `${SCENARIOS}/uas-answer.xml`,
    remote: proxy(stack),
    serverMode: true,
    localPort: uasPort,
    rtpEcho: true,
    mediaPort: uasMediaPort,
    timeoutSeconds: 25,
  });
  const callId = `call-${randomUUID()}`;
  const uacMediaPort = await freeMediaPort();
  const uac = await startSipp({
    scenario: `${SCENARIOS}/uac-call.xml`,
    remote: proxy(stack),
    keys: { user: caller.username, callee: callee.username, domain: stack.config.sip.domain },
    auth: { user: caller.username, password: caller.password },
    mediaPort: uacMediaPort,
    timeoutSeconds: 25,
    extraArgs: ['-cid_str', `${callId}-%u`],
  });
  return { callId: `${callId}-1`, uac, uas, uacMediaPort, uasMediaPort };
}

/** m=audio port and c= address of the first SDP that follows `startLine` in a SIPp trace. */
export function sdpAfter(trace: string, startLine: RegExp): { address: string; port: number } {
  const at = trace.search(startLine);
  if (at < 0) throw new Error(`no ${startLine} in the SIPp trace`);
  const rest = trace.slice(at);
  const c = /c=IN IP4 ([0-9.]+)/.exec(rest);
  const m = /m=audio (\d+)/.exec(rest);
  if (!c?.[1] || !m?.[1]) throw new Error(`no SDP after ${startLine}`);
  return { address: c[1], port: Number(m[1]) };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the relay reports at least `packets` RTP packets from each of the call's two parties. */
export async function relayCarries(stack: TestStack, call: CallUnderTest, packets = 50): Promise<CallStats> {
  const relay = createMediaRelay(stack.config.relay);
  try {
    return await waitFor('RTP through the relay in both directions', async () => {
      const s = await relay.query({ callId: call.callId, fromTag: `${call.uac.pid}SIPpTag001` }).catch(() => undefined);
      return s && s.legs.length === 2 && s.legs.every((l) => l.packets >= packets) ? s : undefined;
    });
  } finally {
    await relay.close();
  }
}

/** After the call: both parties saw SDP pointing at the relay, never at each other. */
export async function expectMediaAnchored(stack: TestStack, call: CallUnderTest): Promise<void> {
  const [uac, uas] = await Promise.all([call.uac.done, call.uas.done]);
  expectSippSuccess(uac, 'caller');
  expectSippSuccess(uas, 'callee');
  const { relay } = stack.config;
  const inRange = (port: number): boolean => port >= relay.rtpPortMin && port <= relay.rtpPortMax;
  const offerSeenByCallee = sdpAfter(uas.messages, /INVITE sip:/);
  const answerSeenByCaller = sdpAfter(uac.messages, /SIP\/2\.0 200 OK[\s\S]*?CSeq: 2 INVITE/);
  for (const [seen, peerPort] of [
    [offerSeenByCallee, call.uacMediaPort],
    [answerSeenByCaller, call.uasMediaPort],
  ] as const) {
    if (seen.address !== relay.address || !inRange(seen.port) || seen.port === peerPort) {
      throw new Error(
        `SDP points at ${seen.address}:${seen.port}, not at the relay (${relay.address}:${relay.rtpPortMin}-${relay.rtpPortMax})`,
      );
    }
  }
}
