import { DEMO_NUMBER, LocalStack } from './stack/supervisor';

/** `npm start`: the whole stack in the foreground; Ctrl-C or SIGTERM stops all of it. */
async function main(): Promise<void> {
  const started = Date.now();
  const say = (line: string): void => console.log(`[stack] ${line}`);
  const stack = new LocalStack({ instance: 'dev', say, restartCrashed: true });
  let exiting = false;
  const shutdown = (code: number): void => {
    if (exiting) return;
    exiting = true;
    say('stopping ...');
    void stack.stop().then(() => {
      say('stopped');
      process.exit(code);
    });
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  stack.onCrash((child) => {
    console.error(`[stack] ${child.spec.name} exited unexpectedly; last lines of ${child.logPath}:\n${child.tail(10)}`);
  });

  say(`starting the '${stack.config.instance}' stack (media relay: ${stack.config.relay.kind})`);
  try {
    await stack.start();
  } catch (err) {
    console.error(`[stack] start failed: ${(err as Error).message}`);
    await stack.stop();
    process.exit(1);
  }
  const e = stack.endpoints;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`
Ready in ${seconds} s. Listening on:
  SIP           ${e.sip}
  SIP TLS       ${e.sipTls}
  REST API      ${e.api}   (health: ${e.api}/health, OpenAPI: ${e.api}/api/openapi.json)
  Metrics       ${e.api}/metrics
  Kamailio RPC  ${e.kamailioRpc}
  evapi         ${e.evapi}
  Media relay   ${e.relay}
  AI gateway    ${e.gateway}
  SMS endpoint  sip:${stack.config.sms.sipAddress}:${stack.config.sms.sipPort} (UDP and TCP; Kamailio sends it every MESSAGE for your numbers)
  AI platform   ${e.ai}
  Database      ${e.database}
  Logs          ${e.logs}

Talk to the AI: register a softphone as any SIP user (create one with the API) and dial
  ${DEMO_NUMBER.slice(1)}  (or ${DEMO_NUMBER})

Admin token:    npm run token -- --role admin
Operator token: npm run token -- --role operator
Press Ctrl-C to stop.`);
}

void main();
