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

/**
 * Keeps trying to drive a relay to its safe (open) state, with growing pauses, until it succeeds
 * or is cancelled. Only ever opens, so it may run beside anything else the controller does.
 */
export class SafetyRetry {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private running = false;

  constructor(
    private readonly open: () => Promise<void>,
    private readonly policy: Pick<RetryPolicy, 'safetyRetryMs' | 'safetyRetryMaxMs'>,
    private readonly onOpened: (attempts: number) => void,
    private readonly onFailure: (attempts: number, error: unknown) => void,
  ) {}

  /** True from start() until the relay opened or cancel(). */
  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const generation = ++this.generation;
    let delay = this.policy.safetyRetryMs;
    let attempts = 0;
    const attempt = () => {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        attempts++;
        this.open().then(
          () => {
            if (generation !== this.generation) return;
            this.running = false;
            this.onOpened(attempts);
          },
          (e: unknown) => {
            if (generation !== this.generation) return;
            this.onFailure(attempts, e);
            delay = Math.min(delay * 2, this.policy.safetyRetryMaxMs);
            attempt();
          },
        );
      }, delay);
    };
    attempt();
  }

  cancel(): void {
    this.generation++;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
