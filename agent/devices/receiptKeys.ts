// The gateway's receipt keys: the current one and the ones it had before a rotation, so a rental made
// under an older signer still gets a receipt that settles it. Which key signs a rental's receipt is
// decided in one place, receiptKeyFor, from the address the rental is committed to.

import type { StoredRental } from '../store/store.js';
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

const ZERO_ADDRESS = `0x${'00'.repeat(20)}`;

/**
 * The wiring when nothing says otherwise: the signer the rental committed to. A row from a store
 * before migration 5 has none (the zero address: a rental of a contract before version 2, whose
 * checkout this agent no longer speaks); its receipt is signed by the current key.
 */
export const committedSigner: RentalSignerOf = (rental) =>
  rental.signer.toLowerCase() === ZERO_ADDRESS ? undefined : rental.signer;
