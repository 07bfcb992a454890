import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION_TABLE } from './schema.js';
import { type RentalUndo, Store } from './store.js';
import { sampleRental, tempDir } from './test/fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

function openStore(): { store: Store; dbPath: string } {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const store = new Store(t.dbPath);
  store.start();
  cleanups.push(() => store.stop());
  return { store, dbPath: t.dbPath };
}

function reopen(store: Store, dbPath: string): Store {
  store.stop();
  const again = new Store(dbPath);
  again.start();
  cleanups.push(() => again.stop());
  return again;
}

const hash = (n: number): string => `0x${n.toString(16).padStart(64, '0')}`;

describe('Store reorg window: block hashes', () => {
  it('round-trips block hashes ascending, lower-cased, across a restart', () => {
    const { store, dbPath } = openStore();
    store.putBlockHash(12, `0x${'AB'.repeat(32)}`);
    store.putBlockHash(10, hash(10));
    store.putBlockHash(11, hash(11));
    store.putBlockHash(11, hash(111));
    expect(store.blockHashesFrom(11)).toEqual([
      { block: 11, hash: hash(111) },
      { block: 12, hash: `0x${'ab'.repeat(32)}` },
    ]);

    const again = reopen(store, dbPath);
    expect(again.blockHashesFrom(0).map((b) => b.block)).toEqual([10, 11, 12]);
    expect(again.blockHashesFrom(13)).toEqual([]);
    expect(() => again.putBlockHash(-1, hash(1))).toThrow(TypeError);
    expect(() => again.putBlockHash(1.5, hash(1))).toThrow(TypeError);
    expect(() => again.putBlockHash(1, 'abc')).toThrow(TypeError);
  });

  it('setCursor records the cursor block among the hashes', () => {
    const { store } = openStore();
    store.setCursor(7, hash(7));
    store.setCursor(9, `0x${'CD'.repeat(32)}`);
    expect(store.blockHashesFrom(0)).toEqual([
      { block: 7, hash: hash(7) },
      { block: 9, hash: `0x${'cd'.repeat(32)}` },
    ]);
    expect(store.getCursor()).toEqual({ block: 9, hash: `0x${'cd'.repeat(32)}` });
  });

  it('forgets hashes from a reorged block and prunes those below the window', () => {
    const { store } = openStore();
    for (let b = 100; b < 110; b++) store.putBlockHash(b, hash(b));
    expect(store.forgetBlockHashesFrom(107)).toBe(3);
    expect(store.pruneBlockHashesBelow(103)).toBe(3);
    expect(store.blockHashesFrom(0).map((b) => b.block)).toEqual([103, 104, 105, 106]);
    expect(store.forgetBlockHashesFrom(200)).toBe(0);
    expect(store.pruneBlockHashesBelow(-5)).toBe(0);
  });

  it('commits hashes with the cursor in one transaction, or neither', () => {
    const { store, dbPath } = openStore();
    store.tx(() => {
      store.setCursor(5, hash(5));
      store.putBlockHash(4, hash(4));
    });
    expect(() =>
      store.tx(() => {
        store.forgetBlockHashesFrom(5);
        store.putBlockHash(8, hash(8));
        store.setCursor(9, hash(9));
        throw new Error('crash before commit');
      }),
    ).toThrow('crash before commit');
    // A bad hash fails setCursor itself: the cursor row and its block hash stay as they were.
    expect(() => store.setCursor(10, 'not hex')).toThrow(TypeError);

    const again = reopen(store, dbPath);
    expect(again.getCursor()).toEqual({ block: 5, hash: hash(5) });
    expect(again.blockHashesFrom(0)).toEqual([
      { block: 4, hash: hash(4) },
      { block: 5, hash: hash(5) },
    ]);
  });
});

describe('Store reorg window: rental undo journal', () => {
  const max = (1n << 256n) - 1n;
  const created: RentalUndo = { block: 100, rentalId: sampleRental().id };
  const extended: RentalUndo = {
    block: 101,
    rentalId: sampleRental().id,
    before: sampleRental({ deposit: max, end: max - 1n, blockNumber: 100 }),
  };
  const settled: RentalUndo = {
    block: 103,
    rentalId: sampleRental().id,
    before: sampleRental({ status: 'revoked', blockNumber: 101, blockHash: hash(101) }),
    receiptBefore: 'submitted',
  };

  it('round-trips entries (uint256 values, no before, receipt status) in the order written, across a restart', () => {
    const { store, dbPath } = openStore();
    for (const u of [created, extended, settled]) store.putRentalUndo(u);
    const again = reopen(store, dbPath);
    const norm = (u: RentalUndo): RentalUndo =>
      u.before
        ? {
            ...u,
            before: {
              ...u.before,
              guest: u.before.guest.toLowerCase(),
              blockHash: u.before.blockHash.toLowerCase(),
            },
          }
        : u;
    expect(again.rentalUndosFrom(0)).toEqual([created, extended, settled].map(norm));
    expect(again.rentalUndosFrom(101)).toEqual([extended, settled].map(norm));
    expect(again.rentalUndosFrom(104)).toEqual([]);
  });

  it('forgets entries from a reorged block and prunes those below the window', () => {
    const { store } = openStore();
    for (let b = 10; b < 20; b++) store.putRentalUndo({ block: b, rentalId: BigInt(b) });
    expect(store.forgetRentalUndosFrom(17)).toBe(3);
    expect(store.pruneRentalUndosBelow(12)).toBe(2);
    expect(store.rentalUndosFrom(0).map((u) => u.block)).toEqual([12, 13, 14, 15, 16]);
    // Written after a forget, an entry still comes after every older one.
    store.putRentalUndo({ block: 17, rentalId: 99n });
    expect(store.rentalUndosFrom(16).map((u) => u.rentalId)).toEqual([16n, 99n]);
  });

  it('refuses bad entries, and the table refuses a half-recorded rental', () => {
    const { store, dbPath } = openStore();
    expect(() => store.putRentalUndo({ ...extended, rentalId: 5n })).toThrow(/differs/);
    expect(() => store.putRentalUndo({ block: -1, rentalId: 1n })).toThrow(TypeError);
    expect(() =>
      store.putRentalUndo({ block: 1, rentalId: 1n, before: sampleRental({ id: 1n, deposit: -1n }) }),
    ).toThrow(TypeError);

    const raw = new Database(dbPath);
    cleanups.push(() => raw.close());
    expect(() =>
      raw.prepare("INSERT INTO rental_undo (block, rental_id, before_status) VALUES (1, '1', 'open')").run(),
    ).toThrow(/CHECK constraint/);
    expect(store.rentalUndosFrom(0)).toEqual([]);
  });

  it('journals with the cursor in one transaction, or neither', () => {
    const { store, dbPath } = openStore();
    store.tx(() => {
      store.putRentalUndo(created);
      store.setCursor(100, hash(100));
    });
    expect(() =>
      store.tx(() => {
        store.putRentalUndo(extended);
        store.setCursor(101, hash(101));
        store.pruneRentalUndosBelow(101);
        throw new Error('crash before commit');
      }),
    ).toThrow('crash before commit');
    const again = reopen(store, dbPath);
    expect(again.rentalUndosFrom(0)).toEqual([created]);
    expect(again.getCursor()?.block).toBe(100);
  });
});

describe('Store migration to the persisted reorg window', () => {
  it('seeds the block hashes of a v1 database from its cursor and the rentals it still trusts', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const v1 = MIGRATIONS.find((m) => m.version === 1)!;
    const raw = new Database(t.dbPath);
    raw.exec(SCHEMA_VERSION_TABLE);
    raw.exec(v1.sql);
    raw.prepare('INSERT INTO schema_version VALUES (1, ?, 0)').run(v1.description);
    raw.prepare('INSERT INTO cursor (id, block, hash) VALUES (1, 50, ?)').run(hash(50));
    const rental = raw.prepare(
      `INSERT INTO rentals VALUES (?, '7', '0xab', '1', '2', '3', '4', '0', ?, ?, ?)`,
    );
    rental.run('1', 'open', 40, hash(40));
    rental.run('2', 'settled', 45, hash(45));
    rental.run('3', 'revoked', 47, hash(999)); // its block was reorged out: not a block we trust
    rental.run('4', 'open', 52, hash(52)); // above the cursor (written by hand): not processed
    raw.close();

    const store = new Store(t.dbPath);
    store.start();
    cleanups.push(() => store.stop());
    expect(store.blockHashesFrom(0)).toEqual([
      { block: 40, hash: hash(40) },
      { block: 45, hash: hash(45) },
      { block: 50, hash: hash(50) },
    ]);
    expect(store.rentalUndosFrom(0)).toEqual([]);
    expect(store.getRental(1n)?.status).toBe('open');
  });
});

describe('Store migration to rentals committing cancelWindow', () => {
  it('reads the rentals and undo snapshots of a v2 database with cancelWindow 0', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const raw = new Database(t.dbPath);
    raw.exec(SCHEMA_VERSION_TABLE);
    for (const m of MIGRATIONS.filter((m) => m.version <= 2)) {
      raw.exec(m.sql);
      raw.prepare('INSERT INTO schema_version VALUES (?, ?, 0)').run(m.version, m.description);
    }
    raw
      .prepare(`INSERT INTO rentals VALUES ('1', '7', '0xab', '1', '2', '3', '4', '0', 'open', 40, ?)`)
      .run(hash(40));
    const undo = raw.prepare(
      `INSERT INTO rental_undo (block, rental_id, before_device_id, before_guest, before_start, before_end,
         before_deposit, before_price_per_second, before_price_per_wh, before_status, before_block_number,
         before_block_hash, receipt_before) VALUES (?, '1', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    );
    undo.run(40, null, null, null, null, null, null, null, null, null, null);
    undo.run(41, '7', '0xab', '1', '2', '3', '4', '0', 'open', 40, hash(40));
    raw.close();

    const store = new Store(t.dbPath);
    store.start();
    cleanups.push(() => store.stop());
    expect(store.getRental(1n)?.cancelWindow).toBe(0n);
    const [created, extended] = store.rentalUndosFrom(0);
    expect(created).toEqual({ block: 40, rentalId: 1n });
    expect(extended?.before).toMatchObject({ id: 1n, end: 2n, cancelWindow: 0n, status: 'open' });
  });

  it('turns the booked_before of a v5 database into a cancel window of 0', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const raw = new Database(t.dbPath);
    raw.exec(SCHEMA_VERSION_TABLE);
    for (const m of MIGRATIONS.filter((m) => m.version <= 5)) {
      raw.exec(m.sql);
      raw.prepare('INSERT INTO schema_version VALUES (?, ?, 0)').run(m.version, m.description);
    }
    raw
      .prepare(
        `INSERT INTO rentals (id, device_id, guest, start, "end", deposit, price_per_second, price_per_wh,
           booked_before, status, block_number, block_hash) VALUES ('1', '7', '0xab', '1', '2', '3', '4', '0',
           '1799999000', 'open', 40, ?)`,
      )
      .run(hash(40));
    raw.close();

    const store = new Store(t.dbPath);
    store.start();
    cleanups.push(() => store.stop());
    expect(store.getRental(1n)?.cancelWindow).toBe(0n);
  });

  it('keeps a rental and its undo snapshot with cancelWindow across a restart', () => {
    const { store, dbPath } = openStore();
    const rental = sampleRental({ cancelWindow: 86_400n });
    store.putRental(rental);
    store.putRentalUndo({ block: 9, rentalId: rental.id, before: rental });
    const again = reopen(store, dbPath);
    // Hex comes back lower-case.
    const stored = {
      ...rental,
      guest: rental.guest.toLowerCase(),
      blockHash: rental.blockHash.toLowerCase(),
    };
    expect(again.getRental(rental.id)).toEqual(stored);
    expect(again.rentalUndosFrom(0)).toEqual([{ block: 9, rentalId: rental.id, before: stored }]);
  });
});
