// Durable agent state in SQLite (WAL, synchronous=FULL): chain cursor and reorg window, rentals cache,
// used nonces, the receipt queue, device runtime and the append-only audit log. Every storage failure
// is STORE_FAILED.

import Database from 'better-sqlite3';
import type { Receipt, Rental } from '../../contracts/typedData.js';
import { LatchkeyError } from '../errors.js';
import {
  type AuditRow,
  auditToRow,
  dec,
  hex,
  type ReceiptRow,
  type RentalRow,
  type RentalUndoRow,
  type RuntimeRow,
  receiptToRow,
  rentalToRow,
  rowToAudit,
  rowToReceipt,
  rowToRental,
  rowToRuntime,
  rowToUndo,
  runtimeToRow,
  undoToRow,
} from './rows.js';
import { MIGRATIONS, SCHEMA_VERSION_TABLE } from './schema.js';

export type RentalStatus = 'open' | 'settled' | 'cancelled' | 'revoked';

/**
 * A SignerChanged (the host set a device's signer for new rentals) or SignerRevoked (the host revoked
 * a key for all its devices) log, where it sits on chain (`key` is txHash:logIndex).
 */
export type SignerLog = { key: string; blockNumber: number; logIndex: number; signer: string } & (
  | { kind: 'changed'; deviceId: bigint }
  | { kind: 'revoked'; host: string }
);

interface SignerLogRow {
  key: string;
  block: number;
  log_index: number;
  kind: string;
  device_id: string | null;
  host: string | null;
  signer: string;
}

export interface StoredRental extends Rental {
  deviceId: bigint;
  status: RentalStatus;
  /** Block of the latest Rented/Extended log applied to it. */
  blockNumber: number;
  blockHash: string;
}

/** What one applied rental log changed, so a reorg that removes the log can put the rental back. */
export interface RentalUndo {
  /** Block of the log. */
  block: number;
  rentalId: bigint;
  /** The rental before the log; absent when the log created it. */
  before?: StoredRental;
  /**
   * The receipt's status to restore when the Settled/Cancelled log is undone: its status before the log,
   * or, when the submitter had already marked it settled, 'submitted' ('pending' without a txHash).
   */
  receiptBefore?: StoredReceipt['status'];
}

export interface StoredReceipt {
  rentalId: bigint;
  deviceId: bigint;
  receipt: Receipt;
  signature: `0x${string}`;
  status: 'pending' | 'submitted' | 'settled';
  attempts: number;
  txHash?: string;
  lastError?: string;
  createdAt: number;
}

/** Append-only: every actuation and every refusal. */
export interface AuditEntry {
  at: number;
  deviceId: bigint;
  rentalId?: bigint;
  action: string;
  /** Guest address, 'agent', 'lease', 'boot', 'shutdown', source ip/client id. */
  actor: string;
  outcome: 'ok' | 'refused' | 'error';
  reason: string;
}

/** A session key a guest's wallet granted for one rental (see contracts/typedData.ts Session). */
export interface StoredSessionKey {
  rentalId: bigint;
  /** SEC1 uncompressed P-256 point, 0x04 ‖ x ‖ y, lower-case hex. */
  publicKey: `0x${string}`;
  /** Unix seconds; the key is refused from then on. */
  validUntil: number;
  /** EIP-712 digest of the grant that installed it (0x hex). */
  grantDigest: string;
  grantedAt: number;
}

/** What a controller needs to resume after a crash. */
export interface DeviceRuntime {
  deviceId: bigint;
  rentalId?: bigint;
  relayClosed: boolean;
  usedSeconds: number;
  closedSince?: number;
  energyWh: number;
  updatedAt: number;
}

/**
 * Used nonces are kept this long past their token's validUntil before pruning, so a wall clock that
 * steps back a little (within the trusted clock's tolerance) cannot bring a pruned token back to life.
 */
export const NONCE_RETENTION_SECONDS = 3600;

const BUSY_TIMEOUT_MS = 5000;
const MAX_AUDIT_TAIL = 10_000;
const DIGEST_RE = /^0x[0-9a-fA-F]{64}$/;
const SESSION_KEY_RE = /^0x04[0-9a-fA-F]{128}$/;

interface SessionKeyRow {
  rental_id: string;
  public_key: string;
  valid_until: number;
  grant_digest: string;
  granted_at: number;
}

const RENTAL_COLUMNS =
  'id, device_id, guest, start, "end", deposit, price_per_second, price_per_wh, signer, max_watts, cancel_window, status, block_number, block_hash';
const RECEIPT_COLUMNS =
  'rental_id, device_id, seconds_used, energy_wh, signature, status, attempts, tx_hash, last_error, created_at';
const AUDIT_COLUMNS = 'at, device_id, rental_id, action, actor, outcome, reason';
/** Joins rentals `x` to a revocation of their signer by their device's host: those rows are under a revoked key. */
const REVOKED_SIGNER_JOIN = `JOIN device_signers d ON d.device_id = x.device_id
  JOIN signer_logs l ON l.kind = 'revoked' AND l.host = d.host AND l.signer = x.signer`;
const UNDO_COLUMNS = `block, rental_id, before_device_id, before_guest, before_start, before_end, before_deposit,
  before_price_per_second, before_price_per_wh, before_signer, before_max_watts, before_cancel_window, before_status, before_block_number, before_block_hash,
  receipt_before`;

function prepareStatements(db: Database.Database) {
  return {
    getCursor: db.prepare<[], { block: number; hash: string }>('SELECT block, hash FROM cursor WHERE id = 1'),
    setCursor: db.prepare<[number, string]>(
      'INSERT INTO cursor (id, block, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET block = excluded.block, hash = excluded.hash',
    ),
    putBlockHash: db.prepare<[number, string]>(
      'INSERT INTO block_hashes (block, hash) VALUES (?, ?) ON CONFLICT (block) DO UPDATE SET hash = excluded.hash',
    ),
    blockHashesFrom: db.prepare<[number], { block: number; hash: string }>(
      'SELECT block, hash FROM block_hashes WHERE block >= ? ORDER BY block',
    ),
    forgetBlockHashesFrom: db.prepare<[number]>('DELETE FROM block_hashes WHERE block >= ?'),
    pruneBlockHashesBelow: db.prepare<[number]>('DELETE FROM block_hashes WHERE block < ?'),
    putRentalUndo: db.prepare<[RentalUndoRow]>(
      `INSERT INTO rental_undo (${UNDO_COLUMNS}) VALUES (@block, @rental_id, @before_device_id, @before_guest,
         @before_start, @before_end, @before_deposit, @before_price_per_second, @before_price_per_wh,
         @before_signer, @before_max_watts, @before_cancel_window, @before_status, @before_block_number, @before_block_hash, @receipt_before)`,
    ),
    rentalUndosFrom: db.prepare<[number], RentalUndoRow>(
      `SELECT ${UNDO_COLUMNS} FROM rental_undo WHERE block >= ? ORDER BY seq`,
    ),
    forgetRentalUndosFrom: db.prepare<[number]>('DELETE FROM rental_undo WHERE block >= ?'),
    pruneRentalUndosBelow: db.prepare<[number]>('DELETE FROM rental_undo WHERE block < ?'),
    markLogSeen: db.prepare<[string, number]>(
      'INSERT INTO seen_logs (key, block) VALUES (?, ?) ON CONFLICT (key) DO NOTHING',
    ),
    forgetLogsFrom: db.prepare<[number]>('DELETE FROM seen_logs WHERE block >= ?'),
    pruneLogsBefore: db.prepare<[number]>('DELETE FROM seen_logs WHERE block < ?'),
    putRental: db.prepare<[RentalRow]>(
      `INSERT INTO rentals (${RENTAL_COLUMNS}) VALUES (@id, @device_id, @guest, @start, @end, @deposit,
         @price_per_second, @price_per_wh, @signer, @max_watts, @cancel_window, @status, @block_number, @block_hash)
       ON CONFLICT (id) DO UPDATE SET device_id = excluded.device_id, guest = excluded.guest,
         start = excluded.start, "end" = excluded."end", deposit = excluded.deposit,
         price_per_second = excluded.price_per_second, price_per_wh = excluded.price_per_wh,
         signer = excluded.signer, max_watts = excluded.max_watts, cancel_window = excluded.cancel_window, status = excluded.status, block_number = excluded.block_number, block_hash = excluded.block_hash`,
    ),
    getRental: db.prepare<[string], RentalRow>(`SELECT ${RENTAL_COLUMNS} FROM rentals WHERE id = ?`),
    openRentals: db.prepare<[], RentalRow>(
      `SELECT ${RENTAL_COLUMNS} FROM rentals WHERE status = 'open' ORDER BY length(start), start, length(id), id`,
    ),
    openRentalsOf: db.prepare<[string], RentalRow>(
      `SELECT ${RENTAL_COLUMNS} FROM rentals WHERE status = 'open' AND device_id = ?
       ORDER BY length(start), start, length(id), id`,
    ),
    rentalsFromBlock: db.prepare<[number], RentalRow>(
      `SELECT ${RENTAL_COLUMNS} FROM rentals WHERE block_number >= ? ORDER BY block_number, length(id), id`,
    ),
    setRentalStatus: db.prepare<[string, string]>('UPDATE rentals SET status = ? WHERE id = ?'),
    nonceUsed: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM used_nonces WHERE digest = ?'),
    useNonce: db.prepare<[string, number]>(
      'INSERT INTO used_nonces (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING',
    ),
    pruneNonces: db.prepare<[number]>('DELETE FROM used_nonces WHERE expires_at < ?'),
    putSessionKey: db.prepare<[SessionKeyRow]>(
      `INSERT INTO session_keys (rental_id, public_key, valid_until, grant_digest, granted_at)
       VALUES (@rental_id, @public_key, @valid_until, @grant_digest, @granted_at)
       ON CONFLICT (rental_id) DO UPDATE SET public_key = excluded.public_key,
         valid_until = excluded.valid_until, grant_digest = excluded.grant_digest, granted_at = excluded.granted_at`,
    ),
    getSessionKey: db.prepare<[string], SessionKeyRow>(
      'SELECT rental_id, public_key, valid_until, grant_digest, granted_at FROM session_keys WHERE rental_id = ?',
    ),
    pruneSessionKeys: db.prepare<[number]>('DELETE FROM session_keys WHERE valid_until < ?'),
    putReceipt: db.prepare<[ReceiptRow]>(
      `INSERT INTO receipts (${RECEIPT_COLUMNS}) VALUES (@rental_id, @device_id, @seconds_used, @energy_wh,
         @signature, @status, @attempts, @tx_hash, @last_error, @created_at)
       ON CONFLICT (rental_id) DO NOTHING`,
    ),
    getReceipt: db.prepare<[string], ReceiptRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE rental_id = ?`,
    ),
    pendingReceipts: db.prepare<[], ReceiptRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE status IN ('pending', 'submitted')
         AND rental_id NOT IN (SELECT x.id FROM rentals x ${REVOKED_SIGNER_JOIN})
       ORDER BY created_at, rental_id`,
    ),
    heldReceiptsOf: db.prepare<[string, string], ReceiptRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE status IN ('pending', 'submitted')
         AND rental_id IN (SELECT id FROM rentals WHERE device_id = ? AND signer = ?)
       ORDER BY created_at, rental_id`,
    ),
    putSignerLog: db.prepare<[SignerLogRow]>(
      `INSERT INTO signer_logs (key, block, log_index, kind, device_id, host, signer)
       VALUES (@key, @block, @log_index, @kind, @device_id, @host, @signer) ON CONFLICT (key) DO NOTHING`,
    ),
    forgetSignerLogsFrom: db.prepare<[number]>('DELETE FROM signer_logs WHERE block >= ?'),
    putDeviceSigner: db.prepare<[string, string, string]>(
      `INSERT INTO device_signers (device_id, host, signer) VALUES (?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET host = excluded.host, signer = excluded.signer`,
    ),
    deviceSigner: db.prepare<[string, string], { host: string; signer: string }>(
      `SELECT d.host, COALESCE((SELECT signer FROM signer_logs WHERE kind = 'changed' AND device_id = ?
           ORDER BY block DESC, log_index DESC LIMIT 1), d.signer) AS signer
       FROM device_signers d WHERE d.device_id = ?`,
    ),
    revokedSignersOf: db.prepare<[string], { signer: string }>(
      `SELECT DISTINCT l.signer FROM device_signers d JOIN signer_logs l ON l.kind = 'revoked' AND l.host = d.host
       WHERE d.device_id = ? ORDER BY l.signer`,
    ),
    signerRevoked: db.prepare<[string, string], { one: number }>(
      `SELECT 1 AS one FROM device_signers d JOIN signer_logs l ON l.kind = 'revoked' AND l.host = d.host
       WHERE d.device_id = ? AND l.signer = ? LIMIT 1`,
    ),
    // One statement for every patch shape: each field changes only when its flag is set.
    updateReceipt: db.prepare<
      [
        {
          rental_id: string;
          set_status: number;
          status: string | null;
          set_attempts: number;
          attempts: number | null;
          set_tx_hash: number;
          tx_hash: string | null;
          set_last_error: number;
          last_error: string | null;
        },
      ]
    >(
      `UPDATE receipts SET
         status = CASE WHEN @set_status THEN @status ELSE status END,
         attempts = CASE WHEN @set_attempts THEN @attempts ELSE attempts END,
         tx_hash = CASE WHEN @set_tx_hash THEN @tx_hash ELSE tx_hash END,
         last_error = CASE WHEN @set_last_error THEN @last_error ELSE last_error END
       WHERE rental_id = @rental_id`,
    ),
    getRuntime: db.prepare<[string], RuntimeRow>(
      'SELECT device_id, rental_id, relay_closed, used_seconds, closed_since, energy_wh, updated_at FROM device_runtime WHERE device_id = ?',
    ),
    putRuntime: db.prepare<[RuntimeRow]>(
      `INSERT INTO device_runtime (device_id, rental_id, relay_closed, used_seconds, closed_since, energy_wh, updated_at)
       VALUES (@device_id, @rental_id, @relay_closed, @used_seconds, @closed_since, @energy_wh, @updated_at)
       ON CONFLICT (device_id) DO UPDATE SET rental_id = excluded.rental_id, relay_closed = excluded.relay_closed,
         used_seconds = excluded.used_seconds, closed_since = excluded.closed_since,
         energy_wh = excluded.energy_wh, updated_at = excluded.updated_at`,
    ),
    audit: db.prepare<[AuditRow]>(
      `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (@at, @device_id, @rental_id, @action, @actor, @outcome, @reason)`,
    ),
    auditTail: db.prepare<[number], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?`),
    auditTailOf: db.prepare<[string, number], AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit WHERE device_id = ? ORDER BY seq DESC LIMIT ?`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** Wraps SQLite failures (disk full, read-only, I/O error, busy, corrupt) so callers can fail closed. */
function storeError(what: string, e: unknown): unknown {
  if (e instanceof Database.SqliteError) {
    return new LatchkeyError('STORE_FAILED', `store: ${what} failed (${e.code})`, {
      cause: e,
      details: e.message,
    });
  }
  return e;
}

export interface StoreOptions {
  /**
   * Tests only: caps this connection's database at this many pages (SQLite `max_page_count`, set after
   * the migrations), so a write that would grow it fails with SQLITE_FULL as on a full disk, without
   * the privileges a small filesystem needs. The cap is per connection; the file itself is unchanged.
   */
  maxPageCount?: number;
}

export class Store {
  readonly path: string;
  private readonly options: StoreOptions;
  private db: Database.Database | undefined;
  private st: Statements | undefined;

  /** `path` is a file path or ':memory:'. Nothing is opened until start(). */
  constructor(path: string, options: StoreOptions = {}) {
    this.path = path;
    this.options = options;
  }

  /** Opens the database (WAL, synchronous=FULL, foreign keys, busy timeout) and applies migrations. */
  start(): void {
    if (this.db) return;
    let db: Database.Database | undefined;
    try {
      db = new Database(this.path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (this.path !== ':memory:' && !db.readonly) {
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal')
          throw new LatchkeyError('STORE_FAILED', `store: cannot enable WAL (mode ${mode})`);
      }
      // FULL: a commit is on disk (WAL fsynced) before it returns, so power loss keeps what callers saw commit.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      const { maxPageCount } = this.options;
      if (maxPageCount !== undefined) {
        if (!Number.isSafeInteger(maxPageCount) || maxPageCount < 1)
          throw new TypeError('store: maxPageCount must be a whole number of pages >= 1');
        db.pragma(`max_page_count = ${maxPageCount}`);
      }
      this.st = prepareStatements(db);
      this.db = db;
    } catch (e) {
      db?.close();
      throw storeError(`opening ${this.path}`, e);
    }
  }

  /** Closes the database. Safe to call twice. */
  stop(): void {
    const db = this.db;
    this.db = undefined;
    this.st = undefined;
    if (db?.open) db.close();
  }

  /**
   * Runs `fn` as one atomic SQLite transaction (nested calls become savepoints). `fn` must be
   * synchronous; if it throws, nothing it wrote is kept.
   */
  tx<T>(fn: () => T): T {
    const db = this.requireDb('tx');
    try {
      return db.transaction(fn)();
    } catch (e) {
      throw storeError('transaction', e);
    }
  }

  // --- chain ---

  getCursor(): { block: number; hash: string } | undefined {
    return this.run('getCursor', (s) => s.getCursor.get());
  }

  /** Moves the cursor; its block and hash also go into the block hashes, in the same transaction. */
  setCursor(block: number, hash: string): void {
    blockNumber(block, 'cursor block');
    const h = hex(hash, 'cursor hash');
    const db = this.requireDb('setCursor');
    this.run('setCursor', (s) =>
      db.transaction(() => {
        s.setCursor.run(block, h);
        s.putBlockHash.run(block, h);
      })(),
    );
  }

  /**
   * Remembers a processed block's hash (the reorg window); replaces what was known for that block.
   * Write it in the transaction that moves the cursor past the block.
   */
  putBlockHash(block: number, hash: string): void {
    blockNumber(block, 'block');
    const h = hex(hash, 'block hash');
    this.run('putBlockHash', (s) => s.putBlockHash.run(block, h));
  }

  /** Known block hashes at or above `block`, ascending. */
  blockHashesFrom(block: number): { block: number; hash: string }[] {
    return this.run('blockHashesFrom', (s) => s.blockHashesFrom.all(block));
  }

  /** Reorg: forgets the hashes of blocks at or above `block`. Returns how many. */
  forgetBlockHashesFrom(block: number): number {
    return this.run('forgetBlockHashesFrom', (s) => s.forgetBlockHashesFrom.run(block).changes);
  }

  /** Drops hashes of blocks below `block` (deeper than the reorg window). Returns how many. */
  pruneBlockHashesBelow(block: number): number {
    return this.run('pruneBlockHashesBelow', (s) => s.pruneBlockHashesBelow.run(block).changes);
  }

  /** Journals what an applied rental log changed. Write it in the transaction that applies the log. */
  putRentalUndo(u: RentalUndo): void {
    const row = undoToRow(u);
    this.run('putRentalUndo', (s) => s.putRentalUndo.run(row));
  }

  /** Journal entries of logs at or above `block`, in the order they were written (undo them last first). */
  rentalUndosFrom(block: number): RentalUndo[] {
    return this.run('rentalUndosFrom', (s) => s.rentalUndosFrom.all(block)).map(rowToUndo);
  }

  /** Reorg: drops the journal entries of logs at or above `block` (once undone). Returns how many. */
  forgetRentalUndosFrom(block: number): number {
    return this.run('forgetRentalUndosFrom', (s) => s.forgetRentalUndosFrom.run(block).changes);
  }

  /** Drops journal entries of logs below `block` (deeper than the reorg window). Returns how many. */
  pruneRentalUndosBelow(block: number): number {
    return this.run('pruneRentalUndosBelow', (s) => s.pruneRentalUndosBelow.run(block).changes);
  }

  /** Records a log as applied; `key` is txHash:logIndex. True if it was not seen before. */
  markLogSeen(key: string, block: number): boolean {
    return this.run('markLogSeen', (s) => s.markLogSeen.run(key.toLowerCase(), block).changes === 1);
  }

  /** Reorg: logs at or after `block` count as unseen again. */
  forgetLogsFrom(block: number): void {
    this.run('forgetLogsFrom', (s) => s.forgetLogsFrom.run(block));
  }

  /** Drops seen-log keys below `block` (deeper than any reorg the watcher handles). Returns how many. */
  pruneLogsBefore(block: number): number {
    return this.run('pruneLogsBefore', (s) => s.pruneLogsBefore.run(block).changes);
  }

  /** Inserts or replaces a rental by id. */
  putRental(r: StoredRental): void {
    const row = rentalToRow(r);
    this.run('putRental', (s) => s.putRental.run(row));
  }

  getRental(id: bigint): StoredRental | undefined {
    const key = dec(id, 'rental id');
    const row = this.run('getRental', (s) => s.getRental.get(key));
    return row && rowToRental(row);
  }

  /** Open rentals (of one device, or all), earliest start first. */
  openRentals(deviceId?: bigint): StoredRental[] {
    const rows = this.run('openRentals', (s) =>
      deviceId === undefined ? s.openRentals.all() : s.openRentalsOf.all(dec(deviceId, 'device id')),
    );
    return rows.map(rowToRental);
  }

  /** Rentals whose latest log is at or after `block` (reorg candidates). */
  rentalsFromBlock(block: number): StoredRental[] {
    return this.run('rentalsFromBlock', (s) => s.rentalsFromBlock.all(block)).map(rowToRental);
  }

  /** Changes a cached rental's status; a rental not in the cache is left alone. */
  setRentalStatus(id: bigint, status: RentalStatus): void {
    const key = dec(id, 'rental id');
    this.run('setRentalStatus', (s) => s.setRentalStatus.run(status, key));
  }

  // --- access ---

  /** Whether an access digest was already used (read-only; the gate records with useNonce). */
  nonceUsed(digestHex: string): boolean {
    const key = digestKey(digestHex);
    return this.run('nonceUsed', (s) => s.nonceUsed.get(key) !== undefined);
  }

  /**
   * Records an access token's EIP-712 digest as used. True only for the first use, also across
   * processes sharing the file (the primary key decides the race).
   */
  useNonce(digestHex: string, expiresAt: number): boolean {
    const key = digestKey(digestHex);
    if (!Number.isFinite(expiresAt)) throw new TypeError('store: nonce expiresAt must be a number');
    return this.run('useNonce', (s) => s.useNonce.run(key, Math.ceil(expiresAt)).changes === 1);
  }

  /** Forgets used nonces that expired more than NONCE_RETENTION_SECONDS before `now`. Returns how many. */
  pruneNonces(now: number): number {
    return this.run(
      'pruneNonces',
      (s) => s.pruneNonces.run(Math.floor(now) - NONCE_RETENTION_SECONDS).changes,
    );
  }

  // --- session keys ---

  /** Installs (or replaces) the rental's session key. Call inside tx() with the grant's useNonce. */
  putSessionKey(k: StoredSessionKey): void {
    if (!SESSION_KEY_RE.test(k.publicKey)) throw new TypeError('store: session key must be 0x04 + 128 hex');
    if (!Number.isSafeInteger(k.validUntil) || k.validUntil < 0)
      throw new TypeError('store: session key validUntil must be whole unix seconds');
    const row: SessionKeyRow = {
      rental_id: dec(k.rentalId, 'rental id'),
      public_key: k.publicKey.toLowerCase(),
      valid_until: k.validUntil,
      grant_digest: digestKey(k.grantDigest),
      granted_at: Math.floor(k.grantedAt),
    };
    this.run('putSessionKey', (s) => s.putSessionKey.run(row));
  }

  /** The rental's live session key, if a grant installed one (expired ones too until pruned). */
  getSessionKey(rentalId: bigint): StoredSessionKey | undefined {
    const row = this.run('getSessionKey', (s) => s.getSessionKey.get(dec(rentalId, 'rental id')));
    if (!row) return undefined;
    return {
      rentalId: BigInt(row.rental_id),
      publicKey: row.public_key as `0x${string}`,
      validUntil: row.valid_until,
      grantDigest: row.grant_digest,
      grantedAt: row.granted_at,
    };
  }

  /** Forgets session keys that expired more than NONCE_RETENTION_SECONDS before `now`. Returns how many. */
  pruneSessionKeys(now: number): number {
    return this.run(
      'pruneSessionKeys',
      (s) => s.pruneSessionKeys.run(Math.floor(now) - NONCE_RETENTION_SECONDS).changes,
    );
  }

  // --- receipts ---

  /** Queues a signed receipt. False (and nothing changed) if the rental already has one. */
  putReceipt(r: StoredReceipt): boolean {
    if (r.receipt.rentalId !== r.rentalId)
      throw new TypeError('store: receipt.rentalId differs from rentalId');
    const row = receiptToRow(r);
    return this.run('putReceipt', (s) => s.putReceipt.run(row).changes === 1);
  }

  getReceipt(rentalId: bigint): StoredReceipt | undefined {
    const key = dec(rentalId, 'rental id');
    const row = this.run('getReceipt', (s) => s.getReceipt.get(key));
    return row && rowToReceipt(row);
  }

  /**
   * Receipts not yet settled (pending or submitted), oldest first; not those of rentals made under a
   * key their device's host has revoked (their checkout would revert: they settle by time).
   */
  pendingReceipts(): StoredReceipt[] {
    return this.run('pendingReceipts', (s) => s.pendingReceipts.all()).map(rowToReceipt);
  }

  /** Changes the fields present in `patch`; a rental without a receipt is left alone. */
  updateReceipt(
    rentalId: bigint,
    patch: Partial<Pick<StoredReceipt, 'status' | 'attempts' | 'txHash' | 'lastError'>>,
  ): void {
    const params = {
      rental_id: dec(rentalId, 'rental id'),
      set_status: patch.status === undefined ? 0 : 1,
      status: patch.status ?? null,
      set_attempts: patch.attempts === undefined ? 0 : 1,
      attempts: patch.attempts ?? null,
      set_tx_hash: patch.txHash === undefined ? 0 : 1,
      tx_hash: patch.txHash === undefined ? null : hex(patch.txHash, 'receipt txHash'),
      set_last_error: patch.lastError === undefined ? 0 : 1,
      last_error: patch.lastError ?? null,
    };
    this.run('updateReceipt', (s) => s.updateReceipt.run(params));
  }

  // --- gateway keys on chain ---

  /**
   * Records a SignerChanged or SignerRevoked log of this gateway's devices or keys; write it in the
   * transaction that moves the cursor past its block. False when it was recorded already.
   */
  putSignerLog(log: SignerLog): boolean {
    blockNumber(log.blockNumber, 'signer log block');
    blockNumber(log.logIndex, 'signer log index');
    const row: SignerLogRow = {
      key: log.key.toLowerCase(),
      block: log.blockNumber,
      log_index: log.logIndex,
      kind: log.kind,
      device_id: log.kind === 'changed' ? dec(log.deviceId, 'device id') : null,
      host: log.kind === 'revoked' ? hex(log.host, 'host') : null,
      signer: hex(log.signer, 'signer'),
    };
    return this.run('putSignerLog', (s) => s.putSignerLog.run(row).changes === 1);
  }

  /** Reorg: forgets the signer logs of blocks at or above `block`. Returns how many. */
  forgetSignerLogsFrom(block: number): number {
    return this.run('forgetSignerLogsFrom', (s) => s.forgetSignerLogsFrom.run(block).changes);
  }

  /** Remembers a device's host and its signer as the contract answers device(id) now. */
  putDeviceSigner(deviceId: bigint, host: string, signer: string): void {
    const id = dec(deviceId, 'device id');
    const h = hex(host, 'host');
    const k = hex(signer, 'signer');
    this.run('putDeviceSigner', (s) => s.putDeviceSigner.run(id, h, k));
  }

  /**
   * The device's host and its signer for new rentals (the last SignerChanged applied, else the one
   * read at start), and whether its host has revoked that signer; undefined when never read.
   */
  deviceSigner(deviceId: bigint): { host: string; signer: string; revoked: boolean } | undefined {
    const id = dec(deviceId, 'device id');
    const row = this.run('deviceSigner', (s) => s.deviceSigner.get(id, id));
    return row && { ...row, revoked: this.signerRevoked(deviceId, row.signer) };
  }

  /** Whether the host of `deviceId` has revoked the key `signer` (by the logs applied so far). */
  signerRevoked(deviceId: bigint, signer: string): boolean {
    const id = dec(deviceId, 'device id');
    const k = hex(signer, 'signer');
    return this.run('signerRevoked', (s) => s.signerRevoked.get(id, k)) !== undefined;
  }

  /** The keys the host of `deviceId` has revoked (by the logs applied so far). */
  revokedSignersOf(deviceId: bigint): string[] {
    const id = dec(deviceId, 'device id');
    return this.run('revokedSignersOf', (s) => s.revokedSignersOf.all(id)).map((r) => r.signer);
  }

  /**
   * Receipts not yet settled of `deviceId`'s rentals made under `signer`, whether or not the submitter
   * still takes them (it leaves out those under a revoked key).
   */
  heldReceiptsOf(deviceId: bigint, signer: string): StoredReceipt[] {
    const id = dec(deviceId, 'device id');
    const k = hex(signer, 'signer');
    return this.run('heldReceiptsOf', (s) => s.heldReceiptsOf.all(id, k)).map(rowToReceipt);
  }

  // --- devices + audit ---

  getDeviceRuntime(deviceId: bigint): DeviceRuntime | undefined {
    const key = dec(deviceId, 'device id');
    const row = this.run('getDeviceRuntime', (s) => s.getRuntime.get(key));
    return row && rowToRuntime(row);
  }

  putDeviceRuntime(state: DeviceRuntime): void {
    const row = runtimeToRow(state);
    this.run('putDeviceRuntime', (s) => s.putRuntime.run(row));
  }

  /** Appends to the audit log. There is no way to change or remove an entry. */
  audit(e: AuditEntry): void {
    const row = auditToRow(e);
    this.run('audit', (s) => s.audit.run(row));
  }

  /** The last `limit` audit entries (of one device, or all), oldest first. */
  auditTail(limit: number, deviceId?: bigint): AuditEntry[] {
    const n = Math.max(0, Math.min(MAX_AUDIT_TAIL, Math.floor(limit)));
    const rows = this.run('auditTail', (s) =>
      deviceId === undefined ? s.auditTail.all(n) : s.auditTailOf.all(dec(deviceId, 'device id'), n),
    );
    return rows.reverse().map(rowToAudit);
  }

  /** SQLite's own consistency check: 'ok' or the problems it found. */
  integrityCheck(): string {
    const db = this.requireDb('integrityCheck');
    try {
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      return rows.map((r) => r.integrity_check).join('\n');
    } catch (e) {
      throw storeError('integrityCheck', e);
    }
  }

  private requireDb(what: string): Database.Database {
    if (!this.db) throw new LatchkeyError('STORE_FAILED', `store: ${what} called before start()`);
    return this.db;
  }

  private run<T>(what: string, fn: (s: Statements) => T): T {
    const s = this.st;
    if (!s) throw new LatchkeyError('STORE_FAILED', `store: ${what} called before start()`);
    try {
      return fn(s);
    } catch (e) {
      throw storeError(what, e);
    }
  }
}

function blockNumber(block: number, field: string): void {
  if (!Number.isSafeInteger(block) || block < 0)
    throw new TypeError(`store: ${field} must be an integer >= 0`);
}

function digestKey(digestHex: string): string {
  if (typeof digestHex !== 'string' || !DIGEST_RE.test(digestHex))
    throw new TypeError('store: nonce digest must be 0x + 64 hex');
  return digestHex.toLowerCase();
}

/** Applies the migrations this database lacks, in one IMMEDIATE transaction so two processes never race. */
function migrate(db: Database.Database): void {
  const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  const current = (): number => {
    const exists = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
      .get();
    if (!exists) return 0;
    const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
    return row.v ?? 0;
  };
  const before = current();
  if (before > latest)
    throw new LatchkeyError(
      'STORE_FAILED',
      `store: database schema v${before} is newer than this agent understands (v${latest})`,
    );
  if (before === latest) return;
  db.transaction(() => {
    db.exec(SCHEMA_VERSION_TABLE);
    const from = current();
    const record = db.prepare(
      'INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)',
    );
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      db.exec(m.sql);
      record.run(m.version, m.description, Math.floor(Date.now() / 1000));
    }
  }).immediate();
}
