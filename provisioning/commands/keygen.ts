// `latchkey keygen`: makes the gateway's key on the gateway itself, so it never travels, and stores it
// only encrypted. Its address is the signer the host registers for the gateway's devices.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Wallet } from 'ethers';
import { type CliIo, type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { encryptKey, FAST_ENV, isFast } from '../keystore.js';
import {
  MIN_PASSWORD_LENGTH,
  PASSWORD_ENV,
  PASSWORD_FILE_ENV,
  passwordProblem,
  readPassword,
} from '../password.js';
import { checkNewFile, writeSecretFile } from '../secretFile.js';

const FLAGS = {
  out: {
    type: 'string',
    required: true,
    value: '<file>',
    help: 'where to write the encrypted key (must not exist yet)',
  },
} as const;

export const keygen: Command = {
  name: 'keygen',
  summary: 'generate the gateway key, stored encrypted; prints its address',
  help: () =>
    renderHelp(
      'latchkey keygen --out <file>',
      'Generates a new gateway key on this machine and writes it as an encrypted JSON keystore\n' +
        '(mode 0600). Prints its address: register it as the signer of the devices this gateway drives.',
      FLAGS,
      `Environment:
  ${PASSWORD_FILE_ENV}  a file (mode 0600) holding the keystore password (at least ${MIN_PASSWORD_LENGTH}
                              characters); preferred: it stays out of the environment
  ${PASSWORD_ENV}       the password itself; asked twice on the terminal when neither is set.
                              No password flag: it would land in shell history.
  ${FAST_ENV}=1  TEST ONLY: cheap scrypt cost, fast to brute-force. Never for a real key.`,
    ),

  async run(argv: string[], io: CliIo): Promise<void> {
    const { values, problems } = parseFlags(argv, FLAGS);
    const out = values.out;
    // e.g. --out /var/lib/latchkey/gateway.json on a fresh gateway: make its folder, for this user only
    const dir = out === undefined ? undefined : dirname(resolve(out));
    const made = dir !== undefined && !existsSync(dir);
    if (out !== undefined && !made) checkNewFile(out, '--out', problems);
    const noPassword = passwordProblem(io, true);
    if (noPassword) problems.push(noPassword);
    if (problems.length > 0) throw new UsageError(problems);
    const file = out as string;
    const password = await readPassword(io, `the new keystore ${file}`, true);
    if (isFast(io.env)) io.stderr(`warning: ${FAST_ENV}=1: weak key derivation, for tests only\n`);
    const wallet = Wallet.createRandom();
    if (made) {
      try {
        mkdirSync(dir as string, { recursive: true, mode: 0o700 });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new UsageError([
          `--out: cannot create the folder ${dir} (${code}); create it, or run as a user who may`,
        ]);
      }
    }
    writeSecretFile(file, await encryptKey(wallet, password, io.env));
    io.stdout(`address: ${wallet.address}\nkeystore: ${resolve(file)}\n`);
    if (made) io.stderr(`note: created ${dir} (mode 0700)\n`);
    io.stderr(
      `Register ${wallet.address} as the signer of this gateway's devices (latchkey register --signer).\n`,
    );
  },
};
