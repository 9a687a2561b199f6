import { applyMigrations, waitForDatabase } from '../stack/postgres';

/**
 * The app image's `migrate` command (an init container before the control-plane):
 * waits for DATABASE_URL to accept connections, then applies db/migrations. Safe in
 * every replica at once: migrate() holds an advisory lock.
 */
async function main(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is not set');
  const waitMs = Number(process.env['MIGRATE_WAIT_MS'] ?? 60_000);
  await waitForDatabase(url, waitMs);
  const { applied } = await applyMigrations(url);
  process.stdout.write(
    applied.length > 0 ? `database: applied ${applied.join(', ')}\n` : 'database: schema up to date\n',
  );
}

main().catch((err: Error) => {
  process.stderr.write(`migrate: ${err.message}\n`);
  process.exit(1);
});
