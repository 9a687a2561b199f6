import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LocalStack } from '../../scripts/stack/supervisor';
import { STACK_FILE } from './stack';

declare global {
  // Shared between jest's globalSetup and globalTeardown (same process).
  var __TEST_STACK__: LocalStack | undefined;
}

/** Starts the test stack (own ports, own empty database) once for all suites. */
export default async function globalSetup(): Promise<void> {
  // TEST_STACK=running: use a test stack already started (node dist/scripts/test-stack.js), for quick iterations.
  if (process.env['TEST_STACK'] === 'running') return;
  const say = (line: string): void => console.log(`[test-stack] ${line}`);
  const stack = new LocalStack({ instance: 'test', freshDatabase: true, restartCrashed: true, say });
  globalThis.__TEST_STACK__ = stack;
  say(`starting (media relay: ${stack.config.relay.kind}, logs in ${stack.endpoints.logs})`);
  const started = Date.now();
  await stack.start();
  mkdirSync(dirname(STACK_FILE), { recursive: true });
  writeFileSync(STACK_FILE, JSON.stringify(stack.env), { mode: 0o600 });
  say(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
