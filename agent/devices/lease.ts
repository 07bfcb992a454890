// A rental's lease: a monotonic timer that fires at rental end by itself, so a stepped wall
// clock can neither end a grant early nor extend it, and nothing outside the process is needed.

/** setTimeout's longest delay; longer leases re-arm in chunks. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export class Lease {
  private deadlineMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly monotonicMs: () => number,
    private readonly onExpire: () => void,
  ) {}

  /** Fire `onExpire` after `seconds` of monotonic time (at once when ≤ 0). Replaces any earlier arm. */
  arm(seconds: number): void {
    this.cancel();
    this.deadlineMs = this.monotonicMs() + Math.max(0, seconds) * 1000;
    this.schedule();
  }

  /**
   * Move the deadline by `seconds` (an on-chain extension adds exactly what it bought). Also
   * works from inside `onExpire`: the lease re-arms from its old deadline, not from now.
   */
  extend(seconds: number): void {
    if (this.deadlineMs === undefined) return;
    this.deadlineMs += seconds * 1000;
    this.schedule();
  }

  /** True while a deadline is pending (armed and not yet fired). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Milliseconds left, or undefined when not armed. */
  remainingMs(): number | undefined {
    return this.deadlineMs === undefined ? undefined : Math.max(0, this.deadlineMs - this.monotonicMs());
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.deadlineMs = undefined;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const left = this.remainingMs() ?? 0;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if ((this.remainingMs() ?? 0) > 0) {
          this.schedule();
          return;
        }
        // The deadline is kept until cancel() so an extension found at expiry counts from it.
        this.onExpire();
      },
      Math.min(left, MAX_TIMEOUT_MS),
    );
  }
}
