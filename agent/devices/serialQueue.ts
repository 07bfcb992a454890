// One device's operations in order, one at a time, so timers (relock, lease end) and requests
// (grants, chain notices) never interleave in the middle of a transition.

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after everything queued before it, whether that succeeded or failed. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }
}
