// The keystore password: from LATCHKEY_KEY_PASSWORD (for scripts and systemd credentials) or asked on
// the terminal. Never a flag: flags end up in shell history and in every user's `ps`.

import type { CliIo } from './command.js';
import { UsageError } from './command.js';

export const PASSWORD_ENV = 'LATCHKEY_KEY_PASSWORD';
/** Shortest password accepted for a new keystore. */
export const MIN_PASSWORD_LENGTH = 8;

/** The problem that keeps a password from being had, if any (checked before anything is done). */
export function passwordProblem(io: CliIo, forNewKeystore: boolean): string | undefined {
  const fromEnv = io.env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (forNewKeystore && fromEnv.length < MIN_PASSWORD_LENGTH)
      return `${PASSWORD_ENV}: a keystore password needs at least ${MIN_PASSWORD_LENGTH} characters`;
    return undefined;
  }
  if (!io.askSecret) return `no keystore password: set ${PASSWORD_ENV} or run on a terminal to be asked`;
  return undefined;
}

/** The password for `what`; a new keystore's password is asked twice. */
export async function readPassword(io: CliIo, what: string, forNewKeystore: boolean): Promise<string> {
  const fromEnv = io.env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
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
