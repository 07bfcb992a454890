// Per-source flood control for access tokens: a token bucket for volume, and a lockout after too many
// consecutive refusals. State is bounded: the least recently seen sources are forgotten first.

import { type Bucket, refill } from '../tokenBucket.js';

export interface RateLimitOptions {
  /** Tokens a source may send in a burst. */
  burst: number;
  /** Bucket refill, tokens per second. */
  perSecond: number;
  /** Consecutive refusals (within windowSeconds) that lock a source out. */
  maxRejections: number;
  windowSeconds: number;
  lockoutSeconds: number;
  /** Sources remembered at most. */
  maxSources: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = {
  burst: 20,
  perSecond: 2,
  maxRejections: 20,
  windowSeconds: 60,
  lockoutSeconds: 60,
  maxSources: 10_000,
};

interface SourceState extends Bucket {
  rejections: number;
  firstRejectionAtMs: number;
  lockedUntilMs: number;
  /** Refusals not written to the audit log one by one while the source was limited. */
  suppressed: number;
}

export type Admission =
  | { admitted: true; suppressed: number }
  | { admitted: false; lockedOut: boolean; retryAfterSeconds: number };

export class SourceLimiter {
  private readonly opts: RateLimitOptions;
  private readonly sources = new Map<string, SourceState>();

  constructor(options: Partial<RateLimitOptions> = {}) {
    this.opts = { ...DEFAULT_RATE_LIMIT, ...options };
    for (const [k, v] of Object.entries(this.opts))
      if (!(typeof v === 'number' && v > 0)) throw new RangeError(`rateLimit.${k} must be a positive number`);
  }

  /**
   * Takes one token from the source's bucket. When admitted, `suppressed` is how many refusals since
   * the last admission were not audited one by one (the caller audits them as one entry).
   */
  admit(source: string, nowMs: number): Admission {
    const s = this.state(source, nowMs);
    if (s.lockedUntilMs > nowMs) {
      s.suppressed++;
      return {
        admitted: false,
        lockedOut: true,
        retryAfterSeconds: Math.ceil((s.lockedUntilMs - nowMs) / 1000),
      };
    }
    refill(s, nowMs, this.opts.perSecond, this.opts.burst);
    if (s.tokens < 1) {
      s.suppressed++;
      return {
        admitted: false,
        lockedOut: false,
        retryAfterSeconds: Math.ceil((1 - s.tokens) / this.opts.perSecond),
      };
    }
    s.tokens -= 1;
    const suppressed = s.suppressed;
    s.suppressed = 0;
    return { admitted: true, suppressed };
  }

  /** Counts a refusal; true when this one locks the source out (so the caller raises the alarm once). */
  rejected(source: string, nowMs: number): boolean {
    const s = this.state(source, nowMs);
    if (nowMs - s.firstRejectionAtMs > this.opts.windowSeconds * 1000 || s.rejections === 0) {
      s.rejections = 0;
      s.firstRejectionAtMs = nowMs;
    }
    s.rejections++;
    if (s.rejections < this.opts.maxRejections || s.lockedUntilMs > nowMs) return false;
    s.lockedUntilMs = nowMs + this.opts.lockoutSeconds * 1000;
    s.rejections = 0;
    return true;
  }

  /** A granted token ends the run of refusals. */
  granted(source: string, nowMs: number): void {
    this.state(source, nowMs).rejections = 0;
  }

  get lockoutSeconds(): number {
    return this.opts.lockoutSeconds;
  }

  /** Number of sources currently remembered (bounded by maxSources). */
  get size(): number {
    return this.sources.size;
  }

  private state(source: string, nowMs: number): SourceState {
    let s = this.sources.get(source);
    if (s) {
      // Re-insert so Map order is least-recently-seen first.
      this.sources.delete(source);
    } else {
      s = {
        tokens: this.opts.burst,
        refilledAtMs: nowMs,
        rejections: 0,
        firstRejectionAtMs: 0,
        lockedUntilMs: 0,
        suppressed: 0,
      };
      while (this.sources.size >= this.opts.maxSources) {
        const oldest = this.sources.keys().next();
        if (oldest.done) break;
        this.sources.delete(oldest.value);
      }
    }
    this.sources.set(source, s);
    return s;
  }
}
