import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_SCHEMA } from '../../services/common/src/config';
import { REPO_ROOT } from '../stack/env';

/**
 * docker-compose.yml, checked by its structure (no YAML parser among the dependencies):
 * the images it runs are the ones build.sh tags, and every variable it sets is one a
 * service reads (docs/configuration.md) or one of the postgres/rtpengine images' own.
 */
const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGE_OWN = new Set(['POSTGRES_PASSWORD', 'POSTGRES_LISTEN_ADDRESSES', 'POSTGRES_USER', 'POSTGRES_DB', 'PGPORT']);

describe('docker-compose.yml', () => {
  test('runs every image build.sh builds, at the package version, and nothing else', () => {
    const images = [...compose.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]);
    const built = readdirSync(join(REPO_ROOT, 'deploy', 'images'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `sip-ai-bridge/${d.name}:${version}`);
    expect(new Set(images)).toEqual(new Set(built));
  });

  test('sets only variables the services or images read', () => {
    const keys = [...compose.matchAll(/^\s+([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1] as string);
    expect(keys.length).toBeGreaterThan(10);
    const unknown = keys.filter((k) => !(k in ENV_SCHEMA.properties) && !IMAGE_OWN.has(k));
    expect(unknown).toEqual([]);
  });

  test('every required variable is set for the services', () => {
    for (const name of ENV_SCHEMA.required) expect(compose).toMatch(new RegExp(`^\\s+${name}: `, 'm'));
  });

  test('every service runs hardened on the host network (the control ports are loopback-only)', () => {
    const services = compose.split(/^services:$/m)[1]?.split(/^volumes:$/m)[0] ?? '';
    const names = [...services.matchAll(/^ {2}([a-z-]+):$/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual(
      ['control-plane', 'demo-agent', 'kamailio', 'media-gateway', 'migrate', 'postgres', 'rtpengine'].sort(),
    );
    expect(services.match(/<<: \*hardened/g)?.length).toBe(names.length);
    expect(compose).toMatch(
      /x-hardened: &hardened\n {2}network_mode: host\n {2}read_only: true\n {2}cap_drop: \[ALL\]/,
    );
  });
});
