import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'dist-bench/',
      'node_modules/',
      'src/grpc/generated/',
      'coverage/',
      'clients/node/dist/',
      'clients/node/proto/',
      'clients/node/src/generated/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // Product code stands alone: what is shipped (dist/, the image) never reaches the
    // benchmarks (bench/, compiled only into dist-bench/) or the test helpers.
    files: ['src/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(bench|test)(/|$)',
              message:
                'src/ must not import from bench/ or test/ (they import src/, not the reverse).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/cli/**', 'bench/**', 'bin/**', 'test/**', 'examples/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The examples are plain Node programs, as a user would write them.
    files: ['examples/**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', fetch: 'readonly' },
    },
  },
);
