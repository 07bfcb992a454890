// The agent as its own process for the unlock benchmark, started the way a gateway runs it: the
// build (`npm run build` → dist/) under `node --max-semi-space-size=1` with a config file; its readiness
// read from its JSON log, and its CPU time and resident memory from /proc, so they are the agent's alone.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface AgentProcess {
  pid: number;
  /** Resolves with the agent's own startMs and HTTP port once it logs 'agent ready'. */
  ready: Promise<{ startMs: number; httpPort: number; sinceSpawnMs: number }>;
  /** Recent log lines, for failure messages. */
  tail(): string;
  /** Errors the agent logged. */
  errors(): string[];
  stop(): Promise<void>;
}

/** Node flags of the production entry (see package.json `gateway`): a small young generation. */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=1'];

/** Compiles the agent to dist/ (tsc, a few seconds) so the benchmark runs what a gateway runs. */
export function buildAgent(root: string): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}

export function spawnAgent(root: string, configPath: string, config: unknown): AgentProcess {
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LATCHKEY_')) env[k] = v;
  env.LATCHKEY_CONFIG = configPath;
  env.LATCHKEY_LOG_LEVEL = 'info'; // the agent's default level: its logging is part of its cost
  const t0 = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...GATEWAY_NODE_FLAGS, path.join(root, 'dist', 'agent', 'main.js')],
    {
      cwd: root,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const lines: string[] = [];
  const errors: string[] = [];
  let resolveReady: (v: { startMs: number; httpPort: number; sinceSpawnMs: number }) => void = () => {};
  let rejectReady: (e: Error) => void = () => {};
  const ready = new Promise<{ startMs: number; httpPort: number; sinceSpawnMs: number }>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});
  if (!child.stderr || child.pid === undefined) throw new Error('could not spawn the agent process');
  createInterface({ input: child.stderr }).on('line', (line) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
    let entry: { msg?: string; level?: string; startMs?: number; http?: number } | undefined;
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return;
    }
    if (entry?.level === 'error') errors.push(line);
    if (entry?.msg === 'agent ready' && typeof entry.startMs === 'number' && typeof entry.http === 'number')
      resolveReady({ startMs: entry.startMs, httpPort: entry.http, sinceSpawnMs: performance.now() - t0 });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) =>
    rejectReady(new Error(`agent process exited (${code ?? signal}) before ready:\n${lines.join('\n')}`)),
  );
  return {
    pid: child.pid,
    ready,
    tail: () => lines.join('\n'),
    errors: () => [...errors],
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcUsage {
  cpuMs: number;
  rssBytes: number;
  peakRssBytes: number;
  /** Of the RSS: the process's own memory (heap, stacks, malloc). */
  rssAnonBytes: number;
  /** Of the RSS: pages mapped from files, mostly the node binary's code (shared with other node processes). */
  rssFileBytes: number;
}

/** CPU time (user + system, ms) and resident memory of a process, from /proc. */
export function procUsage(pid: number): ProcUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return {
    cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND,
    rssBytes: kb('VmRSS') * 1024,
    peakRssBytes: kb('VmHWM') * 1024,
    rssAnonBytes: kb('RssAnon') * 1024,
    rssFileBytes: kb('RssFile') * 1024,
  };
}
