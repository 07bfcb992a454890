// The gateway's receipt keys: the current one and the ones it had before a rotation, so a rental made
// under an older signer still gets a receipt that settles it. Which key signs a rental's receipt is
// decided in one place, receiptKeyFor, from the address the rental is committed to.

import type { Store, StoredRental } from '../store/store.js';
import type { ReceiptSigner } from './receipts.js';

export class ReceiptKeys {
  /** Signs receipts of rentals made under this gateway's current key, and anything unknown. */
  readonly current: ReceiptSigner;
  private readonly byAddress = new Map<string, ReceiptSigner>();

  /** `previous`: keys this gateway signed with before, newest first; a duplicate of another is refused. */
  constructor(current: ReceiptSigner, previous: readonly ReceiptSigner[] = []) {
    this.current = current;
    for (const key of [current, ...previous]) {
      if (this.byAddress.has(key.address))
        throw new TypeError(
          `receipt keys: ${key.address} is given twice (current and previous keys must differ)`,
        );
      this.byAddress.set(key.address, key);
    }
  }

  /** Every address this gateway can sign for, current first. */
  get addresses(): string[] {
    return [...this.byAddress.keys()];
  }

  /** The key for `address` (any case), or undefined when this gateway never had it. */
  forAddress(address: string): ReceiptSigner | undefined {
    return this.byAddress.get(address.toLowerCase());
  }
}

/**
 * Where a rental's signer comes from: the address whose signature its checkout accepts. The contract
 * commits each rental to the device's signer when it is made (the rental's `signer` field), so a
 * later setSigner does not change it. Undefined: not known.
 */
export type RentalSignerOf = (rental: StoredRental) => string | undefined;

/**
 * The one choice of the key that signs `rental`'s receipt: the gateway's key for the rental's signer;
 * the current key when the signer is not known, or is a key this gateway does not hold (such a
 * receipt cannot settle; the rental then settles by time, and `matched` says so for the log).
 */
export function receiptKeyFor(
  keys: ReceiptKeys,
  signerOf: RentalSignerOf,
  rental: StoredRental,
): { key: ReceiptSigner; signer: string | undefined; matched: boolean } {
  const signer = signerOf(rental)?.toLowerCase();
  if (signer === undefined) return { key: keys.current, signer, matched: true };
  const key = keys.forAddress(signer);
  return key ? { key, signer, matched: true } : { key: keys.current, signer, matched: false };
}

/** The wiring when nothing says otherwise: every rental is taken to be under the current key. */
export const currentKeyOnly: RentalSignerOf = () => undefined;

/**
 * Re-signs the receipts of `deviceId` still waiting to be sent whose signature is not by the key
 * `receiptKeyFor` now chooses (after the rental's signer changed: a rotation on chain). Signatures are
 * deterministic (RFC 6979), so a receipt already signed by the chosen key is left as it is. Returns
 * the rentals whose receipt was re-signed.
 */
export function resignPendingReceipts(
  store: Store,
  keys: ReceiptKeys,
  signerOf: RentalSignerOf,
  deviceId: bigint,
): bigint[] {
  const changed: bigint[] = [];
  for (const r of store.pendingReceipts()) {
    if (r.deviceId !== deviceId || r.status !== 'pending') continue;
    const rental = store.getRental(r.rentalId);
    if (!rental) continue;
    const { key, matched } = receiptKeyFor(keys, signerOf, rental);
    if (!matched) continue;
    const signature = key.sign(r.receipt);
    if (signature !== r.signature && store.resignReceipt(r.rentalId, signature)) changed.push(r.rentalId);
  }
  return changed;
}
