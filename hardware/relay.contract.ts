// The Relay contract every driver must keep, as one vitest suite each driver's test runs:
// `relayContract('sim', () => new SimRelay())`. Safe means open: at start, at stop, after a crash.
// What real hardware adds is declared as capabilities (`faults`): each fault is injected for real by
// the test's harness (a simulator killed, a link cut, a will published, a sim line pulled), never by
// calling the driver; a driver whose hardware cannot have a fault says why, and the case is skipped
// with that reason in its name.

import { afterEach, describe, expect, it } from 'vitest';
import type { Relay, RelayEvents } from './relay.js';

/** A capability the driver's hardware has, or the reason it has none (shown on the skipped case). */
export type Capability<T> = T | { none: string };

/** Whether a capability is there (not `{none}`). */
function has<T extends object>(c: Capability<T>): c is T {
  return !('none' in c);
}

export interface RelayFaults {
  /**
   * The hardware reports a state other than the one commanded (a relay feedback contact, a plug's
   * button, a welded contact): `disagree(relay, closed)` makes it say `!closed` while the driver
   * holds `closed`. The driver must surface it as a `fault` or a `reported` event.
   */
  disagreement: Capability<{
    disagree(relay: Relay, closed: boolean): Promise<void>;
    /** Undoes the harness's part of the disagreement (the stuck contact freed), if it has one. */
    release?(relay: Relay): Promise<void>;
  }>;
  /**
   * The device goes away for real and comes back: `cut` kills it or its link (its will is
   * published, its port vanishes), `restore(relay, closed)` brings it back holding `closed` (its
   * power-on state, or what it kept through the outage).
   */
  offline: Capability<{
    cut(relay: Relay): Promise<void>;
    restore(relay: Relay, closed: boolean): Promise<void>;
    /** The states it can come back in, if not both (StandardFirmata boots with its outputs low). */
    returnsIn?: readonly boolean[];
  }>;
}

export interface RelayContractOptions {
  /**
   * A driver over hardware that a previous process left energised (killed while closed).
   * When given, the suite checks that `start()` drives such hardware open.
   */
  makeLeftClosed?: () => Relay | Promise<Relay>;
  /** How the suite reads the hardware, bypassing the driver's own memory; default `isClosed()`. */
  readBack?: (relay: Relay) => boolean | Promise<boolean>;
  /** The faults the hardware can have and how the harness injects them; required from every driver. */
  faults: RelayFaults;
  /** How long a fault case may wait for the driver to notice and recover (a bound, not a timing claim). */
  faultLimitMs?: number;
}

/** Waits for `check` to hold, polling; fails with `what` after `limitMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, limitMs: number): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every event of `kind` the relay emits from now on. */
function record<K extends keyof RelayEvents>(relay: Relay, kind: K): RelayEvents[K][0][] {
  const seen: RelayEvents[K][0][] = [];
  relay.events?.on(kind, ((value: RelayEvents[K][0]) => seen.push(value)) as never);
  return seen;
}

export function relayContract(
  name: string,
  makeDriver: () => Relay | Promise<Relay>,
  options: RelayContractOptions,
): void {
  const readBack = options.readBack ?? ((relay: Relay) => relay.isClosed());

  describe(`Relay contract: ${name}`, () => {
    const made: Relay[] = [];
    const make = async (factory = makeDriver) => {
      const relay = await factory();
      made.push(relay);
      return relay;
    };

    afterEach(async () => {
      for (const relay of made.splice(0)) await relay.stop().catch(() => {});
    });

    it('describes itself', async () => {
      const relay = await make();
      expect(typeof relay.describe).toBe('string');
      expect(relay.describe.length).toBeGreaterThan(0);
    });

    it('starts open (the safe state)', async () => {
      const relay = await make();
      await relay.start();
      expect(relay.isClosed()).toBe(false);
      expect(await readBack(relay)).toBe(false);
    });

    it('refuses to energise before start', async () => {
      const relay = await make();
      await expect(relay.close()).rejects.toThrow();
      expect(relay.isClosed()).toBe(false);
    });

    it('closes and opens', async () => {
      const relay = await make();
      await relay.start();
      await relay.close();
      expect(relay.isClosed()).toBe(true);
      expect(await readBack(relay)).toBe(true);
      await relay.open();
      expect(relay.isClosed()).toBe(false);
      expect(await readBack(relay)).toBe(false);
    });

    it('opens and closes idempotently', async () => {
      const relay = await make();
      await relay.start();
      await relay.open();
      await relay.open();
      expect(relay.isClosed()).toBe(false);
      await relay.close();
      await relay.close();
      expect(relay.isClosed()).toBe(true);
      await relay.open();
      expect(await readBack(relay)).toBe(false);
    });

    it('ends in the last commanded state after many switches', async () => {
      const relay = await make();
      await relay.start();
      for (let i = 0; i < 20; i++) {
        if (i % 3 === 0) await relay.close();
        else await relay.open();
      }
      // i = 18 closes, 19 opens
      expect(relay.isClosed()).toBe(false);
      await relay.close();
      expect(await readBack(relay)).toBe(true);
    });

    it('stop leaves it open', async () => {
      const relay = await make();
      await relay.start();
      await relay.close();
      await relay.stop();
      expect(relay.isClosed()).toBe(false);
    });

    it('stop is idempotent and a stopped relay refuses to energise', async () => {
      const relay = await make();
      await relay.start();
      await relay.stop();
      await relay.stop();
      await expect(relay.close()).rejects.toThrow();
      expect(relay.isClosed()).toBe(false);
    });

    it('starts again after stop, open', async () => {
      const relay = await make();
      await relay.start();
      await relay.close();
      await relay.stop();
      await relay.start();
      expect(relay.isClosed()).toBe(false);
      await relay.close();
      expect(relay.isClosed()).toBe(true);
    });

    const limit = options.faultLimitMs ?? 15_000;
    const { disagreement, offline } = options.faults;

    for (const closed of [false, true]) {
      const held = closed ? 'closed' : 'open';
      if (has(disagreement)) {
        it(`reports hardware that disagrees while ${held}, and the hardware ends ${held}`, async () => {
          const relay = await make();
          await relay.start();
          if (closed) await relay.close();
          const faults = record(relay, 'fault');
          const reported = record(relay, 'reported');
          await disagreement.disagree(relay, closed);
          try {
            await until(
              'the disagreement is reported (a fault, or the state the hardware says)',
              () => faults.length > 0 || reported.includes(!closed),
              limit,
            );
          } finally {
            await disagreement.release?.(relay);
          }
          // The driver's own answer (putting the device back) or none (a feedback contact): either
          // way the relay's output is where it was commanded once the harness lets go.
          await until(`the hardware is ${held} again`, async () => (await readBack(relay)) === closed, limit);
        });
      } else {
        it.skip(`reports hardware that disagrees while ${held}: no feedback (${disagreement.none})`, () => {});
      }
    }

    if (has(offline)) {
      const returnsIn = offline.returnsIn ?? [false, true];
      it('goes offline when the device does: reported, refuses to energise, takes the safe state', async () => {
        const relay = await make();
        const availability = record(relay, 'availability');
        await relay.start();
        await relay.close();
        await offline.cut(relay);
        try {
          await until('the outage is reported', () => availability.includes(false), limit);
          expect(relay.isOnline?.()).toBe(false);
          // Energising a device that is not there is an error, never a success.
          await expect(relay.close()).rejects.toThrow(/offline/);
          // The safe state is taken for the device's return.
          await relay.open();
        } finally {
          await offline.restore(relay, false);
        }
        await until('the device is back', () => availability.at(-1) === true, limit);
        await until('the hardware is open', async () => !(await readBack(relay)), limit);
      });
      const state = (c: boolean) => (c ? 'energised' : 'safe');
      for (const wanted of [true, false]) {
        const returned = !wanted;
        const name = `reconnects: back ${state(returned)} while ${state(wanted)} is wanted, it is driven ${state(wanted)}`;
        if (!returnsIn.includes(returned)) {
          it.skip(`${name}: the device cannot come back ${state(returned)}`, () => {});
          continue;
        }
        it(name, async () => {
          const relay = await make();
          const availability = record(relay, 'availability');
          await relay.start();
          await relay.close();
          await offline.cut(relay);
          await until('the outage is reported', () => availability.includes(false), limit);
          if (!wanted) await relay.open(); // the lease ended while the device was away
          await offline.restore(relay, returned);
          await until('the device is reported back', () => availability.at(-1) === true, limit);
          await until(
            `the hardware is ${state(wanted)}`,
            async () => (await readBack(relay)) === wanted,
            limit,
          );
          await until('the driver says so', () => relay.isClosed() === wanted, limit);
          expect(relay.isOnline?.()).toBe(true);
        });
      }
    } else {
      it.skip(`goes offline and reconnects: no availability (${offline.none})`, () => {});
    }

    if (options.makeLeftClosed) {
      const makeLeftClosed = options.makeLeftClosed;
      it('drives hardware left energised by a killed process open at start', async () => {
        const relay = await make(makeLeftClosed);
        await relay.start();
        expect(relay.isClosed()).toBe(false);
        expect(await readBack(relay)).toBe(false);
      });
    }
  });
}
