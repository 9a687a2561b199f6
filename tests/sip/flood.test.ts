import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { createUser } from '../support/api';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { runSipp } from '../../harness/sipp';
import { SCENARIOS } from '../support/sipp-scenarios';
import { testStack } from '../support/stack';

const ATTACKER = '127.0.0.9';

function options(localIp: string, calls: number, rate: number) {
  return runSipp({
    scenario: `${SCENARIOS}/options.xml`,
    remote: proxy(),
    localIp,
    keys: { domain: testStack().config.sip.domain },
    calls,
    rate,
    limit: calls,
    timeoutSeconds: 10,
  });
}

describe('flood protection (pike + temporary IP ban)', () => {
  const { config } = testStack();
  const rpc = kamailioRpcFromConfig(config);

  afterAll(async () => {
    await rpc.call('htable.delete', 'ipban', ATTACKER).catch(() => undefined);
  });

  test(`a source flooding requests (${ATTACKER}) is banned; other sources keep working`, async () => {
    expectSippSuccess(await options(ATTACKER, 1, 1), 'a single OPTIONS before the flood is answered');

    // Three times the allowed density within one sampling window.
    const flood = config.sip.flood.requests * 3;
    const run = await options(ATTACKER, flood, flood);
    expect(run.code).not.toBe(0);

    const banned = await rpc.call<{ item: { value: string } }>('htable.get', 'ipban', ATTACKER);
    expect(banned.item.value).toMatch(/^flood:\d+$/);

    const afterwards = await options(ATTACKER, 1, 1);
    expect(afterwards.code).not.toBe(0);
    expect(afterwards.errors).toMatch(/timeout|timed out/i);

    const u = await createUser();
    expectSippSuccess(
      await register(u.username, u.password, { first: 401, final: 200 }),
      'a user on another address registers',
    );

    const metrics = await (await fetch(`${testStack().apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/flood/);
  });
});
