// Reading a benchmark's size from the environment (BENCH_UNLOCKS=500 npm run bench:unlock).

/** The positive integer in environment variable `name`, `fallback` when unset; anything else throws. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}
