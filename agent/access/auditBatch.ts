// Refusal audit entries, written in batches: one transaction (one fsync) per flush instead of one per
// refused token, so a flood of bad tokens does not become a flood of synchronous disk commits.
// Trade-off, accepted on purpose: on power loss up to one flush interval (~1 s) of REFUSAL entries is
// lost. Grants never pass through here: they are audited in the transaction that records their nonce.
//
// Itemised refusals are also budgeted globally. The per-source limiter cannot bound the audit log: the
// source is the sender's choice, so a flood with a new source per token is admitted token by token, and
// at 1,000 tokens/s one row each is ~15 GB a day until the disk is full (then grants and the boot audit
// fail). Over the budget a refusal is only counted, and the counts go to disk as one summary row, so the
// log still says that something happened and how much.

import type { Logger } from '../log.js';
import type { AuditEntry, Store } from '../store/store.js';
import { type Bucket, takeToken } from '../tokenBucket.js';

export interface AuditBatchOptions {
  /** Flush at the latest this long after the first buffered entry (default 1000 ms). */
  flushMs: number;
  /** Flush as soon as this many entries are buffered (default 200). */
  maxEntries: number;
  /** Refusals itemised in a burst before the budget applies (default 200). */
  budgetBurst: number;
  /** Budget refill, itemised refusals per second (default 0.1: one per 10 s). */
  budgetPerSecond: number;
  /** A summary of the refusals over the budget is written at most this often (default 10,000 ms). */
  summaryMs: number;
}

// Sizing, with rows measured at ~155 bytes on disk (short source and message) and at most ~450 bytes
// (a 200-character source): under a sustained flood of any rate the log grows by 0.1 × 86,400 = 8,640
// itemised rows plus 8,640 summary rows (~260 bytes each) a day, ~2 MB typical and under ~7 MB at worst.
// A burst of 200 keeps every honest incident in full: one honest source is locked out after 20 bad
// tokens in a minute, so it cannot write more than ~22 rows a minute, far below the burst. The summary
// is written at the first flush of a flood (within ~1 s), then every 10 s: on power loss at most ~10 s
// of counts are lost, on top of the ~1 s of buffered entries.
export const DEFAULT_AUDIT_BATCH: AuditBatchOptions = {
  flushMs: 1000,
  maxEntries: 200,
  budgetBurst: 200,
  budgetPerSecond: 0.1,
  summaryMs: 10_000,
};

/** deviceId of a summary row: device ids start at 1 (the config refuses 0), so 0 is the gateway itself. */
export const GATEWAY_DEVICE_ID = 0n;
export const SUMMARY_ACTOR = 'gateway';
export const SUMMARY_ACTION = 'summary';

export class AuditBatch {
  private readonly opts: AuditBatchOptions;
  private pending: AuditEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** The budget of refusals written one by one. */
  private readonly budget: Bucket;
  /** Refusals over the budget since the last summary row, by kind. */
  private uncounted = new Map<string, number>();
  private uncountedAt = 0;
  private lastSummaryAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    options: Partial<AuditBatchOptions> = {},
    /** Monotonic ms for the budget and the summary interval. */
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.opts = { ...DEFAULT_AUDIT_BATCH, ...options };
    for (const [k, v] of Object.entries(this.opts))
      if (!(typeof v === 'number' && v > 0))
        throw new RangeError(`auditBatch.${k} must be a positive number`);
    this.budget = { tokens: this.opts.budgetBurst, refilledAtMs: nowMs() };
  }

  /**
   * Buffers one entry if the budget allows, else counts it under `kind` for the next summary row.
   * Returns whether it is itemised. After stop() the entry (or the summary) is written at once.
   */
  add(entry: AuditEntry, kind: string): boolean {
    const itemised = this.take();
    if (itemised) this.pending.push(entry);
    else {
      this.uncounted.set(kind, (this.uncounted.get(kind) ?? 0) + 1);
      this.uncountedAt = entry.at;
    }
    if (this.stopped || this.pending.length >= this.opts.maxEntries) this.write(this.stopped);
    else this.arm();
    return itemised;
  }

  /** Entries buffered and not yet written. */
  get size(): number {
    return this.pending.length;
  }

  /** Writes every buffered entry and the summary of the rest in one transaction. Never throws. */
  flush(): void {
    this.write(true);
  }

  /** Flushes what is buffered; later entries are written one by one. */
  stop(): void {
    this.stopped = true;
    this.write(true);
  }

  private take(): boolean {
    return takeToken(this.budget, this.nowMs(), this.opts.budgetPerSecond, this.opts.budgetBurst);
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.write(false), this.opts.flushMs);
    this.timer.unref();
  }

  /** A failing store loses the batch and its counts (logged), never throws. */
  private write(summaryNow: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.nowMs();
    const summary =
      this.uncounted.size > 0 && (summaryNow || now - this.lastSummaryAtMs >= this.opts.summaryMs)
        ? this.summary()
        : undefined;
    // Counts held back for the next summary still need a timer to get there.
    if (this.uncounted.size > 0) this.arm();
    if (this.pending.length === 0 && !summary) return;
    const entries = this.pending;
    this.pending = [];
    if (summary) this.lastSummaryAtMs = now;
    try {
      this.store.tx(() => {
        for (const e of entries) this.store.audit(e);
        if (summary) this.store.audit(summary.entry);
      });
    } catch (e) {
      this.log.error('access: could not audit refusals', {
        error: e,
        lost: entries.length,
        lostUncounted: summary?.count ?? 0,
      });
    }
  }

  /** The summary row of the counted refusals; resets the counts. */
  private summary(): { entry: AuditEntry; count: number } {
    const byKind = [...this.uncounted].sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb));
    const count = byKind.reduce((n, [, c]) => n + c, 0);
    const counts = byKind.map(([k, c]) => `${k} ${c}`).join(', ');
    this.uncounted = new Map();
    return {
      count,
      entry: {
        at: this.uncountedAt,
        deviceId: GATEWAY_DEVICE_ID,
        action: SUMMARY_ACTION,
        actor: SUMMARY_ACTOR,
        outcome: 'refused',
        reason: `${count} refusals not itemised (audit budget): by reason: ${counts}`,
      },
    };
  }
}
