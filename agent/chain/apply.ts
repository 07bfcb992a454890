// Applies decoded rental logs to the store, keeping an undo journal of recent changes (in the store, so
// it survives a restart) so that a reorg can put every touched rental back to what it was before the
// removed blocks. Runs inside store.tx.

import type { RentalStatus, RentalUndo, Store, StoredRental } from '../store/store.js';
import type { DecodedLog } from './decode.js';

/** What the watcher announces once the transaction that made the change has committed. */
export type ChainNotice =
  | { kind: 'rental'; rental: StoredRental }
  | { kind: 'closed'; rentalId: bigint; status: RentalStatus }
  | { kind: 'revoked'; rentalId: bigint };

export interface ApplyResult {
  applied: number;
  duplicates: number;
  /** Logs for rentals this store never saw rented (rented before startBlock): skipped. */
  unknown: number;
  notices: ChainNotice[];
}

export class RentalLedger {
  constructor(private readonly store: Store) {}

  /**
   * Applies logs in chain order; each is applied once (store.markLogSeen on txHash:logIndex) and
   * journalled (store.putRentalUndo). Call inside store.tx together with setCursor, so a crash keeps all
   * of a batch or none of it.
   */
  apply(logs: DecodedLog[]): ApplyResult {
    const result: ApplyResult = { applied: 0, duplicates: 0, unknown: 0, notices: [] };
    for (const log of logs) {
      if (!this.store.markLogSeen(log.key, log.blockNumber)) {
        result.duplicates++;
        continue;
      }
      const before = this.store.getRental(log.rentalId);
      const entry: RentalUndo = { block: log.blockNumber, rentalId: log.rentalId };
      if (before) entry.before = before;
      let after: StoredRental;
      switch (log.kind) {
        case 'Rented':
          after = {
            ...log.rental,
            deviceId: log.deviceId,
            status: 'open',
            blockNumber: log.blockNumber,
            blockHash: log.blockHash,
          };
          break;
        case 'Extended':
          if (!before) {
            result.unknown++;
            continue;
          }
          after = {
            ...before,
            end: log.end,
            deposit: log.deposit,
            // An Extended log proves the rental is open on this chain, even if a reorg revoked it.
            status: before.status === 'revoked' ? 'open' : before.status,
            blockNumber: log.blockNumber,
            blockHash: log.blockHash,
          };
          break;
        case 'Cancelled':
        case 'Settled': {
          if (!before) {
            result.unknown++;
            continue;
          }
          after = { ...before, status: log.kind === 'Cancelled' ? 'cancelled' : 'settled' };
          const receipt = this.store.getReceipt(log.rentalId);
          if (receipt) {
            // The submitter marks its own checkout settled once mined, usually before this log is
            // applied; if a reorg removes the log the receipt must go back in the queue all the same:
            // 'submitted' when a transaction is recorded (the submitter checks it first), else 'pending'.
            entry.receiptBefore =
              receipt.status !== 'settled' ? receipt.status : receipt.txHash ? 'submitted' : 'pending';
            if (receipt.status !== 'settled') this.store.updateReceipt(log.rentalId, { status: 'settled' });
          }
          break;
        }
      }
      this.store.putRental(after);
      this.store.putRentalUndo(entry);
      result.applied++;
      result.notices.push(
        after.status === 'open'
          ? { kind: 'rental', rental: after }
          : { kind: 'closed', rentalId: after.id, status: after.status },
      );
    }
    return result;
  }

  /**
   * Blocks above `ancestor` that rentals point at, now or once the journal is undone: the watcher
   * fetches the chain's hashes of these before calling undoTo.
   */
  blocksAbove(ancestor: number): Set<number> {
    const blocks = new Set<number>();
    for (const r of this.store.rentalsFromBlock(ancestor + 1)) blocks.add(r.blockNumber);
    for (const e of this.store.rentalUndosFrom(ancestor + 1))
      if (e.before && e.before.blockNumber > ancestor) blocks.add(e.before.blockNumber);
    return blocks;
  }

  /**
   * Reorg back to `ancestor`: puts every rental changed by a log above it back as it was (a rental those
   * logs created becomes 'revoked'). A rental still pointing above `ancestor` at a block whose hash the
   * chain no longer has (`chainHashes`, from blocksAbove) was last changed before the journal began
   * (a store from before it was kept): it is revoked, failing closed. Returns the ids touched. Call
   * inside store.tx with forgetLogsFrom and setCursor, then rescan from ancestor + 1.
   */
  undoTo(ancestor: number, chainHashes: ReadonlyMap<number, string>): Set<bigint> {
    const touched = new Set<bigint>();
    for (const entry of this.store.rentalUndosFrom(ancestor + 1).reverse()) {
      touched.add(entry.rentalId);
      if (entry.before) this.store.putRental(entry.before);
      else this.store.setRentalStatus(entry.rentalId, 'revoked');
      if (entry.receiptBefore !== undefined)
        this.store.updateReceipt(entry.rentalId, { status: entry.receiptBefore });
    }
    this.store.forgetRentalUndosFrom(ancestor + 1);
    for (const rental of this.store.rentalsFromBlock(ancestor + 1)) {
      if (rental.status === 'revoked' || chainHashes.get(rental.blockNumber) === rental.blockHash) continue;
      touched.add(rental.id);
      this.store.setRentalStatus(rental.id, 'revoked');
    }
    return touched;
  }

  /** Drops journal entries below `block` (deeper than the watcher's reorg window). Call inside store.tx. */
  prune(block: number): void {
    this.store.pruneRentalUndosBelow(block);
  }
}
