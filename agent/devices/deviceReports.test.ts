// A real device's energy counter, through the driver and the controller, into the signed receipt.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriverContext, createRelay } from '../../hardware/drivers.js';
import { SimShelly, SimTasmota } from '../../hardware/test/mqttDeviceSims.js';
import { silentLogger } from '../log.js';
import { type BrokerUnderTest, startAedes } from '../mqtt/testkit.js';
import { EnergyCounter, feedDeviceReports } from './deviceReports.js';
import { rentalOf, tempStore, testController, unixNow } from './testkit.js';

describe('EnergyCounter', () => {
  it('takes the first reading as the baseline, then counts deltas, from zero after a reset', () => {
    const c = new EnergyCounter();
    expect([1000, 1010, 1015, 0, 2, 2.5].map((t) => c.delta(t))).toEqual([0, 10, 5, 0, 2, 0.5]);
  });

  it('ignores readings that are not a counter', () => {
    const c = new EnergyCounter();
    c.delta(10);
    expect([Number.NaN, -1, Number.POSITIVE_INFINITY].map((t) => c.delta(t))).toEqual([0, 0, 0]);
    expect(c.delta(12)).toBe(2);
  });
});

async function until(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('energy from a metering plug into the receipt', () => {
  let broker: BrokerUnderTest;
  beforeAll(async () => {
    broker = await startAedes();
  });
  afterAll(() => broker.stop());

  for (const plug of ['tasmota', 'shelly'] as const) {
    it(`charges the Wh a ${plug} measured, across a counter reset`, async () => {
      const env = tempStore();
      const sim =
        plug === 'tasmota' ? new SimTasmota(broker.url, 'meter-t') : new SimShelly(broker.url, 'meter-s');
      sim.totalWh = 5000; // what the plug counted before this rental: not the guest's
      await sim.connect();
      const relay = await createRelay(
        plug === 'tasmota'
          ? { driver: 'tasmota', url: broker.url, topic: 'meter-t' }
          : { driver: 'shelly', url: broker.url, prefix: 'meter-s' },
        createDriverContext(silentLogger),
      );
      const totals: number[] = [];
      relay.events?.on('energy', (t) => totals.push(t));
      const ctl = testController(relay, env.store, { kind: 'socket' });
      feedDeviceReports(relay, ctl, silentLogger);
      try {
        await ctl.start();
        await until('the baseline arrived', () => totals.includes(5000));
        const now = unixNow();
        const rental = rentalOf(1n, 1n, now - 60, now + 3600, { pricePerWh: 10n ** 12n, maxWatts: 100_000n });
        env.store.putRental(rental);
        await ctl.apply({ rental, action: 'on' });
        expect(sim.on).toBe(true);
        await sim.addEnergy(120);
        await sim.addEnergy(30.5);
        await sim.resetCounter(); // e.g. a firmware update
        await sim.addEnergy(9);
        await until('the plug reported all of it', () => totals.length >= 5 && totals.at(-1) === 9);
        const { receipt } = await ctl.apply({ rental, action: 'checkout' });
        expect(receipt?.receipt.energyWh).toBe(159n); // 120 + 30.5 + 9, whole Wh
        expect(sim.on).toBe(false);
      } finally {
        await ctl.stop();
        await sim.stop();
        env.cleanup();
      }
    });
  }
});
