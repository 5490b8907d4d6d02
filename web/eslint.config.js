// The page's lint (npm run lint): ESLint's recommended rules, no unused variables, no undeclared
// globals (the page's modules run in the browser, worker.js and secure-worker.js in a Worker).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/', 'pkg/', 'tests/'] },
  js.configs.recommended,
  {
    files: ['*.js'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.browser } },
    rules: { 'no-unused-vars': 'error', 'no-undef': 'error' },
  },
  {
    files: ['worker.js', 'secure-worker.js'],
    languageOptions: { globals: { ...globals.worker } },
  },
  { files: ['eslint.config.js'], languageOptions: { globals: { ...globals.node } } },
];
