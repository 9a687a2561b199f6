import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, createUser, type CreatedUser } from '../support/api';
import { AiPeer, type AiConnection } from '../support/ai-peer';
import { Baresip, missingCommand, writeWav } from '../support/baresip';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { SCENARIOS } from '../support/sipp-scenarios';
import {
  freeMediaPort,
  freeUdpPort,
  startSipp,
  tracedMessages,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { testStack } from '../support/stack';

const missing = missingCommand('baresip');

/** `seconds` of a sine at `hz`, 8 kHz: the phone's microphone. */
function tone(hz: number, seconds: number): { samples: Int16Array; rate: number } {
  const samples = new Int16Array(8000 * seconds).map((_, i) =>
    Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000)),
  );
  return { samples, rate: 8000 };
}

async function aiNumber(peer: AiPeer, dialect = 'olib'): Promise<string> {
  const number = `+1555774${String(Date.now() % 10000).padStart(4, '0')}`;
  const created = await api('POST', '/api/numbers/', {
    role: 'operator',
    body: { number, route_type: 'ai', ai_dialect: dialect, ai_agent_url: `${peer.url}/${dialect}` },
  });
  expect(created.status).toBe(201);
  return number;
}

async function waitRegistered(user: CreatedUser, phone: Baresip): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stats = await api<{ registrations: unknown[] | null }>('GET', `/api/sip-users/${user.id}/stats`, {
      role: 'admin',
    });
    if ((stats.body.registrations?.length ?? 0) > 0) return;
    if (Date.now() > deadline) throw new Error(`baresip did not register within 10 s:\n${phone.log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A user registered at a SIPp UAS that answers one call (A-law, echoing RTP) and waits for the BYE. */
async function registeredUas(user: CreatedUser): Promise<RunningSipp> {
  const port = await freeUdpPort();
  expectSippSuccess(
    await register(user.username, user.password, { first: 401, final: 200, contactPort: port }),
    'target registers',
  );
  return startSipp({
    scenario: `${SCENARIOS}/uas-answer.xml`,
    remote: proxy(),
    serverMode: true,
    localPort: port,
    rtpEcho: true,
    mediaPort: await freeMediaPort(),
    timeoutSeconds: 40,
  });
}

function trace(sipp: RunningSipp): SippRun {
  let messages = '';
  try {
    messages = readFileSync(sipp.messagesPath, 'utf8');
  } catch {
    messages = '';
  }
  return { messages } as SippRun;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface CallView {
  state: string;
  ended_by: string | null;
  end_reason: string | null;
  events: Array<{ at: string; type: string; data: Record<string, unknown> }>;
}

async function callView(callId: string): Promise<CallView> {
  const r = await api<CallView>('GET', `/api/calls/${callId}`, { role: 'admin' });
  expect(r.status).toBe(200);
  return r.body;
}

describe('transfers of AI calls (issue 14)', () => {
  let peer: AiPeer;
  beforeAll(async () => {
    peer = await AiPeer.start();
  });
  afterAll(async () => {
    await peer.close();
  });

  const blind = missing ? test.skip : test;
  blind(
    'blind: the AI transfers a baresip caller to a registered user; baresip gets the REFER, calls the user, NOTIFY 200 reported and the AI call ends by transfer',
    async () => {
      const stack = testStack();
      const caller = await createUser();
      const target = await createUser();
      const number = await aiNumber(peer);
      const uas = await registeredUas(target);
      const dir = mkdtempSync(join(tmpdir(), 'sipai-xfer-'));
      let phone: Baresip | undefined;
      try {
        const source = join(dir, 'tone.wav');
        writeWav(source, tone(440, 30));
        phone = await Baresip.start({
          dir,
          username: caller.username,
          password: caller.password,
          proxy: proxy(stack),
          domain: stack.config.sip.domain,
          source,
        });
        await waitRegistered(caller, phone);
        const index = peer.connections.length;
        expect(await phone.command('dial', number.slice(1))).toMatchObject({ ok: true });
        await phone.waitFor((e) => e.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
        const ai: AiConnection = await peer.connection(index);
        await ai.waitFor('auth', (c) => c.of('auth').length === 1);
        const callId = (ai.of('auth')[0] as { auth: { call_id: string } }).auth.call_id;

        ai.send({ type: 'transfer', data: { target: target.username, mode: 'blind' } });

        // The target's phone rings with a call from the caller (the transferee places it).
        const invite = await until('the INVITE at the target', () =>
          tracedMessages(trace(uas)).find((m) => m.direction === 'received' && m.text.startsWith('INVITE ')),
        );
        expect(invite.text).toMatch(new RegExp(`^From:.*sip:${caller.username}@`, 'mi'));
        // The AI call ends once the NOTIFY reports 200.
        const ended = await until('the call to end', async () => {
          const v = await callView(callId);
          return v.state === 'ended' ? v : undefined;
        });
        expect(ended.ended_by).toBe('transfer');
        const transfers = ended.events.filter((e) => e.type.startsWith('transfer_'));
        expect(transfers.map((e) => e.type)).toEqual(['transfer_requested', 'transfer_accepted', 'transfer_succeeded']);
        expect(transfers[0]!.data).toMatchObject({
          mode: 'blind',
          target: `sip:${target.username}@${stack.config.sip.domain}`,
          by: 'ai',
        });
        expect(transfers[1]!.data).toMatchObject({ refer_status: 202 });
        expect(transfers[2]!.data).toMatchObject({ sip_status: 200 });
        await ai.waitFor('the stream to close', (c) => c.closed);
        // baresip: the first call closed, the transferred one is up.
        await phone.waitFor((e) => e.type === 'CALL_CLOSED', 5_000, 'the AI call closed');
        expect(phone.events.filter((e) => e.type === 'CALL_ESTABLISHED')).toHaveLength(2);
        await phone.command('hangup');
        const uasRun = await uas.done;
        expectSippSuccess(uasRun, 'the target answered the transferred call and got its BYE');
      } finally {
        uas.kill();
        await phone?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
