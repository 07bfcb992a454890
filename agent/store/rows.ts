// Conversions between the store's records and SQLite rows (bigints as decimal TEXT, addresses lower-case).

import type {
  AuditEntry,
  DeviceRuntime,
  RentalStatus,
  RentalUndo,
  StoredReceipt,
  StoredRental,
} from './store.js';

export interface RentalRow {
  id: string;
  device_id: string;
  guest: string;
  start: string;
  end: string;
  deposit: string;
  price_per_second: string;
  price_per_wh: string;
  signer: string;
  max_watts: string;
  cancel_window: string;
  status: RentalStatus;
  block_number: number;
  block_hash: string;
}

export interface RentalUndoRow {
  block: number;
  rental_id: string;
  before_device_id: string | null;
  before_guest: string | null;
  before_start: string | null;
  before_end: string | null;
  before_deposit: string | null;
  before_price_per_second: string | null;
  before_price_per_wh: string | null;
  before_signer: string | null;
  before_max_watts: string | null;
  before_cancel_window: string | null;
  before_status: RentalStatus | null;
  before_block_number: number | null;
  before_block_hash: string | null;
  receipt_before: StoredReceipt['status'] | null;
}

export interface ReceiptRow {
  rental_id: string;
  device_id: string;
  seconds_used: string;
  energy_wh: string;
  signature: string;
  status: StoredReceipt['status'];
  attempts: number;
  tx_hash: string | null;
  last_error: string | null;
  created_at: number;
}

export interface RuntimeRow {
  device_id: string;
  rental_id: string | null;
  relay_closed: 0 | 1;
  used_seconds: number;
  closed_since: number | null;
  energy_wh: number;
  updated_at: number;
}

export interface AuditRow {
  at: number;
  device_id: string;
  rental_id: string | null;
  action: string;
  actor: string;
  outcome: AuditEntry['outcome'];
  reason: string;
}

/** Decimal TEXT of a non-negative bigint; refuses anything else so a bad value never lands on disk. */
export function dec(value: bigint, field: string): string {
  if (typeof value !== 'bigint' || value < 0n) throw new TypeError(`store: ${field} must be a bigint >= 0`);
  return value.toString(10);
}

export function hex(value: string, field: string): string {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]*$/.test(value))
    throw new TypeError(`store: ${field} must be 0x-prefixed hex`);
  return value.toLowerCase();
}

export function rentalToRow(r: StoredRental): RentalRow {
  return {
    id: dec(r.id, 'rental.id'),
    device_id: dec(r.deviceId, 'rental.deviceId'),
    guest: hex(r.guest, 'rental.guest'),
    start: dec(r.start, 'rental.start'),
    end: dec(r.end, 'rental.end'),
    deposit: dec(r.deposit, 'rental.deposit'),
    price_per_second: dec(r.pricePerSecond, 'rental.pricePerSecond'),
    price_per_wh: dec(r.pricePerWh, 'rental.pricePerWh'),
    signer: hex(r.signer, 'rental.signer'),
    max_watts: dec(r.maxWatts, 'rental.maxWatts'),
    cancel_window: dec(r.cancelWindow, 'rental.cancelWindow'),
    status: r.status,
    block_number: r.blockNumber,
    block_hash: hex(r.blockHash, 'rental.blockHash'),
  };
}

export function rowToRental(row: RentalRow): StoredRental {
  return {
    id: BigInt(row.id),
    guest: row.guest,
    start: BigInt(row.start),
    end: BigInt(row.end),
    deposit: BigInt(row.deposit),
    pricePerSecond: BigInt(row.price_per_second),
    pricePerWh: BigInt(row.price_per_wh),
    signer: row.signer,
    maxWatts: BigInt(row.max_watts),
    cancelWindow: BigInt(row.cancel_window),
    deviceId: BigInt(row.device_id),
    status: row.status,
    blockNumber: row.block_number,
    blockHash: row.block_hash,
  };
}

export function undoToRow(u: RentalUndo): RentalUndoRow {
  if (!Number.isSafeInteger(u.block) || u.block < 0)
    throw new TypeError('store: rental undo block must be an integer >= 0');
  const b = u.before === undefined ? undefined : rentalToRow(u.before);
  if (b && b.id !== dec(u.rentalId, 'undo.rentalId'))
    throw new TypeError('store: rental undo before.id differs from rentalId');
  return {
    block: u.block,
    rental_id: dec(u.rentalId, 'undo.rentalId'),
    before_device_id: b?.device_id ?? null,
    before_guest: b?.guest ?? null,
    before_start: b?.start ?? null,
    before_end: b?.end ?? null,
    before_deposit: b?.deposit ?? null,
    before_price_per_second: b?.price_per_second ?? null,
    before_price_per_wh: b?.price_per_wh ?? null,
    before_signer: b?.signer ?? null,
    before_max_watts: b?.max_watts ?? null,
    before_cancel_window: b?.cancel_window ?? null,
    before_status: b?.status ?? null,
    before_block_number: b?.block_number ?? null,
    before_block_hash: b?.block_hash ?? null,
    receipt_before: u.receiptBefore ?? null,
  };
}

export function rowToUndo(row: RentalUndoRow): RentalUndo {
  const out: RentalUndo = { block: row.block, rentalId: BigInt(row.rental_id) };
  // The table's CHECK keeps the before_ columns all NULL or all set.
  if (row.before_status !== null)
    out.before = rowToRental({
      id: row.rental_id,
      device_id: row.before_device_id as string,
      guest: row.before_guest as string,
      start: row.before_start as string,
      end: row.before_end as string,
      deposit: row.before_deposit as string,
      price_per_second: row.before_price_per_second as string,
      price_per_wh: row.before_price_per_wh as string,
      signer: row.before_signer as string,
      max_watts: row.before_max_watts as string,
      cancel_window: row.before_cancel_window as string,
      status: row.before_status,
      block_number: row.before_block_number as number,
      block_hash: row.before_block_hash as string,
    });
  if (row.receipt_before !== null) out.receiptBefore = row.receipt_before;
  return out;
}

export function receiptToRow(r: StoredReceipt): ReceiptRow {
  return {
    rental_id: dec(r.rentalId, 'receipt.rentalId'),
    device_id: dec(r.deviceId, 'receipt.deviceId'),
    seconds_used: dec(r.receipt.secondsUsed, 'receipt.secondsUsed'),
    energy_wh: dec(r.receipt.energyWh, 'receipt.energyWh'),
    signature: hex(r.signature, 'receipt.signature'),
    status: r.status,
    attempts: r.attempts,
    tx_hash: r.txHash === undefined ? null : hex(r.txHash, 'receipt.txHash'),
    last_error: r.lastError ?? null,
    created_at: r.createdAt,
  };
}

export function rowToReceipt(row: ReceiptRow): StoredReceipt {
  const rentalId = BigInt(row.rental_id);
  const out: StoredReceipt = {
    rentalId,
    deviceId: BigInt(row.device_id),
    receipt: { rentalId, secondsUsed: BigInt(row.seconds_used), energyWh: BigInt(row.energy_wh) },
    signature: row.signature as `0x${string}`,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at,
  };
  if (row.tx_hash !== null) out.txHash = row.tx_hash;
  if (row.last_error !== null) out.lastError = row.last_error;
  return out;
}

export function runtimeToRow(s: DeviceRuntime): RuntimeRow {
  return {
    device_id: dec(s.deviceId, 'runtime.deviceId'),
    rental_id: s.rentalId === undefined ? null : dec(s.rentalId, 'runtime.rentalId'),
    relay_closed: s.relayClosed ? 1 : 0,
    used_seconds: s.usedSeconds,
    closed_since: s.closedSince ?? null,
    energy_wh: s.energyWh,
    updated_at: s.updatedAt,
  };
}

export function rowToRuntime(row: RuntimeRow): DeviceRuntime {
  const out: DeviceRuntime = {
    deviceId: BigInt(row.device_id),
    relayClosed: row.relay_closed === 1,
    usedSeconds: row.used_seconds,
    energyWh: row.energy_wh,
    updatedAt: row.updated_at,
  };
  if (row.rental_id !== null) out.rentalId = BigInt(row.rental_id);
  if (row.closed_since !== null) out.closedSince = row.closed_since;
  return out;
}

export function auditToRow(e: AuditEntry): AuditRow {
  return {
    at: e.at,
    device_id: dec(e.deviceId, 'audit.deviceId'),
    rental_id: e.rentalId === undefined ? null : dec(e.rentalId, 'audit.rentalId'),
    action: e.action,
    actor: e.actor,
    outcome: e.outcome,
    reason: e.reason,
  };
}

export function rowToAudit(row: AuditRow): AuditEntry {
  const out: AuditEntry = {
    at: row.at,
    deviceId: BigInt(row.device_id),
    action: row.action,
    actor: row.actor,
    outcome: row.outcome,
    reason: row.reason,
  };
  if (row.rental_id !== null) out.rentalId = BigInt(row.rental_id);
  return out;
}
