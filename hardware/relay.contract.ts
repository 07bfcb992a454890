// The Relay contract every driver must keep, as one vitest suite each driver's test runs:
// `relayContract('sim', () => new SimRelay())`. Safe means open: at start, at stop, after a crash.

import { afterEach, describe, expect, it } from 'vitest';
import type { Relay } from './relay.js';

export interface RelayContractOptions {
  /**
   * A driver over hardware that a previous process left energised (killed while closed).
   * When given, the suite checks that `start()` drives such hardware open.
   */
  makeLeftClosed?: () => Relay | Promise<Relay>;
  /** How the suite reads the hardware, bypassing the driver's own memory; default `isClosed()`. */
  readBack?: (relay: Relay) => boolean | Promise<boolean>;
}

export function relayContract(
  name: string,
  makeDriver: () => Relay | Promise<Relay>,
  options: RelayContractOptions = {},
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
