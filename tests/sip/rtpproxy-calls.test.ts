import { isRelayAvailable } from '../../scripts/stack/relay';
import { LocalStack } from '../../scripts/stack/supervisor';
import { createUser } from '../support/api';
import { expectMediaAnchored, relayCarries, startCall } from '../support/calls';
import { stackView, type TestStack } from '../support/stack';

// RTPProxy is not packaged in Debian bookworm: this suite needs an `rtpproxy` binary on PATH.
const available = isRelayAvailable('rtpproxy');
if (!available) {
  console.warn(
    'rtpproxy not on PATH: the MEDIA_RELAY=rtpproxy call test is skipped (RTPProxy is not packaged in Debian bookworm)',
  );
}

describe('MEDIA_RELAY=rtpproxy', () => {
  let local: LocalStack;
  let stack: TestStack;

  beforeAll(async () => {
    if (!available) return;
    // A second stack beside the main test stack: own ports, own database, RTPProxy as the relay.
    local = new LocalStack({
      instance: 'test',
      freshDatabase: true,
      overrides: {
        STACK_INSTANCE: 'test-rtpproxy',
        MEDIA_RELAY: 'rtpproxy',
        DB_NAME: 'sipai_test_rtpproxy',
        SIP_PROXY_PORT: '16060',
        SIP_TLS_PORT: '16061',
        API_PORT: '18081',
        KAMAILIO_RPC_PORT: '16081',
        KAMAILIO_EVAPI_PORT: '18449',
        RTPPROXY_CONTROL_PORT: '17723',
        RTP_PORT_MIN: '45000',
        RTP_PORT_MAX: '45999',
        GATEWAY_SIP_PORT: '16070',
        GATEWAY_HTTP_PORT: '18083',
        GATEWAY_RTP_PORT_MIN: '34000',
        GATEWAY_RTP_PORT_MAX: '34499',
        DEMO_AGENT_PORT: '18091',
        SMS_SIP_PORT: '16091',
      },
    });
    await local.start();
    stack = stackView(local.env);
  }, 90_000);

  afterAll(async () => {
    await local?.stop();
  });

  const title = 'a call between two users is anchored on RTPProxy and its RTP flows through it';
  (available ? test : test.skip)(available ? title : `${title} (needs an rtpproxy binary on PATH)`, async () => {
    const alice = await createUser({}, stack);
    const bob = await createUser({}, stack);
    const call = await startCall(stack, alice, bob);
    const stats = await relayCarries(stack, call);
    expect(stats.totals.packets).toBeGreaterThanOrEqual(100);
    await expectMediaAnchored(stack, call);
  });
});
