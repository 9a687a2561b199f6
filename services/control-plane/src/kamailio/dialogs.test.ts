import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KamailioRpcError, type KamailioRpc } from '../../../common/src/kamailio/rpc';
import { KamailioDialogs } from './dialogs';

/** A JSON-RPC exchange captured from Kamailio 5.6.3 on the test stack (see fixtures/). */
interface Capture {
  method: string;
  params: Array<string | number>;
  reply: { result?: unknown; error?: { code: number; message: string } };
}

const capture = (name: string): Capture =>
  JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as Capture;

/** Answers each call with the capture of the same method and params, and records the calls in order. */
class ReplayRpc implements KamailioRpc {
  readonly calls: Array<[string, ...Array<string | number>]> = [];
  private readonly captures: Capture[];

  constructor(...captures: Capture[]) {
    this.captures = captures;
  }

  async call<T>(method: string, ...params: Array<string | number>): Promise<T> {
    this.calls.push([method, ...params]);
    const c =
      this.captures.find((x) => x.method === method && JSON.stringify(x.params) === JSON.stringify(params)) ??
      this.captures.find((x) => x.method === method && x.params.length === 0);
    if (!c) throw new Error(`no capture for ${method} ${JSON.stringify(params)}`);
    if (c.reply.error) throw new KamailioRpcError(method, c.reply.error.code, c.reply.error.message);
    return c.reply.result as T;
  }
}

const listed = capture('dlg-list-confirmed');
const id = (c: Capture): string => {
  const [d] = c.reply.result as Array<{ h_entry: number; h_id: number }>;
  return `${d!.h_entry}.${d!.h_id}`;
};

function dialogs(rpc: KamailioRpc): { dialogs: KamailioDialogs; warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  return { dialogs: new KamailioDialogs(rpc, { warn: (...a: unknown[]) => void warnings.push(a) }), warnings };
}

describe('ending a dialog', () => {
  test('a confirmed call → the callee’s BYE through bridge.t_uac_send first, then dlg.end_dlg (caller’s BYE, CDR)', async () => {
    const rpc = new ReplayRpc(listed, capture('bridge-t-uac-send'), capture('dlg-end-dlg'));
    const { dialogs: d, warnings } = dialogs(rpc);
    await expect(d.end(id(listed))).resolves.toBe(true);
    expect(rpc.calls.map(([m]) => m)).toEqual(['dlg.list', 'bridge.t_uac_send', 'dlg.end_dlg']);
    expect(rpc.calls[1]).toEqual(['bridge.t_uac_send', ...capture('bridge-t-uac-send').params]);
    expect(warnings).toEqual([]);
  });

  test('Kamailio refuses the BYE (a configuration without bridge.t_uac_send) → a warning, and dlg.end_dlg still ends it', async () => {
    const refused = { ...capture('bridge-t-uac-send'), reply: capture('bridge-t-uac-send-bad').reply };
    const rpc = new ReplayRpc(listed, refused, capture('dlg-end-dlg'));
    const { dialogs: d, warnings } = dialogs(rpc);
    await expect(d.end(id(listed))).resolves.toBe(true);
    expect(rpc.calls.map(([m]) => m)).toEqual(['dlg.list', 'bridge.t_uac_send', 'dlg.end_dlg']);
    expect(warnings).toEqual([
      [expect.stringMatching(/BYE not sent/), expect.objectContaining({ dialog_id: id(listed) })],
    ]);
  });

  test('a dialog already ended (state 5, still listed while BYEs finish) → not found, no BYE, no second dlg.end_dlg', async () => {
    const deleted = capture('dlg-list-deleted');
    const rpc = new ReplayRpc(deleted);
    await expect(dialogs(rpc).dialogs.end(id(deleted))).resolves.toBe(false);
    expect(rpc.calls.map(([m]) => m)).toEqual(['dlg.list']);
  });

  test('a dialog gone between dlg.list and dlg.end_dlg (404) → not found', async () => {
    const missing = { ...capture('dlg-end-dlg-missing'), params: capture('dlg-end-dlg').params };
    const rpc = new ReplayRpc(listed, capture('bridge-t-uac-send'), missing);
    await expect(dialogs(rpc).dialogs.end(id(listed))).resolves.toBe(false);
  });

  test('an id Kamailio never listed, or not an id → not found, nothing sent', async () => {
    const rpc = new ReplayRpc(listed);
    const { dialogs: d } = dialogs(rpc);
    await expect(d.end('1.2')).resolves.toBe(false);
    await expect(d.end('not-an-id')).resolves.toBe(false);
    expect(rpc.calls.map(([m]) => m)).toEqual(['dlg.list']);
  });
});
