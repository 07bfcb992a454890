// Test helpers: runs the CLI in-process with a given environment and captures what it prints.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIo } from './command.js';
import { runCli } from './run.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** `name: value` lines of stdout. */
  fields: Record<string, string>;
}

/** Runs `latchkey <argv>` with only `env` as its environment and no terminal (unless `askSecret`). */
export async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  askSecret?: (question: string) => Promise<string>,
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    env,
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    ...(askSecret ? { askSecret } : {}),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr, fields: fields(stdout) };
}

export function fields(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([a-z][a-z ]*): (.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** The problems listed by a usage error (exit code 2). */
export function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}

export function tempDir(): { dir: string; path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-prov-'));
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A keystore password and fast keystores, as the tests' environment. */
export const PASSWORD = 'correct horse battery';
export const FAST_ENV = { LATCHKEY_KEY_PASSWORD: PASSWORD, LATCHKEY_KEYSTORE_FAST: '1' };
