// One token bucket, the arithmetic every budget of the agent shares: the per-source and per-rental
// limits of the access gate (agent/access/ratelimit.ts, recoveryLimit.ts), the refusal audit budget
// (agent/access/auditBatch.ts) and the MQTT refusal-reply budget (agent/mqtt/replyBudget.ts).

export interface Bucket {
  tokens: number;
  /** Monotonic ms of the last refill; -Infinity for a bucket never refilled (nothing is added). */
  refilledAtMs: number;
}

/** Adds the tokens `perSecond` earned since the last refill, up to `cap` (a clock going back adds none). */
export function refill(b: Bucket, nowMs: number, perSecond: number, cap: number): void {
  const elapsed = Number.isFinite(b.refilledAtMs) ? Math.max(0, nowMs - b.refilledAtMs) : 0;
  b.tokens = Math.min(cap, b.tokens + (elapsed / 1000) * perSecond);
  b.refilledAtMs = nowMs;
}

/** Refills, then takes one token: false, taking nothing, when less than one is left. */
export function takeToken(b: Bucket, nowMs: number, perSecond: number, cap: number): boolean {
  refill(b, nowMs, perSecond, cap);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}
