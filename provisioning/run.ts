// The `latchkey` command line: picks the command, shows help, and turns the outcome into an exit code
// (0 done, 1 failed on the way, 2 bad input with every problem listed).

import { latchkeyRevert } from '../contracts/revert.js';
import { type CliIo, type Command, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './command.js';
import { board } from './commands/board.js';
import { config } from './commands/config.js';
import { deploy } from './commands/deploy.js';
import { deviceClose, deviceList, deviceUpdate } from './commands/device.js';
import { doctor } from './commands/doctor.js';
import { earnings } from './commands/earnings.js';
import { fund } from './commands/fund.js';
import { image } from './commands/image.js';
import { keygen } from './commands/keygen.js';
import { mosquittoAcl } from './commands/mosquittoAcl.js';
import { register } from './commands/register.js';
import { service } from './commands/service.js';
import { sticker } from './commands/sticker.js';
import { withdraw } from './commands/withdraw.js';

export const COMMANDS: readonly Command[] = [
  keygen,
  deploy,
  register,
  deviceList,
  deviceUpdate,
  deviceClose,
  earnings,
  withdraw,
  fund,
  sticker,
  config,
  mosquittoAcl,
  service,
  image,
  doctor,
  board,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: latchkey <command> [options]     (npm run latchkey -- <command> [options])',
    '',
    "Sets up a Latchkey host and gateway: the gateway's key, the contract, its devices and the agent config.",
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run `latchkey <command> --help` for its options. Exit codes: 0 done, 1 failed, 2 bad input.',
    '',
  ].join('\n');
}

/** Why something failed, in one line: ethers' short message, or the contract's custom error. */
function reason(e: unknown): string {
  const revert = latchkeyRevert(e);
  if (revert) return `the contract refused: ${revert.name}(${revert.args.map(String).join(', ')})`;
  if (e instanceof Error) return (e as { shortMessage?: string }).shortMessage ?? e.message;
  return String(e);
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // a command is one word (`register`) or two (`device list`)
  const two = COMMANDS.some((c) => c.name === `${argv[0]} ${argv[1]}`);
  const name = two ? `${argv[0]} ${argv[1]}` : argv[0];
  const rest = argv.slice(two ? 2 : 1);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(usage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${name} `));
    if (group.length > 0) {
      io.stderr(`latchkey ${name}: expected one of: ${group.map((c) => c.name).join(', ')}\n\n${usage()}`);
      return EXIT_USAGE;
    }
    io.stderr(`latchkey: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.help());
    return EXIT_OK;
  }
  try {
    await command.run(rest, io);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      const n = e.problems.length;
      io.stderr(
        `latchkey ${name}: ${n} problem${n === 1 ? '' : 's'}, nothing was done\n` +
          `${e.problems.map((p) => `  - ${p}\n`).join('')}` +
          `Run \`latchkey ${name} --help\` for usage.\n`,
      );
      return EXIT_USAGE;
    }
    io.stderr(`latchkey ${name}: failed: ${reason(e)}\n`);
    return EXIT_FAILED;
  }
}
