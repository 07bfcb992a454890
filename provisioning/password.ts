// The keystore password: from a file named by LATCHKEY_KEY_PASSWORD_FILE (preferred: it stays out of the
// environment, which every process of the user can read in /proc/<pid>/environ), from
// LATCHKEY_KEY_PASSWORD, or asked on the terminal. Never a flag: flags end up in shell history and `ps`.

import { readFileSync } from 'node:fs';
import { secretFileProblem } from '../agent/keystore.js';
import type { CliIo } from './command.js';
import { UsageError } from './command.js';

export const PASSWORD_ENV = 'LATCHKEY_KEY_PASSWORD';
export const PASSWORD_FILE_ENV = 'LATCHKEY_KEY_PASSWORD_FILE';
/** Shortest password accepted for a new keystore. */
export const MIN_PASSWORD_LENGTH = 8;

/** The password from the environment's file or variable: a string, a problem, or undefined (neither set). */
function fromEnvironment(io: CliIo): { password: string; source: string } | { problem: string } | undefined {
  const file = io.env[PASSWORD_FILE_ENV];
  const value = io.env[PASSWORD_ENV];
  if (file !== undefined && file !== '') {
    if (value !== undefined && value !== '')
      return { problem: `${PASSWORD_FILE_ENV} and ${PASSWORD_ENV} are both set; give one` };
    const open = secretFileProblem(file);
    if (open) return { problem: `${PASSWORD_FILE_ENV}: ${open}` };
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return { problem: `${PASSWORD_FILE_ENV}: cannot read ${file} (${(e as NodeJS.ErrnoException).code})` };
    }
    // `echo secret > file` adds a newline that is not part of the password
    const password = text.replace(/\r?\n$/, '');
    return password === ''
      ? { problem: `${PASSWORD_FILE_ENV}: ${file} is empty` }
      : { password, source: PASSWORD_FILE_ENV };
  }
  if (value !== undefined && value !== '') return { password: value, source: PASSWORD_ENV };
  return undefined;
}

/** The problem that keeps a password from being had, if any (checked before anything is done). */
export function passwordProblem(io: CliIo, forNewKeystore: boolean): string | undefined {
  const given = fromEnvironment(io);
  if (given && 'problem' in given) return given.problem;
  if (given) {
    if (forNewKeystore && given.password.length < MIN_PASSWORD_LENGTH)
      return `${given.source}: a keystore password needs at least ${MIN_PASSWORD_LENGTH} characters`;
    return undefined;
  }
  if (!io.askSecret)
    return `no keystore password: set ${PASSWORD_FILE_ENV} to a file holding it (or ${PASSWORD_ENV}), or run on a terminal to be asked`;
  return undefined;
}

/** The password for `what`; a new keystore's password is asked twice. */
export async function readPassword(io: CliIo, what: string, forNewKeystore: boolean): Promise<string> {
  const given = fromEnvironment(io);
  if (given && 'problem' in given) throw new UsageError([given.problem]);
  if (given) return given.password;
  const ask = io.askSecret;
  if (!ask) throw new UsageError([passwordProblem(io, forNewKeystore) ?? 'no keystore password']);
  const password = await ask(`Password for ${what}: `);
  if (password === '') throw new UsageError(['the password is empty']);
  if (forNewKeystore) {
    if (password.length < MIN_PASSWORD_LENGTH)
      throw new UsageError([`a keystore password needs at least ${MIN_PASSWORD_LENGTH} characters`]);
    if ((await ask('Repeat the password: ')) !== password)
      throw new UsageError(['the passwords do not match']);
  }
  return password;
}
