// ESLint flat config: typescript-eslint with type information, plus the boundary rules that
// keep the services side by side on services/common (STYLE.md §13):
//   services/<one>  → services/common and itself, never another service;
//   services/common → no service;
//   bench/          → never tests/ (the harness both use lives in harness/).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const SERVICES = ['control-plane', 'media-gateway', 'demo-agent'];

/** An import path that reaches into one of `names`' sources, by any number of `../`. */
function serviceImport(names) {
  return `(^|/)services/(${names.join('|')})(/|$)|^(\\.\\./)+(${names.join('|')})/src(/|$)`;
}

function restrict(regex, message) {
  return { 'no-restricted-imports': ['error', { patterns: [{ regex, message }] }] };
}

export const boundaries = [
  ...SERVICES.map((service) => ({
    files: [`services/${service}/**/*.ts`],
    rules: restrict(
      serviceImport(SERVICES.filter((other) => other !== service)),
      `services/${service} may import only services/common and itself: move the shared contract to services/common.`,
    ),
  })),
  {
    files: ['services/common/**/*.ts'],
    rules: restrict(serviceImport(SERVICES), 'services/common may not import a service.'),
  },
  {
    files: ['bench/**/*.ts'],
    rules: restrict('(^|/)tests(/|$)', 'bench/ may not import tests/: shared harness code lives in harness/.'),
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.local/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading underscore marks a binding kept on purpose: a parameter an interface
      // requires, or a property left out of a rest copy (`const { secret: _s, ...rest }`).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    // jest's asymmetric matchers (expect.any, expect.objectContaining, ...) are typed `any`
    // by @types/jest, so every expectation that nests one would otherwise be reported.
    // Test fakes implement the Promise-returning interfaces they stand in for with plain
    // `async` methods that have nothing to await.
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...boundaries,
);
