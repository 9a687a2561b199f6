import { parseArgs } from 'node:util';
import { isRole, mintToken, ROLES } from '../services/common/src/auth/tokens';
import { resolveStackEnv } from './stack/env';

const USAGE = `usage: npm run token -- --role admin|operator [--ttl seconds]

Prints one bearer token for the local dev stack's API (secrets from .local/secrets.env).
  --role admin      signed with SIP_JWT_SECRET: every endpoint, including /api/sip-users/*
  --role operator   signed with JWT_SECRET_KEY: every endpoint except /api/sip-users/*
  --ttl seconds     lifetime (default 3600)`;

const DEFAULT_TTL_SECONDS = 3600;

/** `npm run token -- --role admin`: one JWT on stdout, nothing else. */
async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { role: { type: 'string' }, ttl: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const role = values.role;
  if (!isRole(role)) {
    const given = role === undefined ? 'no --role given' : `unknown role "${role}"`;
    process.stderr.write(`${given}: --role must be one of ${ROLES.join(', ')}\n${USAGE}\n`);
    return 2;
  }
  const ttl = values.ttl === undefined ? DEFAULT_TTL_SECONDS : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    process.stderr.write(`--ttl must be a positive whole number of seconds, not "${values.ttl}"\n`);
    return 2;
  }
  const { env } = resolveStackEnv('dev');
  const secret = role === 'admin' ? env['SIP_JWT_SECRET'] : env['JWT_SECRET_KEY'];
  if (!secret) {
    process.stderr.write(
      `no ${role === 'admin' ? 'SIP_JWT_SECRET' : 'JWT_SECRET_KEY'} in the environment or .local/secrets.env\n`,
    );
    return 1;
  }
  process.stdout.write(
    `${await mintToken({ role, secret, ttlSeconds: ttl, subject: `cli:${process.env['USER'] ?? 'local'}` })}\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
