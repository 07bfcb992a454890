// Bounded retry of relay writes: a few attempts with growing backoff, then the caller reports
// the failure (and, for the safe direction, hands over to a retry that never gives up).

export interface RetryPolicy {
  /** Attempts per write before it is reported as failed (≥ 1). */
  attempts: number;
  /** Pause before the 2nd attempt; doubles for each further attempt. */
  backoffMs: number;
  /** First pause of the background retry that keeps opening a relay until it succeeds. */
  safetyRetryMs: number;
  /** Longest pause of that background retry. */
  safetyRetryMaxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  backoffMs: 100,
  safetyRetryMs: 1_000,
  safetyRetryMaxMs: 30_000,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `write` up to `policy.attempts` times; resolves on the first success, else rejects with the last error. */
export async function retryWrite(
  write: () => Promise<void>,
  policy: Pick<RetryPolicy, 'attempts' | 'backoffMs'>,
  onFailure: (attempt: number, error: unknown) => void = () => {},
): Promise<void> {
  let last: unknown;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (attempt > 1) await sleep(policy.backoffMs * 2 ** (attempt - 2));
    try {
      await write();
      return;
    } catch (e) {
      last = e;
      onFailure(attempt, e);
    }
  }
  throw last;
}
