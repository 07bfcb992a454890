// Writes a command's set of output files only once all of them are made: each goes to a temporary
// file in the same folder and is renamed into place, so a failure never leaves half a file behind.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Adds problems for files that exist (unless `overwrite`) or whose folder is a file. */
export function checkOutputs(
  files: readonly string[],
  flag: string,
  problems: string[],
  overwrite: boolean,
): void {
  for (const file of files) {
    if (existsSync(file) && statSync(file).isDirectory()) problems.push(`${flag}: ${file} is a directory`);
    else if (existsSync(file) && !overwrite)
      problems.push(`${flag}: ${file} already exists (--force replaces it)`);
  }
}

/** Writes every file (creating their folders), each by rename from a temporary file. */
export function writeOutputs(files: ReadonlyMap<string, string | Buffer>, mode = 0o644): void {
  const temps: [string, string][] = [];
  try {
    for (const [file, data] of files) {
      const target = resolve(file);
      mkdirSync(dirname(target), { recursive: true });
      const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
      temps.push([tmp, target]);
      writeFileSync(tmp, data, { mode, flag: 'wx' });
    }
    for (const [tmp, target] of temps) renameSync(tmp, target);
  } finally {
    for (const [tmp] of temps) rmSync(tmp, { force: true });
  }
}
