// Refuses to test or benchmark a stale contracts/generated/latchkey.ts (sources edited since the build).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build.mjs');

/** Throws, naming the fix, when contracts/src changed after the last `npm run build:contracts`. */
export function assertContractsBuilt(): void {
  const run = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
  if (run.status !== 0)
    throw new Error(run.stderr.trim() || `contracts/build.mjs --check failed (${run.status ?? run.signal})`);
}
