// The time the agent may act on: the wall clock, but only once it is plausibly right. A Pi without an
// RTC boots in 1970 and a clock can be stepped either way; none of that may make a token or a rental
// look valid, nor end a rental early.

/** How far the wall clock may trail the chain (block timestamps run a little ahead on some chains). */
export const CHAIN_TOLERANCE_SECONDS = 300;

/**
 * How far the wall clock may run ahead of the chain. The chain time we know trails real time: a block
 * is stamped when it is built (seconds behind on L1, up to minutes on common L2s that batch), we read
 * the confirmed block a few blocks behind the head, and only every poll. 15 minutes covers all of that
 * with room, while a clock stepped forward by an hour or a day (a bad NTP answer, an RTC set wrongly)
 * is caught instead of ending every rental early.
 */
export const CHAIN_AHEAD_TOLERANCE_SECONDS = 900;

/** Where the clock reads time from; injectable for tests. */
export interface TimeSource {
  /** Wall clock, ms since the epoch (Date.now()). */
  wallMs(): number;
  /** A monotonic clock in ms (performance.now()): never steps, whatever the wall clock does. */
  monoMs(): number;
}

export const systemTime: TimeSource = { wallMs: () => Date.now(), monoMs: () => performance.now() };

export class TrustedClock {
  private readonly floorSeconds: number;
  private readonly time: TimeSource;
  private readonly toleranceSeconds: number;
  private readonly aheadToleranceSeconds: number;
  // The latest chain time seen, and the monotonic time when it was seen.
  private chainSeconds: number | undefined;
  private chainSeenAtMs = 0;

  /**
   * `floorSeconds`: no real time is earlier than this (e.g. the build date of the agent). Before any
   * chain block is observed the wall clock is trusted only from the floor on, with no upper bound.
   */
  constructor(
    floorSeconds: number,
    time: TimeSource = systemTime,
    toleranceSeconds = CHAIN_TOLERANCE_SECONDS,
    aheadToleranceSeconds = CHAIN_AHEAD_TOLERANCE_SECONDS,
  ) {
    this.floorSeconds = floorSeconds;
    this.time = time;
    this.toleranceSeconds = toleranceSeconds;
    this.aheadToleranceSeconds = aheadToleranceSeconds;
  }

  /** Feeds a block timestamp (unix seconds) from the chain; older ones than already known are ignored. */
  observe(chainTimestamp: number): void {
    if (!Number.isFinite(chainTimestamp) || chainTimestamp <= 0) return;
    const estimate = this.chainEstimate();
    if (estimate !== undefined && chainTimestamp <= estimate) return;
    this.chainSeconds = chainTimestamp;
    this.chainSeenAtMs = this.time.monoMs();
  }

  /**
   * Unix seconds from the wall clock, or undefined while it is earlier than the floor or than the
   * chain time (the last block timestamp carried forward on the monotonic clock) minus the tolerance,
   * or later than that chain time plus the ahead tolerance. Carrying it forward means a clock stepped
   * back or forward a day is caught even while the chain is unreachable.
   */
  now(): number | undefined {
    const wall = Math.floor(this.time.wallMs() / 1000);
    if (wall < this.earliestTrusted()) return undefined;
    const latest = this.latestTrusted();
    return latest === undefined || wall <= latest ? wall : undefined;
  }

  /**
   * Whether a chain time has been seen, so the wall clock is bounded on both sides. Before that only
   * the floor applies: a clock far ahead passes, so nothing irreversible may be decided by it alone.
   */
  anchored(): boolean {
    return this.chainSeconds !== undefined;
  }

  /** The raw wall clock in unix seconds, trusted or not: for timestamps in logs, never for decisions. */
  wall(): number {
    return Math.floor(this.time.wallMs() / 1000);
  }

  /** The earliest wall time (unix seconds) that is trusted right now; for health reports. */
  earliestTrusted(): number {
    const estimate = this.chainEstimate();
    return estimate === undefined
      ? this.floorSeconds
      : Math.max(this.floorSeconds, Math.floor(estimate) - this.toleranceSeconds);
  }

  /** The latest wall time (unix seconds) that is trusted right now; undefined before any chain time. */
  latestTrusted(): number | undefined {
    const estimate = this.chainEstimate();
    return estimate === undefined ? undefined : Math.floor(estimate) + this.aheadToleranceSeconds;
  }

  private chainEstimate(): number | undefined {
    if (this.chainSeconds === undefined) return undefined;
    const elapsed = Math.max(0, this.time.monoMs() - this.chainSeenAtMs) / 1000;
    return this.chainSeconds + elapsed;
  }
}
