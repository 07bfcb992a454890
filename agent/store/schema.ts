// The store's SQL schema as an ordered list of migrations; the applied ones are recorded in schema_version.

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

// Append new migrations at the end; never edit one that has shipped (databases in the field have run it).
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'cursor, seen logs, rentals, used nonces, receipts, device runtime, append-only audit',
    sql: `
      CREATE TABLE cursor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        block INTEGER NOT NULL CHECK (block >= 0),
        hash TEXT NOT NULL
      );

      CREATE TABLE seen_logs (
        key TEXT PRIMARY KEY,
        block INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX seen_logs_block ON seen_logs (block);

      -- bigints are canonical decimal TEXT; ORDER BY length(x), x sorts them numerically.
      CREATE TABLE rentals (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        guest TEXT NOT NULL,
        start TEXT NOT NULL,
        "end" TEXT NOT NULL,
        deposit TEXT NOT NULL,
        price_per_second TEXT NOT NULL,
        price_per_wh TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'settled', 'cancelled', 'revoked')),
        block_number INTEGER NOT NULL,
        block_hash TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX rentals_device_status ON rentals (device_id, status);
      CREATE INDEX rentals_block ON rentals (block_number);

      CREATE TABLE used_nonces (
        digest TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX used_nonces_expiry ON used_nonces (expires_at);

      CREATE TABLE receipts (
        rental_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        seconds_used TEXT NOT NULL,
        energy_wh TEXT NOT NULL,
        signature TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'settled')),
        attempts INTEGER NOT NULL DEFAULT 0,
        tx_hash TEXT,
        last_error TEXT,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX receipts_status ON receipts (status, created_at);

      CREATE TABLE device_runtime (
        device_id TEXT PRIMARY KEY,
        rental_id TEXT,
        relay_closed INTEGER NOT NULL CHECK (relay_closed IN (0, 1)),
        used_seconds REAL NOT NULL,
        closed_since INTEGER,
        energy_wh REAL NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        rental_id TEXT,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'error')),
        reason TEXT NOT NULL
      );
      CREATE INDEX audit_device ON audit (device_id, seq);
      -- The audit log is evidence: nothing in the agent may rewrite or remove it.
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `,
  },
  {
    version: 2,
    description: 'reorg window: recent block hashes and the undo journal of applied rental logs',
    sql: `
      -- Hashes of processed blocks below the cursor, so a restart can still walk a reorg back.
      CREATE TABLE block_hashes (
        block INTEGER PRIMARY KEY CHECK (block >= 0),
        hash TEXT NOT NULL
      );
      -- Seeded with what the watcher knew after a restart before this table existed: the cursor and
      -- the blocks of the rentals it still trusts. The watcher prunes this to its window.
      INSERT OR IGNORE INTO block_hashes (block, hash) SELECT block, hash FROM cursor;
      INSERT OR IGNORE INTO block_hashes (block, hash)
        SELECT block_number, block_hash FROM rentals
        WHERE status != 'revoked' AND block_number <= (SELECT block FROM cursor);

      -- What each applied rental log changed, newest last: a reorg that removes the log puts it back.
      -- The before_ columns are the rental row before the log, all NULL when the log created the rental.
      CREATE TABLE rental_undo (
        seq INTEGER PRIMARY KEY,
        block INTEGER NOT NULL CHECK (block >= 0),
        rental_id TEXT NOT NULL,
        before_device_id TEXT,
        before_guest TEXT,
        before_start TEXT,
        before_end TEXT,
        before_deposit TEXT,
        before_price_per_second TEXT,
        before_price_per_wh TEXT,
        before_status TEXT CHECK (before_status IN ('open', 'settled', 'cancelled', 'revoked')),
        before_block_number INTEGER,
        before_block_hash TEXT,
        receipt_before TEXT CHECK (receipt_before IN ('pending', 'submitted', 'settled')),
        CHECK ((before_status IS NULL) = (before_device_id IS NULL)
          AND (before_status IS NULL) = (before_guest IS NULL)
          AND (before_status IS NULL) = (before_start IS NULL)
          AND (before_status IS NULL) = (before_end IS NULL)
          AND (before_status IS NULL) = (before_deposit IS NULL)
          AND (before_status IS NULL) = (before_price_per_second IS NULL)
          AND (before_status IS NULL) = (before_price_per_wh IS NULL)
          AND (before_status IS NULL) = (before_block_number IS NULL)
          AND (before_status IS NULL) = (before_block_hash IS NULL))
      );
      CREATE INDEX rental_undo_block ON rental_undo (block);
    `,
  },
  {
    version: 3,
    description: "rentals commit the device's bookedUntil they were booked after (booked_before)",
    sql: `
      -- Rentals stored before the contract committed it decode as 0.
      ALTER TABLE rentals ADD COLUMN booked_before TEXT NOT NULL DEFAULT '0';

      -- The undo journal snapshots the new column too; rebuilt so its CHECK covers it.
      CREATE TABLE rental_undo_v3 (
        seq INTEGER PRIMARY KEY,
        block INTEGER NOT NULL CHECK (block >= 0),
        rental_id TEXT NOT NULL,
        before_device_id TEXT,
        before_guest TEXT,
        before_start TEXT,
        before_end TEXT,
        before_deposit TEXT,
        before_price_per_second TEXT,
        before_price_per_wh TEXT,
        before_booked_before TEXT,
        before_status TEXT CHECK (before_status IN ('open', 'settled', 'cancelled', 'revoked')),
        before_block_number INTEGER,
        before_block_hash TEXT,
        receipt_before TEXT CHECK (receipt_before IN ('pending', 'submitted', 'settled')),
        CHECK ((before_status IS NULL) = (before_device_id IS NULL)
          AND (before_status IS NULL) = (before_guest IS NULL)
          AND (before_status IS NULL) = (before_start IS NULL)
          AND (before_status IS NULL) = (before_end IS NULL)
          AND (before_status IS NULL) = (before_deposit IS NULL)
          AND (before_status IS NULL) = (before_price_per_second IS NULL)
          AND (before_status IS NULL) = (before_price_per_wh IS NULL)
          AND (before_status IS NULL) = (before_booked_before IS NULL)
          AND (before_status IS NULL) = (before_block_number IS NULL)
          AND (before_status IS NULL) = (before_block_hash IS NULL))
      );
      INSERT INTO rental_undo_v3 (seq, block, rental_id, before_device_id, before_guest, before_start,
          before_end, before_deposit, before_price_per_second, before_price_per_wh, before_booked_before,
          before_status, before_block_number, before_block_hash, receipt_before)
        SELECT seq, block, rental_id, before_device_id, before_guest, before_start, before_end,
          before_deposit, before_price_per_second, before_price_per_wh,
          CASE WHEN before_status IS NULL THEN NULL ELSE '0' END,
          before_status, before_block_number, before_block_hash, receipt_before
        FROM rental_undo;
      DROP TABLE rental_undo;
      ALTER TABLE rental_undo_v3 RENAME TO rental_undo;
      CREATE INDEX rental_undo_block ON rental_undo (block);
    `,
  },
  {
    version: 4,
    description: 'session keys: the P-256 key a guest wallet granted for one rental',
    sql: `
      -- One live session key per rental; a newer grant replaces the row (that is how a guest revokes a key).
      -- The grant's digest is also a used nonce, so an older grant cannot be replayed to bring a key back.
      CREATE TABLE session_keys (
        rental_id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL CHECK (length(public_key) = 132 AND substr(public_key, 1, 4) = '0x04'),
        valid_until INTEGER NOT NULL CHECK (valid_until >= 0),
        grant_digest TEXT NOT NULL,
        granted_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX session_keys_valid_until ON session_keys (valid_until);
    `,
  },
  {
    version: 5,
    description:
      'rentals commit the signer they were made under and the max power that sizes their energy allowance',
    sql: `
      -- There are no deployments of the contract before it: rows of older stores read as the zero address.
      ALTER TABLE rentals ADD COLUMN signer TEXT NOT NULL DEFAULT '0x0000000000000000000000000000000000000000';
      ALTER TABLE rentals ADD COLUMN max_watts TEXT NOT NULL DEFAULT '0';
      ALTER TABLE rental_undo ADD COLUMN before_signer TEXT;
      ALTER TABLE rental_undo ADD COLUMN before_max_watts TEXT;
      UPDATE rental_undo SET before_signer = '0x0000000000000000000000000000000000000000', before_max_watts = '0'
        WHERE before_status IS NOT NULL;
    `,
  },
  {
    version: 6,
    description: "rentals commit the device's cancel window (cancel_window) instead of booked_before",
    sql: `
      -- The calendar contract dropped bookedBefore; there are no deployments of the contract before it,
      -- so rows of older stores read as a cancel window of 0 (every cancel free).
      ALTER TABLE rentals RENAME COLUMN booked_before TO cancel_window;
      UPDATE rentals SET cancel_window = '0';
      ALTER TABLE rental_undo RENAME COLUMN before_booked_before TO before_cancel_window;
      UPDATE rental_undo SET before_cancel_window = '0' WHERE before_status IS NOT NULL;
    `,
  },
  {
    version: 7,
    description: "gateway keys on chain: each device's host and signer, signer changes and revocations",
    sql: `
      -- What the contract's SignerChanged and SignerRevoked logs said of this gateway's devices and keys,
      -- one row per applied log. Facts are only added, so a reorg deletes the rows of the removed blocks
      -- and the watcher's rescan adds back what the chain still has (no undo journal needed).
      CREATE TABLE signer_logs (
        key TEXT PRIMARY KEY,
        block INTEGER NOT NULL CHECK (block >= 0),
        log_index INTEGER NOT NULL CHECK (log_index >= 0),
        kind TEXT NOT NULL CHECK (kind IN ('changed', 'revoked')),
        device_id TEXT,
        host TEXT,
        signer TEXT NOT NULL,
        CHECK ((kind = 'changed') = (device_id IS NOT NULL) AND (kind = 'revoked') = (host IS NOT NULL))
      ) WITHOUT ROWID;
      CREATE INDEX signer_logs_block ON signer_logs (block);
      CREATE INDEX signer_logs_revoked ON signer_logs (host, signer) WHERE kind = 'revoked';
      CREATE INDEX signer_logs_changed ON signer_logs (device_id, block, log_index) WHERE kind = 'changed';

      -- Each device's host (it never changes) and its signer as the contract answered device(id) when
      -- the agent started: the signer that SignerChanged rows above override.
      CREATE TABLE device_signers (
        device_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        signer TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
];

export const SCHEMA_VERSION_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )
`;
