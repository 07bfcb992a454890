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
const MAX_WATTS = 36n; // the device's maximum power: 36 Wh of allowance an hour

/** Wh of allowance for `seconds` at MAX_WATTS, rounded up as the contract does. */
const allowance = (seconds: number) => (MAX_WATTS * BigInt(seconds) + 3599n) / 3600n;

/** A rental as the contract makes it: deposit = rent × factor + the energy allowance's cost. */
function booked(start: number, end: number, seq = 1n): StoredRental {
  const deposit = (PPS * BigInt(end - start) * FACTOR) / 100n + PPWH * allowance(end - start);
  return rentalOf(1n, seq, start, end, {
    pricePerSecond: PPS,
    pricePerWh: PPWH,
    maxWatts: MAX_WATTS,
    deposit,
  });
}

/** The rental after `extend(rental, extra)`: the end moves and the deposit grows with it. */
function extended(r: StoredRental, extra: number): StoredRental {
  const seconds = Number(r.end - r.start) + extra;
  return { ...booked(Number(r.start), Number(r.start) + seconds), id: r.id };
}

describe('prepaidEnergyWh', () => {
  it("is the rental's energy allowance: max power × booked time, rounded up to whole Wh", () => {
    const r = booked(1_000, 4_600); // 1 h at 36 W
    expect(prepaidEnergyWh(r)).toBe(36);
    expect(prepaidEnergyWh(booked(1_000, 4_660))).toBe(37); // 36.6 Wh, rounded up
    expect(prepaidEnergyWh(extended(r, 1800))).toBe(54);
    // 10 s at 100 W: 0.28 Wh, which the contract prepays as 1 Wh
    expect(prepaidEnergyWh({ ...r, end: r.start + 10n, maxWatts: 100n })).toBe(1);
    // the deposit's size does not change it: a receipt charges energy up to the allowance only
    expect(prepaidEnergyWh({ ...r, deposit: r.deposit * 10n })).toBe(36);
  });

  it('has no limit when energy is not priced, and is zero without a max power', () => {
    const r = booked(1_000, 4_600);
    expect(prepaidEnergyWh({ ...r, pricePerWh: 0n })).toBeUndefined();
    expect(prepaidEnergyWh({ ...r, maxWatts: 0n })).toBe(0);
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
      expect(covered).toBe(37); // 36 W × 3660 s = 36.6 Wh, prepaid as 37
      env.store.putRental(rental);
      await ctl.apply({ rental, action: 'on' });
      expect(ctl.state()).toMatchObject({ relay: 'closed', prepaidEnergyWh: 37 });
      expect(ctl.state().offReason).toBeUndefined();

      await sim.addEnergy(20);
      await until('20 Wh counted', () => ctl.state().energyWh === 20);
      expect(sim.on).toBe(true);
      await sim.addEnergy(17); // 37 Wh: all the deposit covers
      await until('the plug is switched off', () => !sim.on && ctl.state().relay === 'open');
      expect(ctl.state()).toMatchObject({
        relay: 'open',
        rentalId: rental.id,
        energyWh: 37,
        offReason: 'prepaid-energy-used',
      });
      expect(audits(env.store)).toContain(
        'off agent prepaid energy used up: 37 Wh metered, the deposit covers 37 Wh; extend the rental to top up',
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

      // A top-up (extend by an hour) adds its allowance: 73 Wh covered now, so the plug is on again.
      const topped = extended(rental, 3600);
      env.store.putRental(topped);
      await ctl.updateRental(topped);
      await until('the plug is on again', () => sim.on);
      expect(ctl.state()).toMatchObject({
        relay: 'closed',
        prepaidEnergyWh: 73,
        leaseEndsAt: Number(topped.end),
      });
      expect(ctl.state().offReason).toBeUndefined();
      expect(audits(env.store).at(-1)).toMatch(
        /^on chain topped up: the deposit now covers 73 Wh, 37 Wh used/,
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
        'prepaid energy used up: 40 Wh metered, the deposit covers 37 Wh',
      );

      // A top-up too small for what was used keeps it off (100 s more: 38 Wh covered, 40 used);
      // 30 min more covers 55 Wh and powers it again.
      await ctl.updateRental(extended(rental, 100));
      expect(sim.on).toBe(false);
      expect(ctl.state().offReason).toBe('prepaid-energy-used');
      const topped = extended(rental, 1800);
      await ctl.updateRental(topped);
      await until('the plug is on again', () => sim.on);
      expect(ctl.state()).toMatchObject({ relay: 'closed', prepaidEnergyWh: 55 });
    } finally {
      await ctl.stop();
      await sim.stop();
      env.cleanup();
    }
  });
});

describe('prepaid energy reported straight to the controller', () => {
  it('an extension that adds allowance powers the socket again, with the new end', async () => {
    const env = tempStore();
    const relay = new SimRelay();
    const ctl = testController(relay, env.store, { kind: 'socket' });
    try {
      await ctl.start();
      const now = unixNow();
      const rental = booked(now - 60, now + 3600);
      env.store.putRental(rental);
      await ctl.apply({ rental, action: 'on' });
      ctl.reportEnergy(37.2);
      await until('switched off', () => !relay.isClosed());
      expect(ctl.state().offReason).toBe('prepaid-energy-used');
      const topped = extended(rental, 600);
      env.store.putRental(topped);
      await ctl.updateRental(topped);
      expect(relay.isClosed()).toBe(true);
      expect(ctl.state()).toMatchObject({
        relay: 'closed',
        prepaidEnergyWh: 43,
        leaseEndsAt: Number(topped.end),
      });
      expect(ctl.state().offReason).toBeUndefined();
    } finally {
      await ctl.stop();
      env.cleanup();
    }
  });
});
