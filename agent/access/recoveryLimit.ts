// Bounds signature recoveries (the one expensive step of a token check, ~2.5 ms of CPU each) per rental
// and overall. Keyed on the rental, which the sender cannot choose freely (it must be a known, open,
// in-time rental of this device), unlike its MQTT source; a device has at most one live rental at a time.
// Only failed recoveries are charged in the end: a recovery that finds the renter's signature is handed
// back (refund), so a renter's own tokens never drain the budget; only the renter's key can make them.

import { type Bucket, refill } from '../tokenBucket.js';

export interface RecoveryLimitOptions {
  /** Recoveries a rental may use in a burst (default 10). */
  burst: number;
  /** Refill of a rental's bucket, recoveries per second (default 5). */
  perSecond: number;
  /** Failed recoveries (bad signature, not the renter) on a rental within windowSeconds that put it on
   *  the tight budget (default 20 within 10 s). */
  maxFailures: number;
  windowSeconds: number;
  /** How long a rental stays on the tight budget after its last failure streak (default 30 s). */
  penaltySeconds: number;
  /** The tight budget: recoveries per second while penalised, burst 1 (default 0.2: one per 5 s). */
  penaltyPerSecond: number;
  /** Recoveries per second across all rentals, a backstop (default 150: well under half of a core). */
  globalPerSecond: number;
  /** Rentals remembered at most; least recently seen forgotten first (default 10,000). */
  maxRentals: number;
}

export const DEFAULT_RECOVERY_LIMIT: RecoveryLimitOptions = {
  burst: 10,
  perSecond: 5,
  maxFailures: 20,
  windowSeconds: 10,
  penaltySeconds: 30,
  penaltyPerSecond: 0.2,
  globalPerSecond: 150,
  maxRentals: 10_000,
};

/**
 * The same limiter for session tokens' P-256 checks (~0.1 ms each, native): large enough that a flood
 * of 1,000 forged tokens a second against one rental never empties the rental's bucket, so its guest is
 * never refused; the penalty is left unused (the gate never reports session failures). Per path: the
 * gate keeps one of these for MQTT and one for LAN HTTP.
 */
export const DEFAULT_SESSION_CHECK_LIMIT: RecoveryLimitOptions = {
  ...DEFAULT_RECOVERY_LIMIT,
  burst: 2_000,
  perSecond: 2_000,
  globalPerSecond: 4_000,
};

/**
 * The same limiter for session grants' recoveries (the one wallet signature per rental and browser), on
 * its own and per path: bad wallet tokens, which put a rental's token budget on its penalty, and a flood
 * of forged grants on the other path leave a guest's grant its full budget. Failed grants are penalised
 * as failed tokens are. 25/s per path across all rentals: at ~2.5 ms a recovery, an eighth of a core for
 * both paths together, on top of the tokens' 150/s.
 */
export const DEFAULT_GRANT_CHECK_LIMIT: RecoveryLimitOptions = {
  ...DEFAULT_RECOVERY_LIMIT,
  globalPerSecond: 25,
};

interface RentalState extends Bucket {
  failures: number;
  firstFailureAtMs: number;
  penalisedUntilMs: number;
}

export type RecoveryAdmission = { admitted: true } | { admitted: false; why: string };

export class RecoveryLimiter {
  private readonly opts: RecoveryLimitOptions;
  private readonly rentals = new Map<bigint, RentalState>();
  private readonly global: Bucket;

  constructor(options: Partial<RecoveryLimitOptions> = {}) {
    this.opts = { ...DEFAULT_RECOVERY_LIMIT, ...options };
    for (const [k, v] of Object.entries(this.opts))
      if (!(typeof v === 'number' && v > 0))
        throw new RangeError(`recoveryLimit.${k} must be a positive number`);
    // The global bucket holds one second's worth: a burst across many rentals is still bounded.
    this.global = { tokens: this.opts.globalPerSecond, refilledAtMs: Number.NEGATIVE_INFINITY };
  }

  /** Takes one recovery from the rental's budget and the global one; refused without taking either. */
  admit(rentalId: bigint, nowMs: number): RecoveryAdmission {
    const s = this.state(rentalId, nowMs);
    const penalised = s.penalisedUntilMs > nowMs;
    const rate = penalised ? this.opts.penaltyPerSecond : this.opts.perSecond;
    const cap = penalised ? 1 : this.opts.burst;
    refill(s, nowMs, rate, cap);
    if (s.tokens < 1)
      return {
        admitted: false,
        why: penalised
          ? `too many badly signed tokens for rental ${rentalId}; its tokens are checked at most every ${Math.round(1 / rate)} s for now`
          : `too many tokens for rental ${rentalId}; retry in ${Math.ceil((1 - s.tokens) / rate)} s`,
      };
    refill(this.global, nowMs, this.opts.globalPerSecond, this.opts.globalPerSecond);
    if (this.global.tokens < 1)
      return { admitted: false, why: 'the gateway is checking too many signatures; retry in 1 s' };
    s.tokens -= 1;
    this.global.tokens -= 1;
    return { admitted: true };
  }

  /** Hands back the recovery taken by admit(): it found the renter's signature. */
  refund(rentalId: bigint, nowMs: number): void {
    const s = this.state(rentalId, nowMs);
    s.tokens = Math.min(s.penalisedUntilMs > nowMs ? 1 : this.opts.burst, s.tokens + 1);
    this.global.tokens = Math.min(this.opts.globalPerSecond, this.global.tokens + 1);
  }

  /** Counts a failed recovery; true when it puts the rental on the tight budget (log it once). */
  failed(rentalId: bigint, nowMs: number): boolean {
    const s = this.state(rentalId, nowMs);
    if (s.failures === 0 || nowMs - s.firstFailureAtMs > this.opts.windowSeconds * 1000) {
      s.failures = 0;
      s.firstFailureAtMs = nowMs;
    }
    s.failures++;
    if (s.failures < this.opts.maxFailures) return false;
    const wasPenalised = s.penalisedUntilMs > nowMs;
    s.penalisedUntilMs = nowMs + this.opts.penaltySeconds * 1000;
    s.failures = 0;
    if (!wasPenalised) s.tokens = Math.min(s.tokens, 1);
    return !wasPenalised;
  }

  /** Number of rentals currently remembered (bounded by maxRentals). */
  get size(): number {
    return this.rentals.size;
  }

  private state(rentalId: bigint, nowMs: number): RentalState {
    let s = this.rentals.get(rentalId);
    if (s) {
      this.rentals.delete(rentalId); // re-inserted below: Map order is least recently seen first
    } else {
      s = {
        tokens: this.opts.burst,
        refilledAtMs: nowMs,
        failures: 0,
        firstFailureAtMs: 0,
        penalisedUntilMs: 0,
      };
      while (this.rentals.size >= this.opts.maxRentals) {
        const oldest = this.rentals.keys().next();
        if (oldest.done) break;
        this.rentals.delete(oldest.value);
      }
    }
    this.rentals.set(rentalId, s);
    return s;
  }
}
