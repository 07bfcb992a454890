// Checks the store a catch-up left behind against the planned backlog: exactly the gateway's rentals,
// each with the planned fields and status, the cursor at the expected block, and the reorg bookkeeping
// pruned to its window. A benchmark of a wrong result is worthless: any difference fails the run.

import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Store } from '../../agent/store/store.js';
import type { ExpectedRental } from './plan.js';

export interface StoreCheck {
  problems: string[];
  rentals: number;
  byStatus: Record<string, number>;
  /** Rows of the tables the watcher prunes to its reorg window. */
  windowRows: { seenLogs: number; rentalUndo: number; blockHashes: number };
  fileBytes: number;
}

const MAX_LISTED = 10;

export function checkStore(
  dbPath: string,
  expected: Map<bigint, ExpectedRental>,
  expectCursor: number,
): StoreCheck {
  const problems: string[] = [];
  const problem = (p: string) => {
    if (problems.length < MAX_LISTED) problems.push(p);
    else if (problems.length === MAX_LISTED) problems.push('…');
  };
  const fileBytes = sizeOf(dbPath) + sizeOf(`${dbPath}-wal`);
  const db = new Database(dbPath, { readonly: true });
  let byStatus: Record<string, number>;
  let rentals: number;
  let windowRows: StoreCheck['windowRows'];
  try {
    const count = (table: string) =>
      (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    rentals = count('rentals');
    byStatus = Object.fromEntries(
      (
        db.prepare('SELECT status, count(*) AS n FROM rentals GROUP BY status').all() as {
          status: string;
          n: number;
        }[]
      ).map((r) => [r.status, r.n]),
    );
    windowRows = {
      seenLogs: count('seen_logs'),
      rentalUndo: count('rental_undo'),
      blockHashes: count('block_hashes'),
    };
  } finally {
    db.close();
  }
  if (rentals !== expected.size) problem(`store holds ${rentals} rentals, expected ${expected.size}`);

  const store = new Store(dbPath);
  store.start();
  try {
    const cursor = store.getCursor();
    if (cursor?.block !== expectCursor) problem(`cursor at ${cursor?.block}, expected ${expectCursor}`);
    for (const want of expected.values()) {
      const got = store.getRental(want.id);
      if (!got) {
        problem(`rental ${want.id} missing`);
        continue;
      }
      const diffs: string[] = [];
      if (got.status !== want.status) diffs.push(`status ${got.status} ≠ ${want.status}`);
      if (got.deviceId !== want.deviceId) diffs.push(`device ${got.deviceId} ≠ ${want.deviceId}`);
      if (got.guest.toLowerCase() !== want.guest.toLowerCase())
        diffs.push(`guest ${got.guest} ≠ ${want.guest}`);
      for (const k of [
        'start',
        'end',
        'deposit',
        'pricePerSecond',
        'pricePerWh',
        'signer',
        'maxWatts',
        'cancelWindow',
      ] as const)
        if (got[k] !== want[k]) diffs.push(`${k} ${got[k]} ≠ ${want[k]}`);
      if (diffs.length > 0) problem(`rental ${want.id}: ${diffs.join(', ')}`);
    }
  } finally {
    store.stop();
  }
  return { problems, rentals, byStatus, windowRows, fileBytes };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
