import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../services/common/src/config';
import { REPO_ROOT } from '../../scripts/stack/env';

/**
 * What the test suites know about the stack the global setup started: the resolved
 * environment (written by tests/support/global-setup.ts) and the typed config.
 */
export interface TestStack {
  readonly env: Readonly<Record<string, string>>;
  readonly config: Config;
  readonly apiUrl: string;
  readonly sipHost: string;
  readonly sipPort: number;
}

/** Where the global setup leaves the stack's environment (TEST_STACK_FILE points elsewhere, e.g. at a second stack). */
export const STACK_FILE = process.env['TEST_STACK_FILE'] ?? join(REPO_ROOT, '.local', 'test', 'stack.json');

let cached: TestStack | undefined;

export function testStack(): TestStack {
  if (cached) return cached;
  cached = stackView(JSON.parse(readFileSync(STACK_FILE, 'utf8')) as Record<string, string>);
  return cached;
}

/** What a suite needs to know of a stack, from the environment it runs with. */
export function stackView(env: Record<string, string>): TestStack {
  const config = loadConfig(env, REPO_ROOT);
  return {
    env,
    config,
    apiUrl: `http://${config.api.host}:${config.api.port}`,
    sipHost: config.sip.listenAddress,
    sipPort: config.sip.port,
  };
}
