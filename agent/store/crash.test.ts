import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from './store.js';
import { digestOf, spawnScript, tempDir } from './test/fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

const ROUNDS = 10;

/**
 * Runs crash-writer.ts until a random moment, SIGKILLs it, and returns the steps it printed (each
 * printed only after its transaction committed).
 */
async function runAndKill(dbPath: string, killAfterReadyMs: number | undefined, killAfterSpawnMs: number) {
  const child = spawnScript('crash-writer.ts', [dbPath]);
  cleanups.push(() => child.kill('SIGKILL'));
  const steps: number[] = [];
  let stderr = '';
  let buffered = '';
  let timer: NodeJS.Timeout | undefined;
  const kill = () => child.kill('SIGKILL');
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  child.stdout?.on('data', (b: Buffer) => {
    buffered += b.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') {
        if (killAfterReadyMs !== undefined) timer = setTimeout(kill, killAfterReadyMs);
      } else steps.push(Number(line));
    }
  });
  if (killAfterReadyMs === undefined) timer = setTimeout(kill, killAfterSpawnMs);
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, sig) => resolve(sig)),
  );
  clearTimeout(timer);
  // The writer never stops by itself: anything but our SIGKILL is a failure of the writer.
  expect(signal, stderr).toBe('SIGKILL');
  return steps;
}

/** Checks that exactly steps 1..C are in the database, each complete, and returns C. */
function verify(dbPath: string): number {
  const store = new Store(dbPath);
  store.start();
  try {
    expect(store.integrityCheck()).toBe('ok');
    const c = store.getCursor()?.block ?? 0;
    const raw = new Database(dbPath, { readonly: true });
    try {
      const count = (table: string) =>
        (raw.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      // Every table got exactly one row per step: a half-applied step would leave one count off.
      for (const table of ['used_nonces', 'rentals', 'receipts', 'seen_logs', 'audit'])
        expect(count(table), table).toBe(c);
    } finally {
      raw.close();
    }
    for (let i = 1; i <= c; i++) {
      const id = (7n << 64n) | BigInt(i);
      expect(store.nonceUsed(digestOf(i))).toBe(true);
      expect(store.getRental(id)?.blockNumber).toBe(i);
      expect(store.getReceipt(id)?.status).toBe(i === c ? 'pending' : 'settled');
    }
    expect(store.nonceUsed(digestOf(c + 1))).toBe(false);
    expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual(c > 0 ? [(7n << 64n) | BigInt(c)] : []);
    if (c > 0) {
      expect(store.getDeviceRuntime(7n)?.usedSeconds).toBe(c);
      expect(store.auditTail(1)[0]?.at).toBe(c);
    }
    return c;
  } finally {
    store.stop();
  }
}

describe('Store under kill -9', () => {
  it('every step the writer reported committed survives; integrity holds; no step is half-applied', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    let committed = 0;
    let reportedTotal = 0;
    const plan: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Mostly mid-loop kills; every third round dies at a random point of startup (open, WAL, migrations).
      const early = round % 3 === 1;
      const afterReady = early ? undefined : Math.floor(Math.random() * 250);
      const afterSpawn = Math.floor(Math.random() * 800);
      plan.push(early ? `spawn+${afterSpawn}ms` : `ready+${afterReady}ms`);
      const steps = await runAndKill(t.dbPath, afterReady, afterSpawn);
      reportedTotal += steps.length;

      const c = verify(t.dbPath);
      const lastReported = steps.at(-1) ?? committed;
      // The writer continues from the cursor, so its steps are consecutive from the last committed one.
      expect(steps, plan.join(', ')).toEqual(steps.map((_, k) => committed + 1 + k));
      // Everything reported is present; at most one step committed without being reported before the kill.
      expect(c, plan.join(', ')).toBeGreaterThanOrEqual(lastReported);
      expect(c, plan.join(', ')).toBeLessThanOrEqual(lastReported + 1);
      committed = c;
    }
    expect(reportedTotal, `no round got as far as committing: ${plan.join(', ')}`).toBeGreaterThan(0);
  }, 120_000);
});
