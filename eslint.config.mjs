import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.sim/**',
      '.sim-*/**',
      '.data/**',
      '.tmp/**',
      'coverage/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // Layers import downward only: common ← workflows, activities ← worker, client. No import cycles.
    files: ['src/**/*.ts', 'sim/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: import.meta.dirname })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src/common',
              from: ['./src/workflows', './src/activities', './src/worker', './src/client', './src/dev'],
              message: 'common/ is the bottom layer: it imports nothing of ours above it.',
            },
            {
              target: './src/activities',
              from: ['./src/workflows', './src/worker', './src/client'],
              message: 'activities/ may import common/ only (types come from common/).',
            },
            {
              target: './src/workflows',
              from: ['./src/worker', './src/client', './src/dev'],
              message: 'workflows/ may import common/ (and activities/ as types only).',
            },
            {
              target: './src/worker',
              from: ['./src/client'],
              message: 'the worker does not depend on the client SDK.',
            },
          ],
        },
      ],
    },
  },
  {
    // A workflow reads top-down in named phases: short functions, files a newcomer reads in one go.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 300, skipBlankLines: false, skipComments: false }],
    },
  },
  {
    // Workflow code is replayed in a deterministic sandbox: no I/O, no clients, no activity implementations.
    files: ['src/workflows/**/*.ts', 'src/common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Workflow and common code must not import Node built-ins.',
            })),
            { name: 'ssh2', message: 'SSH belongs in activities.' },
            { name: '@kubernetes/client-node', message: 'Kubernetes API calls belong in activities.' },
            { name: '@temporalio/activity', message: 'Not available in workflow code.' },
            { name: '@temporalio/worker', message: 'Not available in workflow code.' },
            { name: '@temporalio/client', message: 'Not available in workflow code.' },
          ],
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities as types only.',
            },
            {
              group: ['**/worker', '**/worker/**', '**/client/**'],
              message: 'Workflow code must not import worker or client modules.',
            },
          ],
        },
      ],
    },
  },
);
