import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { STACK_FILE } from '../tests/support/stack';
import { LocalStack } from './stack/supervisor';

/**
 * Starts the test stack in the foreground and leaves it running, so suites can be
 * re-run quickly with `TEST_STACK=running npx jest tests/sip`. Ctrl-C stops it.
 */
async function main(): Promise<void> {
  const stack = new LocalStack({
    instance: 'test',
    freshDatabase: true,
    restartCrashed: true,
    say: (l) => console.log(`[test-stack] ${l}`),
  });
  const stop = (): void => void stack.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await stack.start();
  mkdirSync(dirname(STACK_FILE), { recursive: true });
  writeFileSync(STACK_FILE, JSON.stringify(stack.env), { mode: 0o600 });
  console.log('[test-stack] running; TEST_STACK=running npx jest <suites> uses it. Ctrl-C stops it.');
}

void main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
