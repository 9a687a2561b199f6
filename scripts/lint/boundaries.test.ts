import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The boundary rules of eslint.config.mjs, run on deliberate violations. ESLint's
 * config is an ES module, so a child process loads it (jest's CommonJS runtime does
 * not run dynamic imports) and lints each fixture as if it sat at `path`.
 */
const REPO = join(__dirname, '..', '..');

interface Finding {
  readonly path: string;
  readonly rules: string[];
  readonly messages: string[];
  readonly boundariesInDefaultConfig: boolean;
}

const LINTER = `
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { readFileSync } from 'node:fs';
import config, { boundaries } from './eslint.config.mjs';
const cases = JSON.parse(process.argv[1]);
const eslint = new ESLint({
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...boundaries],
});
const inDefault = boundaries.every((b) => config.includes(b));
const out = [];
for (const c of cases) {
  const [result] = await eslint.lintText(readFileSync(c.fixture, 'utf8'), { filePath: c.path });
  out.push({ path: c.path, rules: result.messages.map((m) => m.ruleId), messages: result.messages.map((m) => m.message), boundariesInDefaultConfig: inDefault });
}
process.stdout.write(JSON.stringify(out));
`;

function lint(cases: { fixture: string; path: string }[]): Finding[] {
  const args = cases.map((c) => ({ fixture: join(__dirname, 'fixtures', c.fixture), path: join(REPO, c.path) }));
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', LINTER, JSON.stringify(args)], {
    cwd: REPO,
    encoding: 'utf8',
  });
  return JSON.parse(out) as Finding[];
}

describe('lint boundaries', () => {
  const findings = lint([
    { fixture: 'cross-service.fixture', path: 'services/control-plane/src/boundary-fixture.ts' },
    { fixture: 'common-to-service.fixture', path: 'services/common/src/kamailio/boundary-fixture.ts' },
    { fixture: 'bench-to-tests.fixture', path: 'bench/boundary-fixture.ts' },
    { fixture: 'allowed.fixture', path: 'services/media-gateway/src/boundary-fixture.ts' },
  ]);
  const at = (path: string): Finding => {
    const finding = findings.find((f) => f.path.endsWith(path));
    if (!finding) throw new Error(`no result for ${path}`);
    return finding;
  };

  test('the boundary rules are part of the config `npm run lint` uses', () => {
    expect(findings.every((f) => f.boundariesInDefaultConfig)).toBe(true);
  });

  test('a control-plane import from the media gateway → reported', () => {
    const f = at('services/control-plane/src/boundary-fixture.ts');
    expect(f.rules).toEqual(['no-restricted-imports']);
    expect(f.messages[0]).toContain('services/control-plane may import only services/common and itself');
  });

  test('a services/common import from a service → reported', () => {
    const f = at('services/common/src/kamailio/boundary-fixture.ts');
    expect(f.rules).toEqual(['no-restricted-imports']);
    expect(f.messages[0]).toContain('services/common may not import a service');
  });

  test('a bench import from tests/ → reported', () => {
    const f = at('bench/boundary-fixture.ts');
    expect(f.rules).toEqual(['no-restricted-imports']);
    expect(f.messages[0]).toContain('bench/ may not import tests/');
  });

  test('a gateway import from services/common and itself → clean', () => {
    expect(at('services/media-gateway/src/boundary-fixture.ts').rules).toEqual([]);
  });
});

/** Every module specifier in a TypeScript source (import/export ... from, import(), require()). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) {
    found.push(m[1] ?? '');
  }
  return found;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the tree as it is (grep-level, independent of ESLint)', () => {
  const SERVICES = ['common', 'control-plane', 'media-gateway', 'demo-agent'];

  test.each(SERVICES)('services/%s imports no other service', (service) => {
    const root = join(REPO, 'services', service);
    const crossing = tsFiles(root).flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => relative(join(REPO, 'services'), resolve(dirname(file), spec)).split(sep)[0])
        .filter((target) => target !== service && target !== 'common' && SERVICES.includes(target ?? ''))
        .map((target) => `${relative(REPO, file)} → ${target}`),
    );
    if (service === 'common') {
      expect(
        tsFiles(root).filter((file) =>
          specifiers(readFileSync(file, 'utf8')).some((spec) =>
            /(^|\/)(control-plane|media-gateway|demo-agent)\/src/.test(spec),
          ),
        ),
      ).toEqual([]);
    }
    expect(crossing).toEqual([]);
  });

  test('bench/ imports nothing from tests/', () => {
    const crossing = tsFiles(join(REPO, 'bench')).filter((file) =>
      specifiers(readFileSync(file, 'utf8')).some(
        (spec) => spec.startsWith('.') && relative(REPO, resolve(dirname(file), spec)).split(sep)[0] === 'tests',
      ),
    );
    expect(crossing.map((file) => relative(REPO, file))).toEqual([]);
  });
});
