// Writes files that hold keys: mode 0600 from the first byte, never a half-written file in place (a
// temporary file is linked or renamed into place), and no silent overwrite of an existing one.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './command.js';

/** Adds a problem unless `file` can be created (or, with `overwrite`, replaced). */
export function checkNewFile(file: string, flag: string, problems: string[], overwrite = false): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    problems.push(`${flag}: directory ${dir} does not exist`);
  } else if (existsSync(file) && !overwrite) {
    problems.push(`${flag}: ${file} already exists; refusing to overwrite it`);
  } else if (existsSync(file) && statSync(file).isDirectory()) {
    problems.push(`${flag}: ${file} is a directory`);
  }
}

/** Writes `data` to `file` with mode 0600; fails with a UsageError when it exists and !overwrite. */
export function writeSecretFile(file: string, data: string, opts: { overwrite?: boolean } = {}): void {
  const target = resolve(file);
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600); // the umask could only have narrowed it; make it exact
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.overwrite) {
      renameSync(tmp, target);
    } else {
      // link() fails when the target exists, so a file created meanwhile is never replaced
      linkSync(tmp, target);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError([`${file} already exists; refusing to overwrite it`]);
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}
