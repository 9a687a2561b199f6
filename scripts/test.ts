import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './stack/env';

/**
 * `npm test`: runs every suite with jest (the jest global setup starts the test
 * stack); extra arguments go to jest (`npm test -- tests/api`). Writes jest's JSON
 * results to .local/test-results.json and prints the closing summary line.
 */
function main(): number {
  const results = join(REPO_ROOT, '.local', 'test-results.json');
  mkdirSync(join(REPO_ROOT, '.local'), { recursive: true });
  rmSync(results, { force: true });
  const jest = join(REPO_ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
  const run = spawnSync(
    process.execPath,
    // --forceExit: once every suite has run and the stack is torn down, a handle a failed test
    // left open (a socket, a timer) must not keep the run from ending.
    [jest, '--runInBand', '--forceExit', '--json', '--outputFile', results, ...process.argv.slice(2)],
    {
      cwd: REPO_ROOT,
      stdio: 'inherit',
      env: { ...process.env, FORCE_COLOR: process.env['CI'] ? '0' : process.env['FORCE_COLOR'] },
    },
  );
  spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'jest-summary.js'), results], { stdio: 'inherit' });
  return run.status ?? 1;
}

process.exitCode = main();
