import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../services/common/src/config';
import { resolveStackEnv, REPO_ROOT, type Instance } from './stack/env';
import { renderKamailioConfig } from './stack/kamailio';

/** Prints (or writes with --out) the rendered kamailio.cfg for a local stack: `--instance dev|test`. */
function main(): void {
  const args = process.argv.slice(2);
  const instance = (args[args.indexOf('--instance') + 1] ?? 'dev') as Instance;
  const { env } = resolveStackEnv(args.includes('--instance') ? instance : 'dev');
  const config = loadConfig(env, REPO_ROOT);
  const text = renderKamailioConfig(config);
  const outIndex = args.indexOf('--out');
  if (outIndex >= 0 && args[outIndex + 1]) {
    const out = args[outIndex + 1] as string;
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, text, { mode: 0o600 });
  } else {
    process.stdout.write(text);
  }
}

main();
