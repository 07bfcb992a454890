// Shared test helpers for the store: temp directories, sample records, spawning store child processes.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, type StoredReceipt, type StoredRental } from '../store.js';

export function tempDir(prefix = 'latchkey-store-'): { dir: string; dbPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dbPath: join(dir, 'agent.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A started Store in a temp dir; `cleanup()` closes it and removes the dir. */
export function tempStore(prefix?: string): { store: Store; path: string; dir: string; cleanup: () => void } {
  const { dir, dbPath, cleanup } = tempDir(prefix);
  const store = new Store(dbPath);
  store.start();
  return {
    store,
    path: dbPath,
    dir,
    cleanup: () => {
      store.stop();
      cleanup();
    },
  };
}

/** A digest-shaped key for step `i` (tests only need distinct 32-byte values). */
export function digestOf(i: number | bigint): string {
  return `0x${BigInt(i).toString(16).padStart(64, '0')}`;
}

export function sampleRental(over: Partial<StoredRental> = {}): StoredRental {
  const deviceId = over.deviceId ?? 7n;
  return {
    id: (deviceId << 64n) | 1n,
    guest: '0xAbCdEf0123456789aBcDeF0123456789AbCdEf01',
    start: 1_800_000_000n,
    end: 1_800_003_600n,
    deposit: 7_200_000_000_000_000n,
    pricePerSecond: 1_000_000_000_000n,
    pricePerWh: 0n,
    signer: '0x00000000000000000000000000000000005e1e57',
    maxWatts: 0n,
    cancelWindow: 0n,
    deviceId,
    status: 'open',
    blockNumber: 100,
    blockHash: `0x${'AB'.repeat(32)}`,
    ...over,
  };
}

export function sampleReceipt(rentalId: bigint, over: Partial<StoredReceipt> = {}): StoredReceipt {
  return {
    rentalId,
    deviceId: rentalId >> 64n,
    receipt: { rentalId, secondsUsed: 1800n, energyWh: 42n },
    signature: `0x${'11'.repeat(65)}`,
    status: 'pending',
    attempts: 0,
    createdAt: 1_800_001_800,
    ...over,
  };
}

/** Starts `node --import tsx <script> ...args` (a file in this folder) with stdio piped. */
export function spawnScript(script: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

/** Collects a child's stdout and stderr and resolves when it exits. */
export function runToEnd(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
