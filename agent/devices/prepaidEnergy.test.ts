// Prepaid energy: what a deposit covers, and a metering plug switched off when its rental's energy
// is used up, kept off across a restart, and powered again after a top-up.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriverContext, createRelay } from '../../hardware/drivers.js';
import type { Relay } from '../../hardware/relay.js';
import { SimRelay } from '../../hardware/sim.js';
import { SimTasmota } from '../../hardware/test/mqttDeviceSims.js';
import { isError } from '../errors.js';
import { silentLogger } from '../log.js';
import { type BrokerUnderTest, startAedes } from '../mqtt/testkit.js';
import type { Store, StoredRental } from '../store/store.js';
import { feedDeviceReports } from './deviceReports.js';
import { prepaidEnergySpent, prepaidEnergyWh } from './prepaidEnergy.js';
import { rentalOf, tempStore, testController, unixNow } from './testkit.js';

const PPS = 10n ** 9n; // wei per second
const PPWH = 10n ** 11n; // wei per Wh
const FACTOR = 200n; // the contract's default deposit factor, percent

/** A rental as the contract makes it: deposit = rent × factor (Latchkey.rent). */
function booked(start: number, end: number, seq = 1n): StoredRental {
  const deposit = (PPS * BigInt(end - start) * FACTOR) / 100n;
  return rentalOf(1n, seq, start, end, { pricePerSecond: PPS, pricePerWh: PPWH, deposit });
}

/** The rental after `extend(rental, extra)`: the extra time's deposit is added (Latchkey.extend). */
function extended(r: StoredRental, extra: number): StoredRental {
  return { ...r, end: r.end + BigInt(extra), deposit: r.deposit + (PPS * BigInt(extra) * FACTOR) / 100n };
}

describe('prepaidEnergyWh', () => {
  it('is what the deposit leaves once the largest time charge is taken out, to the fraction of a Wh', () => {
    // 1 h at 1 gwei/s, 2× deposit: 7.2e12 wei, of which 3.6e12 for time; 3.6e12 / 1e11 = 36 Wh
    const r = booked(1_000, 4_600);
    expect(prepaidEnergyWh(r)).toBe(36);
    expect(prepaidEnergyWh({ ...r, deposit: r.deposit + PPWH / 4n })).toBe(36.25);
    expect(prepaidEnergyWh({ ...r, deposit: r.deposit + PPWH })).toBe(37);
    expect(prepaidEnergyWh(extended(r, 1800))).toBe(54);
    // 10 s of the embedded socket's prices (1e12 wei/s, 1e14 wei/Wh): a tenth of a Wh
    expect(
      prepaidEnergyWh({
        ...r,
        pricePerSecond: 10n ** 12n,
        pricePerWh: 10n ** 14n,
        end: r.start + 10n,
        deposit: 2n * 10n ** 13n,
      }),
    ).toBe(0.1);
  });

  it('has no limit when energy is not priced, and is zero when the deposit only covers time', () => {
    const r = booked(1_000, 4_600);
    expect(prepaidEnergyWh({ ...r, pricePerWh: 0n })).toBeUndefined();
    expect(prepaidEnergyWh({ ...r, deposit: PPS * 3600n })).toBe(0);
    expect(prepaidEnergyWh({ ...r, deposit: 1n })).toBe(0);
  });

  it('limits sockets only', () => {
    const r = booked(1_000, 4_600);
    expect(prepaidEnergySpent('socket', r, 35.999)).toBe(false);
    expect(prepaidEnergySpent('socket', r, 36)).toBe(true);
    expect(prepaidEnergySpent('lock', r, 1000)).toBe(false);
    expect(prepaidEnergySpent('socket', { ...r, pricePerWh: 0n }, 1e9)).toBe(false);
  });
});

async function until(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a metering plug on prepaid energy', () => {
  let broker: BrokerUnderTest;
  beforeAll(async () => {
    broker = await startAedes();
  });
  afterAll(() => broker.stop());

  async function plug(topic: string): Promise<{ sim: SimTasmota; relay: Relay; totals: number[] }> {
    const sim = new SimTasmota(broker.url, topic);
    sim.totalWh = 700; // counted before this rental: not the guest's
    await sim.connect();
    const relay = await createRelay(
      { driver: 'tasmota', url: broker.url, topic },
      createDriverContext(silentLogger),
    );
    const totals: number[] = [];
    relay.events?.on('energy', (t) => totals.push(t));
    return { sim, relay, totals };
  }

  function controllerOn(relay: Relay, store: Store) {
    const ctl = testController(relay, store, { kind: 'socket' });
    feedDeviceReports(relay, ctl, silentLogger);
    return ctl;
  }

  const audits = (store: Store) => store.auditTail(100, 1n).map((e) => `${e.action} ${e.actor} ${e.reason}`);

  it('switches off at what the deposit covers, says why, refuses power, and powers again on a top-up', async () => {
    const env = tempStore();
    const { sim, relay, totals } = await plug('prepaid-1');
    const ctl = controllerOn(relay, env.store);
    try {
      await ctl.start();
      await until('the baseline arrived', () => totals.includes(700));
      const now = unixNow();
      const rental = booked(now - 60, now + 3600);
      const covered = prepaidEnergyWh(rental) as number;
      expect(covered).toBe(36.6); // (2 × 3660 − 3660) s × 1 gwei / 0.1 µETH
      env.store.putRental(rental);
      await ctl.apply({ rental, action: 'on' });
      expect(ctl.state()).toMatchObject({ relay: 'closed', prepaidEnergyWh: 36.6 });
      expect(ctl.state().offReason).toBeUndefined();

      await sim.addEnergy(20);
      await until('20 Wh counted', () => ctl.state().energyWh === 20);
      expect(sim.on).toBe(true);
      await sim.addEnergy(17); // 37 Wh: past the 36.6 the deposit covers
      await until('the plug is switched off', () => !sim.on && ctl.state().relay === 'open');
      expect(ctl.state()).toMatchObject({
        relay: 'open',
        rentalId: rental.id,
        energyWh: 37,
        offReason: 'prepaid-energy-used',
      });
      expect(audits(env.store)).toContain(
        'off agent prepaid energy used up: 37 Wh metered, the deposit covers 36.6 Wh; extend the rental to top up',
      );
      expect(env.store.getDeviceRuntime(1n)).toMatchObject({
        rentalId: rental.id,
        relayClosed: false,
        energyWh: 37,
      });

      // The guest asks for power again without topping up: refused, and the plug stays off.
      const refused = await ctl.apply({ rental, action: 'on' }).catch((e: unknown) => e);
      expect(isError(refused, 'BAD_REQUEST')).toBe(true);
      expect(sim.on).toBe(false);

      // A top-up (extend by an hour) raises the deposit: 72.6 Wh covered now, so the plug is on again.
      const topped = extended(rental, 3600);
      env.store.putRental(topped);
      await ctl.updateRental(topped);
      await until('the plug is on again', () => sim.on);
      expect(ctl.state()).toMatchObject({
        relay: 'closed',
        prepaidEnergyWh: 72.6,
        leaseEndsAt: Number(topped.end),
      });
      expect(ctl.state().offReason).toBeUndefined();
      expect(audits(env.store).at(-1)).toMatch(
        /^on chain topped up: the deposit now covers 72.6 Wh, 37 Wh used/,
      );

      await sim.addEnergy(5);
      await until('42 Wh counted', () => ctl.state().energyWh === 42);
      const { receipt } = await ctl.apply({ rental: topped, action: 'checkout' });
      expect(receipt?.receipt.energyWh).toBe(42n);
      // What the contract would charge stays within the deposit: the host is paid for every Wh.
      const charge =
        topped.pricePerSecond * (receipt?.receipt.secondsUsed ?? 0n) +
        topped.pricePerWh * (receipt?.receipt.energyWh ?? 0n);
      expect(charge <= topped.deposit).toBe(true);
    } finally {
      await ctl.stop();
      await sim.stop();
      env.cleanup();
    }
  });

  it('a restart keeps a socket whose prepaid energy ran out off until the guest tops up', async () => {
    const env = tempStore();
    const { sim, relay, totals } = await plug('prepaid-2');
    let ctl = controllerOn(relay, env.store);
    try {
      await ctl.start();
      await until('the baseline arrived', () => totals.includes(700));
      const now = unixNow();
      const rental = booked(now - 60, now + 3600);
      env.store.putRental(rental);
      await ctl.apply({ rental, action: 'on' });
      await sim.addEnergy(40);
      await until('the plug is switched off', () => !sim.on && ctl.state().relay === 'open');
      await ctl.stop();

      ctl = controllerOn(relay, env.store);
      await ctl.start();
      expect(sim.on).toBe(false);
      expect(ctl.state()).toMatchObject({
        rentalId: rental.id,
        energyWh: 40,
        offReason: 'prepaid-energy-used',
      });
      expect(audits(env.store).at(-1)).toContain(
        'prepaid energy used up: 40 Wh metered, the deposit covers 36.6 Wh',
      );

      // A top-up too small for what was used keeps it off (39.59 Wh covered, 40 used); 30 min more
      // covers 54.6 Wh and powers it again.
      const small = { ...rental, deposit: rental.deposit + 3n * PPWH };
      await ctl.updateRental({ ...small, end: small.end + 1n });
      expect(sim.on).toBe(false);
      expect(ctl.state().offReason).toBe('prepaid-energy-used');
      const topped = extended(rental, 1800);
      await ctl.updateRental(topped);
      await until('the plug is on again', () => sim.on);
      expect(ctl.state()).toMatchObject({ relay: 'closed', prepaidEnergyWh: 54.6 });
    } finally {
      await ctl.stop();
      await sim.stop();
      env.cleanup();
    }
  });
});

describe('prepaid energy reported straight to the controller', () => {
  it('a top-up of the deposit alone, the end unchanged, powers the socket again', async () => {
    const env = tempStore();
    const relay = new SimRelay();
    const ctl = testController(relay, env.store, { kind: 'socket' });
    try {
      await ctl.start();
      const now = unixNow();
      const rental = booked(now - 60, now + 3600);
      env.store.putRental(rental);
      await ctl.apply({ rental, action: 'on' });
      ctl.reportEnergy(36.7);
      await until('switched off', () => !relay.isClosed());
      expect(ctl.state().offReason).toBe('prepaid-energy-used');
      const topped = { ...rental, deposit: rental.deposit + 10n * PPWH };
      env.store.putRental(topped);
      await ctl.updateRental(topped);
      expect(relay.isClosed()).toBe(true);
      expect(ctl.state()).toMatchObject({
        relay: 'closed',
        prepaidEnergyWh: 46.6,
        leaseEndsAt: Number(rental.end),
      });
      expect(ctl.state().offReason).toBeUndefined();
    } finally {
      await ctl.stop();
      env.cleanup();
    }
  });
});
