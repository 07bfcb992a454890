// Runs bench/backfill/watch.ts in a child process (node with the gateway's flags, TypeScript through
// tsx) and returns what it measured, with the log lines it wrote.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY_NODE_FLAGS } from '../unlock/agentProcess.js';
import type { WatchArgs, WatchResult } from './watch.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CHILD_NODE_ARGS = [...GATEWAY_NODE_FLAGS, '--expose-gc', '--import', 'tsx'] as const;

export async function catchUp(
  args: WatchArgs,
  root: string,
): Promise<{ result: WatchResult; logs: string[] }> {
  const child = spawn(
    process.execPath,
    [...CHILD_NODE_ARGS, path.join(HERE, 'watch.ts'), JSON.stringify(args)],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), args.timeoutMs + 30_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  clearTimeout(killer);
  const logs = stderr.split('\n').filter((l) => l.length > 0);
  if (code !== 0) throw new Error(`watcher process exited with ${code}:\n${logs.slice(-20).join('\n')}`);
  const line = stdout.trim().split('\n').pop();
  if (!line) throw new Error('watcher process printed no result');
  return { result: JSON.parse(line) as WatchResult, logs };
}
