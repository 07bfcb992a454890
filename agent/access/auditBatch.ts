// Refusal audit entries, written in batches: one transaction (one fsync) per flush instead of one per
// refused token, so a flood of bad tokens does not become a flood of synchronous disk commits.
// Trade-off, accepted on purpose: on power loss up to one flush interval (~1 s) of REFUSAL entries is
// lost. Grants never pass through here: they are audited in the transaction that records their nonce.

import type { Logger } from '../log.js';
import type { AuditEntry, Store } from '../store/store.js';

export interface AuditBatchOptions {
  /** Flush at the latest this long after the first buffered entry (default 1000 ms). */
  flushMs: number;
  /** Flush as soon as this many entries are buffered (default 200). */
  maxEntries: number;
}

export const DEFAULT_AUDIT_BATCH: AuditBatchOptions = { flushMs: 1000, maxEntries: 200 };

export class AuditBatch {
  private readonly opts: AuditBatchOptions;
  private pending: AuditEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    options: Partial<AuditBatchOptions> = {},
  ) {
    this.opts = { ...DEFAULT_AUDIT_BATCH, ...options };
    for (const [k, v] of Object.entries(this.opts))
      if (!(typeof v === 'number' && v > 0))
        throw new RangeError(`auditBatch.${k} must be a positive number`);
  }

  /** Buffers one entry; after stop() it is written at once. */
  add(entry: AuditEntry): void {
    this.pending.push(entry);
    if (this.stopped || this.pending.length >= this.opts.maxEntries) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
      this.timer.unref();
    }
  }

  /** Entries buffered and not yet written. */
  get size(): number {
    return this.pending.length;
  }

  /** Writes every buffered entry in one transaction. A failing store loses them (logged), never throws. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const entries = this.pending;
    this.pending = [];
    try {
      this.store.tx(() => {
        for (const e of entries) this.store.audit(e);
      });
    } catch (e) {
      this.log.error('access: could not audit refusals', { error: e, lost: entries.length });
    }
  }

  /** Flushes what is buffered; later entries are written one by one. */
  stop(): void {
    this.stopped = true;
    this.flush();
  }
}
