import { spawnSync } from 'node:child_process';
import { loadConfig } from '../services/common/src/config';
import { REPO_ROOT, resolveStackEnv, type Instance } from './stack/env';

const USAGE = `usage: npm run kamcmd -- [--instance dev|test] <command> [args...]

Runs kamcmd against a local stack's Kamailio control socket (KAMAILIO_CTL_SOCKET,
default unix:<STATE_DIR>/kamailio/kamailio_ctl), so no -s is needed:
  npm run kamcmd -- ul.dump                 registrations
  npm run kamcmd -- dlg.list                calls in progress
  npm run kamcmd -- dispatcher.list         gateways, trunks, SMS endpoints and their state
  npm run kamcmd -- stats.fetch all         every statistic
--instance test reaches the test stack (TEST_STACK_SLOT picks its slot). docs/operations.md
lists the everyday commands.`;

const INSTANCES: readonly Instance[] = ['dev', 'test', 'bench'];

/** The kamcmd arguments for a local stack: `-s <its ctl socket>` and the command. */
export function kamcmdArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  let instance: Instance = 'dev';
  let rest = [...argv];
  if (rest[0] === '--instance') {
    const name = rest[1] as Instance | undefined;
    if (name === undefined || !INSTANCES.includes(name))
      throw new Error(`--instance must be one of ${INSTANCES.join(', ')}`);
    instance = name;
    rest = rest.slice(2);
  }
  const config = loadConfig(resolveStackEnv(instance, env).env, REPO_ROOT);
  return ['-s', config.kamailio.ctlSocket, ...rest];
}

function main(argv: string[]): number {
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let args: string[];
  try {
    args = kamcmdArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  // No command: kamcmd's interactive prompt on the stack's socket.
  const result = spawnSync('kamcmd', args, { stdio: 'inherit' });
  if (result.error) {
    process.stderr.write(`kamcmd: ${result.error.message} (Debian: apt-get install kamailio)\n`);
    return 127;
  }
  return result.status ?? 1;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
