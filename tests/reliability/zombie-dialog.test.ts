import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from 'pg';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { api, createUser, type CreatedUser } from '../support/api';
import { startCall, waitFor } from '../support/calls';
import { expectSippSuccess, proxy, register } from '../support/sip';
import {
  freeUdpPort,
  requestsReceived,
  responsesSent,
  runSipp,
  startSipp,
  uacInviteScenario,
  waitForAnswer,
} from '../../harness/sipp';
import { testStack } from '../support/stack';

interface Dialog {
  dialog_id: string;
  call_id: string;
  state: string;
  caller: string | null;
  end_reason: string | null;
  expires_at: string | null;
}

const dialogsOf = async (user: CreatedUser): Promise<Dialog[]> =>
  (await api<{ items: Dialog[] }>('GET', '/api/dialogs', { role: 'operator' })).body.items.filter(
    (d) => d.caller === user.username,
  );

/**
 * Polls until the user's calls no longer count against max_concurrent_calls (the
 * dialog profile route[CALL_LIMIT] reads); the seconds it took. The ended dialog may
 * linger a little longer in dlg.list while Kamailio's BYEs to the vanished parties time out.
 */
async function slotFreed(user: CreatedUser, withinMs: number): Promise<number> {
  const rpc = kamailioRpcFromConfig(testStack().config);
  const started = Date.now();
  await waitFor(
    `${user.username}'s call slot`,
    async () => ((await rpc.call('dlg.profile_get_size', 'caller', user.username)) === 0 ? true : undefined),
    withinMs,
  );
  return (Date.now() - started) / 1000;
}

/** The authenticated call scenario, except that its BYE is answered 404 (Kamailio has no route for it). */
function byeRefusedScenario(): string {
  const file = uacInviteScenario({ expect: 200, authenticate: true, holdMs: 500 });
  const text = readFileSync(file, 'utf8');
  const changed = text.replace(
    '<recv response="200" crlf="true"/>\n</scenario>',
    '<recv response="404"/>\n</scenario>',
  );
  if (changed === text) throw new Error('uacInviteScenario changed shape: no final 200 to replace');
  writeFileSync(file, changed);
  return file;
}

describe('dialogs whose parties vanished end within 2 minutes and free their call slots', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  beforeAll(() => db.connect());
  afterAll(() => db.end());

  const cdrReason = (callId: string) =>
    waitFor(
      'the CDR',
      async () =>
        (await db.query<{ end_reason: string }>('SELECT end_reason FROM acc_cdrs WHERE callid = $1', [callId])).rows[0],
      15_000,
    );

  test('a callee that drops Record-Route (no ACK through the proxy), and a call whose phones disappear (no answer to keepalives): both end, slots free, CDRs say why', async () => {
    const stack = testStack();

    // 1. No ACK through the proxy: SIPp's built-in UAS answers without Record-Route, so
    //    the caller's ACK and BYE reach Kamailio without a route set and go nowhere.
    const alice = await createUser({ max_concurrent_calls: 1 });
    const bob = await createUser();
    const uasPort = await freeUdpPort();
    expectSippSuccess(
      await register(bob.username, bob.password, { first: 401, final: 200, contactPort: uasPort }),
      'bob registers',
    );
    const uas = await startSipp({
      scenario: '',
      remote: proxy(stack),
      serverMode: true,
      localPort: uasPort,
      calls: 3,
      timeoutSeconds: 170,
      extraArgs: ['-sn', 'uas'],
    });
    const aliceCalls = (scenario: string) =>
      runSipp({
        scenario,
        remote: proxy(stack),
        keys: { user: alice.username, callee: bob.username, domain: stack.config.sip.domain },
        auth: { user: alice.username, password: alice.password },
        timeoutSeconds: 10,
      });

    // 2. Answered and ACKed through the proxy, then both phones vanish without a BYE.
    const carol = await createUser({ max_concurrent_calls: 1 });
    const dave = await createUser();

    try {
      expectSippSuccess(await aliceCalls(byeRefusedScenario()), "alice's call (ACK and BYE never pass the proxy)");
      const [zombie] = await dialogsOf(alice);
      console.log(
        `zombie dialog: expires in ${((Date.parse(zombie?.expires_at ?? '') - Date.now()) / 1000).toFixed(0)} s`,
      );
      expect(zombie?.state).toBe('answered_no_ack');
      expect(zombie?.end_reason).toBe('no_ack');
      expectSippSuccess(
        await aliceCalls(uacInviteScenario({ expect: 486, authenticate: true })),
        "the zombie holds alice's only slot",
      );

      const call = await startCall(stack, carol, dave);
      await waitForAnswer(call.uac);
      await waitFor("carol's dialog confirmed", async () =>
        (await dialogsOf(carol))[0]?.state === 'confirmed' ? true : undefined,
      );
      // The phones disappear: no BYE, nobody answers Kamailio's in-dialog OPTIONS.
      call.uac.kill();
      call.uas.kill();

      const [aliceFreed, carolFreed] = await Promise.all([
        slotFreed(alice, 120_000).then(
          (s) => (console.log(`no ACK through the proxy: slot free after ${s.toFixed(0)} s`), s),
        ),
        slotFreed(carol, 120_000).then(
          (s) => (console.log(`phones vanished (no answer to keepalives): slot free after ${s.toFixed(0)} s`), s),
        ),
      ]);
      expect(aliceFreed).toBeLessThan(120);
      expect(carolFreed).toBeLessThan(120);
      await waitFor(
        'the ended dialogs to leave the list',
        async () => ((await dialogsOf(alice)).length + (await dialogsOf(carol)).length === 0 ? true : undefined),
        60_000,
      );
      expect(await cdrReason(zombie!.call_id)).toEqual({ end_reason: 'no_ack' });
      expect(await cdrReason(call.callId)).toEqual({ end_reason: 'no_bye' });
      expectSippSuccess(await aliceCalls(byeRefusedScenario()), 'alice calls again: answered');
    } finally {
      uas.kill();
      await uas.done;
    }
  }, 200_000);

  test("an operator lists a live call's dialog and ends it through the API: both parties get a BYE, the CDR is written", async () => {
    const stack = testStack();
    const erin = await createUser();
    const frank = await createUser();
    const call = await startCall(stack, erin, frank);
    await waitForAnswer(call.uac);
    const [dialog] = await waitFor("erin's dialog", async () => {
      const d = await dialogsOf(erin);
      return d[0]?.state === 'confirmed' ? d : undefined;
    });
    const ended = await api('DELETE', `/api/dialogs/${dialog!.dialog_id}`, { role: 'operator' });
    expect(ended.status).toBe(200);
    const [uac, uas] = await Promise.all([call.uac.done, call.uas.done]);
    // The callee's BYE comes from the control-plane before dlg.end_dlg's (which may be refused,
    // or reach the callee after ours and find no dialog): each party answers one with 200.
    expect([responsesSent(uac, 200, 'BYE'), responsesSent(uas, 200, 'BYE')]).toEqual([1, 1]);
    expect(requestsReceived(uac, 'BYE')).toBe(1);
    expect((await dialogsOf(erin)).length).toBe(0);
    expect(await cdrReason(call.callId)).toEqual({ end_reason: 'no_bye' });
    const again = await api<{ error: { code: string } }>('DELETE', `/api/dialogs/${dialog!.dialog_id}`, {
      role: 'operator',
    });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('ERR_DIALOG_NOT_FOUND');
    expect(
      (await api<{ error: { code: string } }>('DELETE', '/api/dialogs/not-an-id', { role: 'operator' })).status,
    ).toBe(400);
  }, 60_000);
});
