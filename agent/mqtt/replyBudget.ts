// How many refusals the bus answers per device: a token bucket per device. A flood of bad tokens with a
// fresh request id each would otherwise get one reply per token: the agent's CPU and its outgoing
// traffic grow with the flood (an amplifier aimed at whatever reply topics the flood names), and after
// any pause of the event loop its backlog of replies goes out ahead of the guests' own. Within the
// budget every refusal is answered, so an honest client still learns why its token failed.

import { type Bucket, takeToken } from '../tokenBucket.js';

export interface ReplyBudgetOptions {
  /** Refusals answered in a burst per device (default 20). */
  burst: number;
  /** Refill, refusals answered per second per device (default 10). */
  perSecond: number;
  /** Monotonic ms (default performance.now()). */
  nowMs?: () => number;
}

export const DEFAULT_REFUSAL_REPLIES: Omit<ReplyBudgetOptions, 'nowMs'> = { burst: 20, perSecond: 10 };

export class ReplyBudget {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly nowMs: () => number;

  constructor(options: Partial<ReplyBudgetOptions> = {}) {
    this.burst = options.burst ?? DEFAULT_REFUSAL_REPLIES.burst;
    this.perSecond = options.perSecond ?? DEFAULT_REFUSAL_REPLIES.perSecond;
    this.nowMs = options.nowMs ?? (() => performance.now());
    for (const [name, v] of [
      ['burst', this.burst],
      ['perSecond', this.perSecond],
    ] as const)
      if (!(Number.isFinite(v) && v > 0))
        throw new RangeError(`refusalReplies.${name} must be a positive number`);
  }

  /** Takes one reply from `key`'s bucket; false when the bucket is empty (the refusal goes unanswered). */
  take(key: string): boolean {
    const now = this.nowMs();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.burst, refilledAtMs: now };
      this.buckets.set(key, bucket);
    }
    return takeToken(bucket, now, this.perSecond, this.burst);
  }
}
