#!/usr/bin/env node
// Runs forge from node_modules at the repo root with the offline solc wrapper: `node contracts/forge.mjs test`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const forge = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'forge.cmd' : 'forge');
const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node contracts/forge.mjs <forge command> [args...]');
  process.exit(2);
}

// `--use` is a compiler flag; forge rejects it on commands that never compile.
const compiles = new Set([
  'build',
  'b',
  'compile',
  'test',
  't',
  'snapshot',
  's',
  'coverage',
  'script',
  'inspect',
]);
const extra = compiles.has(args[0]) ? ['--use', path.join('contracts', 'solc.mjs')] : [];

const result = spawnSync(forge, [...args, ...extra], { cwd: root, stdio: 'inherit' });
if (result.error) {
  console.error(`cannot run ${forge}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? (result.signal ? 1 : 0));
