import { registerScenario, runSipp, type RegisterScenario, type SippRun } from '../../harness/sipp';
import { testStack, type TestStack } from './stack';

/** The SIP address of the test stack's Kamailio. */
export function proxy(stack: TestStack = testStack()): string {
  const { sipHost, sipPort } = stack;
  return `${sipHost}:${sipPort}`;
}

/**
 * One REGISTER exchange with SIPp expecting exactly `expect`; resolves to SIPp's
 * run so a failing test can show the unexpected message.
 */
export async function register(
  user: string,
  password: string,
  expect: RegisterScenario,
  options: { localIp?: string; localPort?: number; stack?: TestStack } = {},
): Promise<SippRun> {
  const stack = options.stack ?? testStack();
  return runSipp({
    scenario: registerScenario(expect),
    remote: proxy(stack),
    localIp: options.localIp,
    localPort: options.localPort,
    keys: { user, domain: stack.config.sip.domain },
    auth: { user, password },
    timeoutSeconds: 8,
  });
}

/** Fails with SIPp's own account of what went wrong. */
export function expectSippSuccess(run: SippRun, what: string): void {
  if (run.code !== 0) {
    throw new Error(`${what}: SIPp exit code ${run.code}\n${run.errors || run.stderr || run.stdout.slice(-2000)}`);
  }
}
