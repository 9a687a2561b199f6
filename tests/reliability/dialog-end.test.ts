import { Client } from 'pg';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { requestsReceived, responsesSent, waitForAnswer } from '../../harness/sipp';
import { api, createUser } from '../support/api';
import { startCall, waitFor, type CallUnderTest } from '../support/calls';
import { testStack } from '../support/stack';

interface Dialog {
  dialog_id: string;
  call_id: string;
  state: string;
}

const CALLS = 20;
const AT_ONCE = 5;

/**
 * DELETE /api/dialogs/{id}, many times and several at once: Kamailio's `dlg.end_dlg`
 * alone BYEs the caller, then the callee, and when the caller's 200 is taken in
 * between the callee's BYE is refused ("terminating non-confirmed dialogs not
 * supported"). The control-plane sends the callee's BYE first, so every callee gets one.
 */
describe('operators end many proxied calls', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  beforeAll(() => db.connect());
  afterAll(() => db.end());

  test(`${CALLS} calls between users, ${AT_ONCE} ended at a time → each caller and each callee got a BYE and answered it, each CDR written, each slot freed`, async () => {
    const stack = testStack();
    const rpc = kamailioRpcFromConfig(stack.config);
    const results: Array<{ callee: number; caller: number }> = [];
    for (let batch = 0; batch < CALLS / AT_ONCE; batch++) {
      const calls: Array<{ call: CallUnderTest; caller: string }> = [];
      try {
        for (let i = 0; i < AT_ONCE; i++) {
          const [caller, callee] = [await createUser(), await createUser()];
          calls.push({ call: await startCall(stack, caller, callee), caller: caller.username });
        }
        await Promise.all(calls.map(({ call }) => waitForAnswer(call.uac)));
        const listed = await waitFor('every dialog confirmed', async () => {
          const items = (await api<{ items: Dialog[] }>('GET', '/api/dialogs', { role: 'operator' })).body.items;
          const mine = calls.map(({ call }) => items.find((d) => d.call_id === call.callId));
          return mine.every((d) => d?.state === 'confirmed') ? (mine as Dialog[]) : undefined;
        });
        const ended = await Promise.all(
          listed.map((d) => api('DELETE', `/api/dialogs/${d.dialog_id}`, { role: 'operator' })),
        );
        expect(ended.map((r) => r.status)).toEqual(calls.map(() => 200));
        for (const { call, caller } of calls) {
          const [uac, uas] = await Promise.all([call.uac.done, call.uas.done]);
          // The callee may also see dlg.end_dlg's own BYE after ours: it answers one with 200.
          results.push({ caller: responsesSent(uac, 200, 'BYE'), callee: responsesSent(uas, 200, 'BYE') });
          expect([call.callId, requestsReceived(uac, 'BYE'), requestsReceived(uas, 'BYE') >= 1]).toEqual([
            call.callId,
            1,
            true,
          ]);
          const cdr = await waitFor('the CDR', async () => {
            const r = await db.query<{ end_reason: string }>('SELECT end_reason FROM acc_cdrs WHERE callid = $1', [
              call.callId,
            ]);
            return r.rows[0];
          });
          expect(cdr).toEqual({ end_reason: 'no_bye' });
          await waitFor(`${caller}'s call slot`, async () =>
            (await rpc.call('dlg.profile_get_size', 'caller', caller)) === 0 ? true : undefined,
          );
        }
      } finally {
        for (const { call } of calls) {
          call.uac.kill();
          call.uas.kill();
        }
      }
    }
    console.log(
      `[dialog-end] ${results.length} calls ended through the API: callers answered ${results.filter((r) => r.caller === 1).length} BYEs, callees ${results.filter((r) => r.callee === 1).length}`,
    );
    expect(results).toEqual(Array.from({ length: CALLS }, () => ({ caller: 1, callee: 1 })));
  }, 240_000);
});
