#!/usr/bin/env node
// Stands in for a native solc binary so forge can compile offline (`forge --use contracts/solc.mjs`).
// forge calls it with `--version` and then with `--standard-json` plus path flags, reading JSON from stdin.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const solc = createRequire(import.meta.url)('solc');
const args = process.argv.slice(2);

if (args.includes('--version')) {
  // forge parses the native format; solc-js reports its Emscripten build of the same commit.
  const version = solc.version().replace(/\.Emscripten\.clang$/, '.Linux.g++');
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${version}\n`);
  process.exit(0);
}

// Directories an import may be resolved against, in the order solc itself tries them.
const roots = [];
for (let i = 0; i < args.length; i++) {
  const flag = args[i];
  const value = args[i + 1];
  if (value === undefined) continue;
  if (flag === '--base-path' || flag === '--include-path') roots.push(value);
  else if (flag === '--allow-paths') roots.push(...value.split(',').filter(Boolean));
}
if (roots.length === 0) roots.push(process.cwd());

function findImports(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : roots.map((root) => path.resolve(root, importPath));
  for (const candidate of candidates) {
    try {
      return { contents: readFileSync(candidate, 'utf8') };
    } catch {
      // try the next root
    }
  }
  return { error: `File not found: ${importPath} (searched ${roots.join(', ')})` };
}

const input = readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
