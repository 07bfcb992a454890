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
];

export const SCHEMA_VERSION_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )
`;
