#!/usr/bin/env node
// Entry of the `nksr` command. In a checkout (src/ present and tsx installed) it runs the TypeScript
// sources through tsx, so `npx nksr` works right after `npm install` without a build and never runs
// a stale build; an installed package (no src/) runs the compiled dist/.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');
const source = path.join(root, 'src', 'client', 'cli', 'main.ts');
const compiled = path.join(root, 'dist', 'src', 'client', 'cli', 'main.js');

function tsxRegister() {
  try {
    return require('tsx/cjs/api').register;
  } catch {
    return undefined;
  }
}

let cli;
const register = fs.existsSync(source) && !process.env.NKSR_USE_DIST ? tsxRegister() : undefined;
if (register) {
  register();
  cli = require(source);
} else if (fs.existsSync(compiled)) {
  cli = require(compiled);
} else {
  process.stderr.write(
    'nksr: neither tsx (run `npm install`) nor a build (run `npm run build`) is available\n',
  );
  process.exit(1);
}
cli.main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`nksr: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
