// Encrypted key files: the standard JSON keystore (Web3 secret storage v3, scrypt + AES-128-CTR) that
// ethers, geth and Foundry's `cast wallet` all read, so a gateway key can be moved between them.

import { readFileSync } from 'node:fs';
import { decryptKeystoreJson, encryptKeystoreJson, isError, isKeystoreJson, Wallet } from 'ethers';
import { UsageError } from './command.js';

/**
 * Test-only: `LATCHKEY_KEYSTORE_FAST=1` writes keystores with a cheap scrypt cost (N = 2^10 instead
 * of ethers' 2^17), which anyone holding the file can brute-force far faster. Never set it for real keys.
 */
export const FAST_ENV = 'LATCHKEY_KEYSTORE_FAST';
const FAST_SCRYPT_N = 1 << 10;

export function isFast(env: NodeJS.ProcessEnv): boolean {
  return env[FAST_ENV] === '1';
}

/** The keystore JSON of `key`, at ethers' default scrypt cost unless the test-only fast mode is on. */
export function encryptKey(
  key: { address: string; privateKey: string },
  password: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  return encryptKeystoreJson(
    { address: key.address, privateKey: key.privateKey },
    password,
    isFast(env) ? { scrypt: { N: FAST_SCRYPT_N } } : {},
  );
}

/** Adds a problem unless `file` is a readable JSON keystore. */
export function checkKeystoreFile(file: string, flag: string, problems: string[]): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    problems.push(`${flag}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return;
  }
  if (!isKeystoreJson(text)) problems.push(`${flag}: ${file} is not a JSON keystore (version 3)`);
}

/** The key in keystore `file`; a wrong password or a damaged file is a UsageError. */
export async function decryptKeyFile(file: string, password: string): Promise<Wallet> {
  const text = readFileSync(file, 'utf8');
  try {
    const account = await decryptKeystoreJson(text, password);
    return new Wallet(account.privateKey);
  } catch (e) {
    if (isError(e, 'INVALID_ARGUMENT') && e.argument === 'password')
      throw new UsageError([`wrong password for keystore ${file}`]);
    throw new UsageError([
      `cannot decrypt keystore ${file}: ${isError(e, 'INVALID_ARGUMENT') ? e.shortMessage : String(e)}`,
    ]);
  }
}
