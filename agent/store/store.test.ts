import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isError, LatchkeyError } from '../errors.js';
import { MIGRATIONS } from './schema.js';
import { NONCE_RETENTION_SECONDS, Store } from './store.js';
import { digestOf, runToEnd, sampleReceipt, sampleRental, spawnScript, tempDir } from './test/fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

function openStore(path?: string): { store: Store; dbPath: string; dir: string } {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const store = new Store(path ?? t.dbPath);
  store.start();
  cleanups.push(() => store.stop());
  return { store, dbPath: path ?? t.dbPath, dir: t.dir };
}

/**
 * Writes a nonce and a 2 KB audit entry per transaction until one fails: that transaction's nonce
 * must not be kept, the one before it must.
 */
function writeUntilFull(store: Store): { failure: LatchkeyError; failedStep: number } {
  for (let i = 2; i < 2000; i++) {
    try {
      store.tx(() => {
        store.useNonce(digestOf(i), 2_000_000_000);
        store.audit({
          at: i,
          deviceId: 7n,
          action: 'unlock',
          actor: 'a',
          outcome: 'ok',
          reason: 'x'.repeat(2000),
        });
      });
    } catch (e) {
      if (!(e instanceof LatchkeyError)) throw e;
      expect(e.code).toBe('STORE_FAILED');
      return { failure: e, failedStep: i };
    }
  }
  throw new Error('2000 transactions of 2 KB each and the store never filled up');
}

/** Whether this process can run `probe` on a scratch directory; for tests that need a privilege. */
function canRun(probe: (dir: string) => void): boolean {
  const t = tempDir('latchkey-probe-');
  try {
    probe(t.dir);
    return true;
  } catch {
    return false;
  } finally {
    t.cleanup();
  }
}

const isRoot = process.getuid?.() === 0;
/** root ignores permission bits, so as root a read-only file needs the immutable attribute. */
const canMakeReadOnly =
  !isRoot ||
  canRun((dir) => {
    const probe = join(dir, 'probe');
    closeSync(openSync(probe, 'w'));
    execFileSync('chattr', ['+i', probe], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', probe], { stdio: 'ignore' });
  });
const canMountTmpfs =
  isRoot &&
  canRun((dir) => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
  });

function makeReadOnly(path: string): void {
  if (isRoot) {
    execFileSync('chattr', ['+i', path], { stdio: 'ignore' });
    cleanups.push(() => execFileSync('chattr', ['-i', path]));
  } else {
    chmodSync(path, 0o444);
  }
}

function expectStoreFailed(fn: () => unknown): LatchkeyError {
  try {
    fn();
  } catch (e) {
    expect(isError(e, 'STORE_FAILED'), String(e)).toBe(true);
    return e as LatchkeyError;
  }
  throw new Error('expected STORE_FAILED, nothing was thrown');
}

describe('Store records', () => {
  it('keeps the chain cursor and seen logs, and forgets logs from a reorged block', () => {
    const { store } = openStore();
    expect(store.getCursor()).toBeUndefined();
    store.setCursor(10, '0xAA');
    store.setCursor(12, `0x${'Bc'.repeat(32)}`);
    expect(store.getCursor()).toEqual({ block: 12, hash: `0x${'bc'.repeat(32)}` });

    expect(store.markLogSeen('0xaa:1', 10)).toBe(true);
    expect(store.markLogSeen('0xAA:1', 10)).toBe(false);
    expect(store.markLogSeen('0xbb:0', 11)).toBe(true);
    expect(store.markLogSeen('0xcc:0', 12)).toBe(true);
    store.forgetLogsFrom(11);
    expect(store.markLogSeen('0xaa:1', 10)).toBe(false);
    expect(store.markLogSeen('0xbb:0', 11)).toBe(true);
    expect(store.markLogSeen('0xcc:0', 12)).toBe(true);
    expect(store.pruneLogsBefore(11)).toBe(1);
    expect(store.markLogSeen('0xaa:1', 10)).toBe(true);
  });

  it('round-trips rentals with uint256 values, lower-cases addresses, orders open rentals by start', () => {
    const { store } = openStore();
    const max = (1n << 256n) - 1n;
    const a = sampleRental({
      id: (7n << 64n) | 2n,
      start: 9_000_000_000n,
      end: 9_000_000_100n,
      deposit: max,
    });
    const b = sampleRental({
      id: (7n << 64n) | 1n,
      start: 800_000_000n,
      end: 800_000_100n,
      blockNumber: 120,
    });
    const c = sampleRental({ id: (8n << 64n) | 1n, deviceId: 8n, start: 1_000_000_000n, blockNumber: 90 });
    for (const r of [a, b, c]) store.putRental(r);

    expect(store.getRental(a.id)).toEqual({
      ...a,
      guest: a.guest.toLowerCase(),
      blockHash: a.blockHash.toLowerCase(),
    });
    expect(store.getRental(999n)).toBeUndefined();
    // 800000000 < 1000000000 < 9000000000 numerically, not as strings.
    expect(store.openRentals().map((r) => r.id)).toEqual([b.id, c.id, a.id]);
    expect(store.openRentals(7n).map((r) => r.id)).toEqual([b.id, a.id]);
    expect(store.rentalsFromBlock(100).map((r) => r.id)).toEqual([a.id, b.id]);

    store.setRentalStatus(b.id, 'settled');
    store.setRentalStatus(12345n, 'revoked');
    expect(store.getRental(b.id)?.status).toBe('settled');
    expect(store.openRentals(7n).map((r) => r.id)).toEqual([a.id]);

    store.putRental({ ...a, end: 9_000_000_200n, blockNumber: 130 });
    expect(store.getRental(a.id)?.end).toBe(9_000_000_200n);
    expect(() => store.putRental({ ...a, deposit: -1n })).toThrow(TypeError);
  });

  it('records a used nonce once and prunes only long-expired ones', () => {
    const { store } = openStore();
    const d = digestOf(1);
    expect(store.nonceUsed(d)).toBe(false);
    expect(store.useNonce(d, 1000)).toBe(true);
    expect(store.useNonce(d.toUpperCase().replace('0X', '0x'), 1000)).toBe(false);
    expect(store.nonceUsed(d)).toBe(true);
    expect(store.useNonce(digestOf(2), 5000)).toBe(true);
    expect(() => store.useNonce('0x1234', 1)).toThrow(TypeError);

    expect(store.pruneNonces(1000 + NONCE_RETENTION_SECONDS)).toBe(0);
    expect(store.pruneNonces(1001 + NONCE_RETENTION_SECONDS)).toBe(1);
    expect(store.nonceUsed(d)).toBe(false);
    expect(store.nonceUsed(digestOf(2))).toBe(true);
  });

  it('queues one receipt per rental and patches only the given fields', () => {
    const { store } = openStore();
    const id1 = (7n << 64n) | 1n;
    const id2 = (7n << 64n) | 2n;
    expect(store.putReceipt(sampleReceipt(id2, { createdAt: 20 }))).toBe(true);
    expect(store.putReceipt(sampleReceipt(id1, { createdAt: 10 }))).toBe(true);
    expect(store.putReceipt(sampleReceipt(id1, { attempts: 9 }))).toBe(false);
    expect(store.getReceipt(id1)).toEqual(sampleReceipt(id1, { createdAt: 10 }));

    store.updateReceipt(id1, { status: 'submitted', attempts: 1, txHash: '0xABCD' });
    store.updateReceipt(id1, { lastError: 'nonce too low' });
    expect(store.getReceipt(id1)).toEqual(
      sampleReceipt(id1, {
        createdAt: 10,
        status: 'submitted',
        attempts: 1,
        txHash: '0xabcd',
        lastError: 'nonce too low',
      }),
    );
    expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual([id1, id2]);
    store.updateReceipt(id1, { status: 'settled' });
    expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual([id2]);
    expect(store.getReceipt(id1)?.txHash).toBe('0xabcd');
    expect(() => store.putReceipt({ ...sampleReceipt(id1), rentalId: id2 })).toThrow(TypeError);
  });

  it('keeps device runtime and returns the audit tail oldest first, per device', () => {
    const { store } = openStore();
    expect(store.getDeviceRuntime(7n)).toBeUndefined();
    store.putDeviceRuntime({ deviceId: 7n, relayClosed: false, usedSeconds: 0, energyWh: 0, updatedAt: 1 });
    expect(store.getDeviceRuntime(7n)).toEqual({
      deviceId: 7n,
      relayClosed: false,
      usedSeconds: 0,
      energyWh: 0,
      updatedAt: 1,
    });
    const live = {
      deviceId: 7n,
      rentalId: 5n,
      relayClosed: true,
      usedSeconds: 12.5,
      closedSince: 100,
      energyWh: 3,
      updatedAt: 2,
    };
    store.putDeviceRuntime(live);
    expect(store.getDeviceRuntime(7n)).toEqual(live);

    for (let i = 0; i < 5; i++)
      store.audit({
        at: i,
        deviceId: i % 2 === 0 ? 7n : 8n,
        action: 'unlock',
        actor: 'agent',
        outcome: 'ok',
        reason: `r${i}`,
      });
    store.audit({
      at: 5,
      deviceId: 7n,
      rentalId: 5n,
      action: 'lock',
      actor: '0xabc',
      outcome: 'refused',
      reason: 'nonce-used',
    });
    expect(store.auditTail(3).map((e) => e.reason)).toEqual(['r3', 'r4', 'nonce-used']);
    expect(store.auditTail(10, 7n).map((e) => e.reason)).toEqual(['r0', 'r2', 'r4', 'nonce-used']);
    expect(store.auditTail(1)[0]).toEqual({
      at: 5,
      deviceId: 7n,
      rentalId: 5n,
      action: 'lock',
      actor: '0xabc',
      outcome: 'refused',
      reason: 'nonce-used',
    });
  });

  it('tx commits all writes or none', () => {
    const { store } = openStore();
    const result = store.tx(() => {
      store.useNonce(digestOf(1), 1);
      store.setCursor(1, '0x01');
      return 'done';
    });
    expect(result).toBe('done');
    expect(() =>
      store.tx(() => {
        store.useNonce(digestOf(2), 1);
        store.setCursor(2, '0x02');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.nonceUsed(digestOf(2))).toBe(false);
    expect(store.getCursor()).toEqual({ block: 1, hash: '0x01' });
  });

  it('refuses calls before start() with STORE_FAILED', () => {
    const store = new Store(':memory:');
    expectStoreFailed(() => store.getCursor());
    expectStoreFailed(() => store.tx(() => 1));
    store.start();
    expect(store.getCursor()).toBeUndefined();
    store.stop();
    store.stop();
    expectStoreFailed(() =>
      store.audit({ at: 1, deviceId: 1n, action: 'x', actor: 'y', outcome: 'ok', reason: 'z' }),
    );
  });
});

describe('Store on disk', () => {
  it('keeps everything, including used nonces, across a restart; migrations run once', () => {
    const { store, dbPath } = openStore();
    store.useNonce(digestOf(42), 2_000_000_000);
    store.putRental(sampleRental());
    store.setCursor(5, '0x05');
    store.stop();

    const again = new Store(dbPath);
    again.start();
    cleanups.push(() => again.stop());
    expect(again.useNonce(digestOf(42), 2_000_000_000)).toBe(false);
    expect(again.getRental(sampleRental().id)?.status).toBe('open');
    expect(again.getCursor()).toEqual({ block: 5, hash: '0x05' });
    again.stop();

    const raw = new Database(dbPath, { readonly: true });
    cleanups.push(() => raw.close());
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT version FROM schema_version ORDER BY version').all()).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version })),
    );
  });

  it('runs in WAL mode with synchronous=FULL and foreign keys on', () => {
    const { store } = openStore();
    const db = (store as unknown as { db: Database.Database }).db;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(1000);
  });

  it('the audit log refuses UPDATE and DELETE even from another connection', () => {
    const { store, dbPath } = openStore();
    store.audit({ at: 1, deviceId: 1n, action: 'unlock', actor: 'agent', outcome: 'ok', reason: 'granted' });
    const raw = new Database(dbPath);
    cleanups.push(() => raw.close());
    expect(() => raw.prepare("UPDATE audit SET reason = 'nothing happened'").run()).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    expect(store.auditTail(5).map((e) => e.reason)).toEqual(['granted']);
  });

  it('refuses to open a database with a newer schema than it knows', () => {
    const { store, dbPath } = openStore();
    store.stop();
    const raw = new Database(dbPath);
    raw.prepare("INSERT INTO schema_version VALUES (99, 'from the future', 0)").run();
    raw.close();
    const e = expectStoreFailed(() => new Store(dbPath).start());
    expect(e.message).toMatch(/v99 is newer/);
  });

  it('a used nonce loses in another process; two racing processes never both win a nonce', async () => {
    const { store, dbPath } = openStore();
    expect(store.useNonce(digestOf(0), 2_000_000_000)).toBe(true);

    const n = 400;
    const racers = [
      spawnScript('nonce-racer.ts', [dbPath, '0', String(n)]),
      spawnScript('nonce-racer.ts', [dbPath, '0', String(n)]),
    ];
    const done = racers.map(runToEnd);
    await Promise.all(
      racers.map((c) => new Promise<void>((resolve) => c.stdout?.once('data', () => resolve()))),
    );
    for (const c of racers) c.stdin?.end('go\n');
    const results = await Promise.all(done);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const won = results.map((r) => JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as number[]);

    const all = [...(won[0] ?? []), ...(won[1] ?? [])].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: n - 1 }, (_, i) => i + 1));
    expect(store.useNonce(digestOf(n - 1), 2_000_000_000)).toBe(false);
  });
});

describe('Store when the disk fails', () => {
  it.skipIf(!canMakeReadOnly)(
    'a read-only database file (skipped when running as root where chattr +i does not work): reads work, every write fails with STORE_FAILED',
    () => {
      const t = tempDir();
      cleanups.push(t.cleanup);
      const store = new Store(t.dbPath);
      store.start();
      store.useNonce(digestOf(1), 2_000_000_000);
      store.putRental(sampleRental());
      store.stop();
      makeReadOnly(t.dbPath);

      // SQLite falls back to a read-only connection, so the agent can still read its state.
      const ro = new Store(t.dbPath);
      ro.start();
      cleanups.push(() => ro.stop());
      expect(ro.getRental(sampleRental().id)?.id).toBe(sampleRental().id);
      expect(ro.nonceUsed(digestOf(1))).toBe(true);
      const e = expectStoreFailed(() => ro.useNonce(digestOf(2), 2_000_000_000));
      expect(e.message).toMatch(/SQLITE_READONLY/);
      expectStoreFailed(() =>
        ro.audit({ at: 1, deviceId: 7n, action: 'unlock', actor: 'a', outcome: 'ok', reason: 'r' }),
      );
      expectStoreFailed(() => ro.tx(() => ro.setCursor(1, '0x01')));
      expect(ro.nonceUsed(digestOf(2))).toBe(false);
    },
  );

  it('a full database (max_page_count, no privileges needed): writes fail with SQLITE_FULL, committed data stays, a connection without the cap writes again', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const store = new Store(t.dbPath, { maxPageCount: 64 });
    store.start();
    cleanups.push(() => store.stop());
    expect(store.useNonce(digestOf(1), 2_000_000_000)).toBe(true);

    const { failure, failedStep } = writeUntilFull(store);
    expect(failure.message).toMatch(/SQLITE_FULL/);
    expect(failedStep).toBeGreaterThan(2);
    expect(store.nonceUsed(digestOf(1))).toBe(true);
    expect(store.nonceUsed(digestOf(failedStep))).toBe(false);
    expect(store.nonceUsed(digestOf(failedStep - 1))).toBe(true);
    // Still full: the same write fails again, and fails closed.
    const big = {
      at: 1,
      deviceId: 7n,
      action: 'unlock',
      actor: 'a',
      outcome: 'ok',
      reason: 'y'.repeat(2000),
    } as const;
    expect(expectStoreFailed(() => store.audit(big)).message).toMatch(/SQLITE_FULL/);
    store.stop();

    const reopened = new Store(t.dbPath);
    reopened.start();
    cleanups.push(() => reopened.stop());
    expect(reopened.nonceUsed(digestOf(failedStep - 1))).toBe(true);
    expect(reopened.nonceUsed(digestOf(failedStep))).toBe(false);
    expect(reopened.useNonce(digestOf(100_000), 2_000_000_000)).toBe(true);
    reopened.audit(big);
    expect(reopened.auditTail(1)[0]?.reason).toBe(big.reason);
    expect(reopened.integrityCheck()).toBe('ok');
  });

  it.skipIf(!canMountTmpfs)(
    'a full disk (a 2 MiB tmpfs; skipped unless root may mount one here): writes fail with STORE_FAILED, committed data stays, writes work again once space is freed',
    () => {
      const t = tempDir();
      cleanups.push(t.cleanup);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', t.dir], { stdio: 'ignore' });
      cleanups.push(() => execFileSync('umount', [t.dir]));

      const store = new Store(t.dbPath);
      store.start();
      cleanups.push(() => store.stop());
      expect(store.useNonce(digestOf(1), 2_000_000_000)).toBe(true);

      const filler = join(t.dir, 'filler');
      const fd = openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(4096, 1);
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }

      const { failure, failedStep } = writeUntilFull(store);
      expect(failure.message).toMatch(/SQLITE_FULL|SQLITE_IOERR/);
      expect(store.nonceUsed(digestOf(1))).toBe(true);
      expect(store.nonceUsed(digestOf(failedStep))).toBe(false);
      expect(store.nonceUsed(digestOf(failedStep - 1))).toBe(true);

      rmSync(filler);
      expect(store.useNonce(digestOf(100_000), 2_000_000_000)).toBe(true);
      expect(store.integrityCheck()).toBe('ok');
    },
  );
});
