// What a benchmark records of where it ran, and its size read from the environment
// (BENCH_UNLOCKS=500 npm run bench:unlock).

import os from 'node:os';

/** When and on what a benchmark ran; the load average says how much else the machine was doing. */
export interface MachineFacts {
  date: string;
  node: string;
  cpu: { model: string; cores: number };
  loadAverage: { note: string; before: number[]; after: number[] };
}

/** The facts of this run, with the load average taken before it (`loadBefore`) and now. */
export function machineFacts(loadBefore: number[]): MachineFacts {
  const two = (l: number) => Math.round(l * 100) / 100;
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: { model: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length },
    loadAverage: {
      note: 'the machine is shared: other processes compete for the cores; see loadavg',
      before: loadBefore.map(two),
      after: os.loadavg().map(two),
    },
  };
}

/** The positive integer in environment variable `name`, `fallback` when unset; anything else throws. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}
