#!/usr/bin/env node
// Entry point of the host CLI: `npm run latchkey -- <command> [options]` (or `tsx provisioning/cli.ts`).

import type { ReadStream } from 'node:tty';
import type { CliIo } from './command.js';
import { runCli } from './run.js';
import { askHidden } from './terminal.js';

const stdin = process.stdin as ReadStream;
const io: CliIo = {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  ...(stdin.isTTY ? { askSecret: (question: string) => askHidden(question, stdin, process.stderr) } : {}),
};

process.exitCode = await runCli(process.argv.slice(2), io);
