// The host's key, which deploys the contract and owns the devices it registers: hex in
// LATCHKEY_HOST_KEY, or a JSON keystore file (--host-keystore) and its password.

import { Wallet } from 'ethers';
import type { CliIo } from './command.js';
import { UsageError } from './command.js';
import { checkKeystoreFile, decryptKeyFile } from './keystore.js';
import { PASSWORD_ENV, PASSWORD_FILE_ENV, passwordProblem, readPassword } from './password.js';

export const HOST_KEY_ENV = 'LATCHKEY_HOST_KEY';
const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;

export const HOST_KEY_HELP = `The host key (owner of the contract's devices) comes from ${HOST_KEY_ENV} (0x + 64 hex) or
--host-keystore <file>, whose password is read from the file named by ${PASSWORD_FILE_ENV} (preferred), from ${PASSWORD_ENV}, or asked
on the terminal.`;

/** Adds the problems that keep the host key from being loaded; `required` false allows none at all. */
export function checkHostKey(
  io: CliIo,
  keystore: string | undefined,
  problems: string[],
  required = true,
): void {
  const hex = io.env[HOST_KEY_ENV];
  if (hex !== undefined && keystore !== undefined) {
    problems.push(`both ${HOST_KEY_ENV} and --host-keystore are given; use one`);
  } else if (hex !== undefined) {
    if (!PRIVATE_KEY.test(hex)) problems.push(`${HOST_KEY_ENV}: expected 0x + 64 hex digits`);
  } else if (keystore !== undefined) {
    checkKeystoreFile(keystore, '--host-keystore', problems);
    const p = passwordProblem(io, false);
    if (p) problems.push(p);
  } else if (required) {
    problems.push(`no host key: set ${HOST_KEY_ENV} or give --host-keystore <file>`);
  }
}

/** The host wallet (unconnected), or undefined when no key was given; call checkHostKey first. */
export async function loadHostKey(io: CliIo, keystore: string | undefined): Promise<Wallet | undefined> {
  const hex = io.env[HOST_KEY_ENV];
  if (hex !== undefined) {
    if (!PRIVATE_KEY.test(hex)) throw new UsageError([`${HOST_KEY_ENV}: expected 0x + 64 hex digits`]);
    return new Wallet(hex);
  }
  if (keystore === undefined) return undefined;
  return decryptKeyFile(keystore, await readPassword(io, `host keystore ${keystore}`, false));
}
