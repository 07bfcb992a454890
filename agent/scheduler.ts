// Periodic sweeps of the agent (expiries, receipt retries, heartbeat, chain reconciliation) on
// node-cron; relay pulses and leases use plain timers in the device controllers instead.

import { createTask, type ScheduledTask, validate } from 'node-cron';
import type { Logger } from './log.js';

export interface Sweep {
  name: string;
  /** A node-cron pattern; six fields means the first is seconds (e.g. every 10 s: a 10-second step). */
  cron: string;
  run: () => Promise<void> | void;
}

export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  /** Sweeps running now: stop() waits for them, so none touches a part stopped after the scheduler. */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly sweeps: Sweep[],
    private readonly log: Logger,
  ) {
    for (const s of sweeps) {
      if (!validate(s.cron)) throw new Error(`sweep ${s.name}: invalid cron pattern ${s.cron}`);
    }
  }

  start(): void {
    for (const sweep of this.sweeps) {
      // noOverlap: a slow sweep (an RPC timing out) is skipped rather than stacked.
      const task = createTask(sweep.cron, () => this.runOnce(sweep), { name: sweep.name, noOverlap: true });
      this.tasks.push(task);
      void task.start();
    }
  }

  /** Runs one sweep now (used at start-up and by tests); failures are logged, never thrown. */
  runOnce(sweep: Sweep): Promise<void> {
    const run = (async () => {
      try {
        await sweep.run();
      } catch (e) {
        this.log.warn('sweep failed', { sweep: sweep.name, error: e });
      }
    })();
    this.running.add(run);
    return run.finally(() => this.running.delete(run));
  }

  /** Stops the timers, then waits for the sweeps still running. */
  async stop(): Promise<void> {
    for (const task of this.tasks.splice(0)) await task.destroy();
    await Promise.all(this.running);
  }
}
