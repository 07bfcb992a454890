// Closing out a rental in the store, atomically: the signed usage receipt when one is due, the
// device back to idle and the audit entry. Exactly one receipt per rental (putReceipt decides).

import type { Receipt } from '../../contracts/typedData.js';
import type {
  AuditEntry,
  DeviceRuntime,
  RentalStatus,
  Store,
  StoredReceipt,
  StoredRental,
} from '../store/store.js';
import type { ReceiptSigner } from './receipts.js';

export type EndReason = 'ended' | 'revoked' | 'settled' | 'cancelled';

/**
 * Why the rental really ends: the store's status wins over the caller's word, so a rental reorged
 * out or cancelled never gets a receipt, and one settled by time on chain gets none of ours.
 */
export function effectiveReason(status: RentalStatus, requested: EndReason): EndReason {
  if (status === 'revoked' || status === 'cancelled') return status;
  if (status === 'settled' && requested === 'ended') return 'settled';
  return requested;
}

/** The usage receipt: whole seconds (never more than booked) and whole watt-hours, rounded down. */
export function usageReceipt(rental: StoredRental, usedSeconds: number, energyWh: number): Receipt {
  const booked = rental.end > rental.start ? rental.end - rental.start : 0n;
  const seconds = BigInt(Math.max(0, Math.floor(usedSeconds)));
  return {
    rentalId: rental.id,
    secondsUsed: seconds < booked ? seconds : booked,
    energyWh: BigInt(Math.max(0, Math.floor(energyWh))),
  };
}

export interface CloseOut {
  store: Store;
  signer: ReceiptSigner;
  deviceId: bigint;
  rental: StoredRental;
  requested: EndReason;
  actor: string;
  why: string;
  usedSeconds: number;
  energyWh: number;
  /** Unix seconds for the receipt's createdAt, the runtime and the audit entry. */
  at: number;
  /** Whether the device's runtime is reset to idle; false when the rental was never on the device. */
  resetRuntime?: boolean;
  /** Why no receipt is signed although one is due (its signer is revoked); for the audit entry. */
  noReceipt?: string;
}

/**
 * Stores the close-out in one transaction. A crash before it commits leaves the runtime naming the
 * rental, so the next start closes it out again. Returns the rental's receipt (if any) and whether
 * this call created it.
 */
export function closeOut(c: CloseOut): { receipt?: StoredReceipt; created: boolean; reason: EndReason } {
  const reason = effectiveReason(c.store.getRental(c.rental.id)?.status ?? c.rental.status, c.requested);
  let fresh: StoredReceipt | undefined;
  if (reason === 'ended' && c.noReceipt === undefined) {
    const receipt = usageReceipt(c.rental, c.usedSeconds, c.energyWh);
    fresh = {
      rentalId: c.rental.id,
      deviceId: c.deviceId,
      receipt,
      signature: c.signer.sign(receipt),
      status: 'pending',
      attempts: 0,
      createdAt: c.at,
    };
  }
  const idle: DeviceRuntime = {
    deviceId: c.deviceId,
    relayClosed: false,
    usedSeconds: 0,
    energyWh: 0,
    updatedAt: c.at,
  };
  return c.store.tx(() => {
    const created = fresh ? c.store.putReceipt(fresh) : false;
    const receipt = created
      ? fresh
      : reason === 'ended' || reason === 'settled'
        ? c.store.getReceipt(c.rental.id)
        : undefined;
    if (c.resetRuntime !== false) c.store.putDeviceRuntime(idle);
    const entry: AuditEntry = {
      at: c.at,
      deviceId: c.deviceId,
      rentalId: c.rental.id,
      action: 'end',
      actor: c.actor,
      outcome: 'ok',
      reason: `${c.why}; ${
        receipt
          ? `receipt ${receipt.receipt.secondsUsed}s ${receipt.receipt.energyWh}Wh${created ? '' : ' (existing)'}`
          : `no receipt (${c.noReceipt ?? reason})`
      }`,
    };
    c.store.audit(entry);
    return receipt ? { receipt, created, reason } : { created, reason };
  });
}
