// Usage metering of one rental: seconds the relay was closed (summed on a monotonic clock so a
// wall-clock step adds or removes nothing) and watt-hours reported by an energy meter.

export class UsageMeter {
  private baseMs = 0;
  private closedAtMs: number | undefined;
  private wh = 0;

  constructor(private readonly monotonicMs: () => number) {}

  /** Start a rental's metering from what was already counted (e.g. persisted before a restart). */
  reset(usedSeconds = 0, energyWh = 0): void {
    this.baseMs = usedSeconds * 1000;
    this.wh = energyWh;
    this.closedAtMs = undefined;
  }

  /** The relay closed now; count from here. Idempotent. */
  closed(): void {
    if (this.closedAtMs === undefined) this.closedAtMs = this.monotonicMs();
  }

  /** The relay opened (or was commanded open) now; stop counting. Idempotent. */
  opened(): void {
    if (this.closedAtMs === undefined) return;
    this.baseMs += Math.max(0, this.monotonicMs() - this.closedAtMs);
    this.closedAtMs = undefined;
  }

  get running(): boolean {
    return this.closedAtMs !== undefined;
  }

  /** Seconds closed so far, including the current closed interval up to now. */
  usedSeconds(): number {
    const open = this.closedAtMs === undefined ? 0 : Math.max(0, this.monotonicMs() - this.closedAtMs);
    return (this.baseMs + open) / 1000;
  }

  addEnergy(wh: number): void {
    this.wh += wh;
  }

  get energyWh(): number {
    return this.wh;
  }
}
