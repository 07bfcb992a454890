// An in-memory relay that records every switch: the embedded default of `npm start` and the
// test double of the device controllers, with injectable write failures.

import { EventEmitter } from 'node:events';
import type { RelayDriver } from './driver.js';
import { RelayError } from './errors.js';
import type { Relay, RelayLogger } from './relay.js';

/** One write that reached the (simulated) hardware; `at` is `now()` in milliseconds. */
export interface SimSwitch {
  at: number;
  closed: boolean;
}

export interface SimRelayOptions {
  /** Shown in logs and the audit trail; default `sim`. */
  name?: string;
  /**
   * The contact as the hardware holds it before `start()`. A real relay left energised by a
   * process killed with SIGKILL stays closed until the next start drives it open; `true` models that.
   */
  closed?: boolean;
  /** Clock for `SimSwitch.at`, in milliseconds; default `Date.now`. */
  now?: () => number;
  log?: RelayLogger;
}

export interface SimRelayEvents {
  switch: [SimSwitch];
}

type Direction = 'open' | 'close' | 'any';

export class SimRelay extends EventEmitter<SimRelayEvents> implements Relay {
  readonly describe: string;
  /** Every successful write in order, including writes that did not change the contact. */
  readonly switches: SimSwitch[] = [];
  /** Writes refused by `failNext`. */
  failures = 0;
  private closed: boolean;
  private started = false;
  private failing = 0;
  private failDirection: Direction = 'any';
  private readonly now: () => number;
  private readonly log: RelayLogger | undefined;

  constructor(options: SimRelayOptions = {}) {
    super();
    this.describe = options.name ?? 'sim';
    this.closed = options.closed ?? false;
    this.now = options.now ?? Date.now;
    this.log = options.log;
  }

  /** Makes the next `count` writes (of `direction`, default any) fail like a broken driver. */
  failNext(count: number, direction: Direction = 'any'): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError('failNext count must be an integer >= 0');
    this.failing = count;
    this.failDirection = direction;
  }

  /** Writes still due to fail. */
  get pendingFailures(): number {
    return this.failing;
  }

  async start(): Promise<void> {
    this.started = true;
    await this.write(false);
  }

  async close(): Promise<void> {
    await this.write(true);
  }

  async open(): Promise<void> {
    await this.write(false);
  }

  isClosed(): boolean {
    return this.closed;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    await this.write(false);
    this.started = false;
  }

  private async write(closed: boolean): Promise<void> {
    if (!this.started) {
      throw new RelayError('RELAY_FAILED', `relay ${this.describe} is not started`);
    }
    const direction: Direction = closed ? 'close' : 'open';
    if (this.failing > 0 && (this.failDirection === 'any' || this.failDirection === direction)) {
      this.failing--;
      this.failures++;
      throw new RelayError('RELAY_FAILED', `relay ${this.describe}: simulated ${direction} failure`);
    }
    this.closed = closed;
    const entry = { at: this.now(), closed };
    this.switches.push(entry);
    this.log?.info(closed ? 'relay closed' : 'relay opened', { relay: this.describe });
    this.emit('switch', entry);
  }
}

/** `{"driver":"sim"}`: the relay of the embedded default and of tests; it has no fields. */
export const simDriver: RelayDriver<{ driver: 'sim' }> = {
  name: 'sim',
  example: '{"driver":"sim"}',
  parse: () => ({ driver: 'sim' }),
  create: (_config, context) => new SimRelay({ log: context.log.child('sim') }),
};
