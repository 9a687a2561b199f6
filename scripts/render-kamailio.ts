import { resolve } from 'node:path';
import { loadConfig } from '../services/common/src/config';
import { resolveStackEnv, REPO_ROOT, type Instance } from './stack/env';
import { renderKamailioConfig, writeKamailioConfig } from './stack/kamailio';

/**
 * Renders the Kamailio configuration of a local stack (`--instance dev|test`): with
 * `--out <dir>` writes kamailio.cfg, its route files and tls.cfg there (ready for
 * `kamailio -f <dir>/kamailio.cfg`), else prints them, each after a `#### <path>` line.
 */
function main(): void {
  const args = process.argv.slice(2);
  const instance = (args[args.indexOf('--instance') + 1] ?? 'dev') as Instance;
  const { env } = resolveStackEnv(args.includes('--instance') ? instance : 'dev');
  const config = loadConfig(env, REPO_ROOT);
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
  if (out) {
    process.stdout.write(`${writeKamailioConfig(config, resolve(out))}\n`);
  } else {
    for (const file of renderKamailioConfig(config)) process.stdout.write(`#### ${file.path}\n${file.content}`);
  }
}

main();
