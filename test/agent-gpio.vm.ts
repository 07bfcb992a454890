// A whole rental on GPIO relays, run INSIDE the VM of hardware/test/gpioVm.ts (test/agent-gpio.test.ts
// boots it): the agent on anvil drives a lock on an active-low board and a socket on an active-high
// one, both on gpio-sim lines of a real kernel. Levels are read at the lines (gpio-sim's sysfs, the
// physical level), and the kernel's gpio trace covers the agent's whole start.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded } from '../agent/embedded.js';
import { rentDevice } from '../contracts/rental.js';
import { GpioSimChip, gpioTrace, type LineEvent } from '../hardware/test/gpioSim.js';
import {
  actWhenLive,
  asGuest,
  deviceState,
  ok,
  settled,
  startWithDevices,
  submittedReceipt,
  waitFor,
} from './system.js';

const LABEL = 'latchkey-e2e';
const LOCK_LINE = 3; // active-low board: energised (unlocked) at 0
const SOCKET_LINE = 4; // active-high board: energised (powered) at 1
const DOOR_LINE = 5; // the lock's door contact: a reed switch to ground, low while the door is shut
const chip = new GpioSimChip('e2e', { label: LABEL, lines: 8 });
let e: Embedded;
let startTrace: LineEvent[] = [];

beforeAll(async () => {
  chip.create();
  chip.pull(LOCK_LINE, 'pull-up'); // the active-low board's input rests high
  chip.pull(DOOR_LINE, 'pull-down'); // the door is shut
  gpioTrace.start();
  try {
    e = await startWithDevices(
      [
        {
          config: {
            id: 3n,
            kind: 'lock',
            pulseSeconds: 2,
            relay: {
              driver: 'gpio',
              chip: LABEL,
              line: LOCK_LINE,
              activeLow: true,
              contact: { chip: LABEL, line: DOOR_LINE, activeLow: true, debounceMs: 30 },
            },
          },
          spec: { kind: 'lock', ...DEMO_PRICES.lock, minDuration: 1 },
        },
        {
          config: {
            id: 4n,
            kind: 'socket',
            pulseSeconds: 5,
            relay: { driver: 'gpio', chip: LABEL, line: SOCKET_LINE },
          },
          spec: {
            kind: 'socket',
            pricePerSecond: DEMO_PRICES.socket.pricePerSecond,
            pricePerWh: 0n,
            minDuration: 1,
          },
        },
      ],
      200,
    );
  } finally {
    startTrace = gpioTrace.stop();
  }
}, 180_000);

afterAll(async () => {
  await e?.stop();
  chip.remove();
});

it('the agent starts with both lines at the safe level, never touching the energised one', () => {
  const base = chip.base();
  const lock = startTrace.filter((t) => t.gpio === base + LOCK_LINE);
  const socket = startTrace.filter((t) => t.gpio === base + SOCKET_LINE);
  expect(lock.some((t) => t.kind === 'out')).toBe(true);
  expect(socket.some((t) => t.kind === 'out')).toBe(true);
  expect(lock.filter((t) => t.kind === 'set' && t.value === 0)).toEqual([]);
  expect(socket.filter((t) => t.kind === 'set' && t.value === 1)).toEqual([]);
  expect(chip.value(LOCK_LINE)).toBe(1);
  expect(chip.value(SOCKET_LINE)).toBe(0);
});

it('unlocks an active-low lock (line low) and relocks it after the pulse, then settles', {
  timeout: 120_000,
}, async () => {
  await asGuest(e, 0, async ({ guest, contract }) => {
    const { rental } = await rentDevice(contract, 3n, 8);
    ok(await actWhenLive(guest, rental, 'unlock', 'mqtt', 60_000), 'unlock');
    expect(chip.value(LOCK_LINE)).toBe(0);
    chip.pull(DOOR_LINE, 'pull-up'); // the guest walks in while the strike is released: no alarm
    await waitFor(() => chip.value(LOCK_LINE) === 1, 'the lock relocked at the line', 20_000, 20);
    chip.pull(DOOR_LINE, 'pull-down'); // and shuts the door behind them
    const settlement = await settled(e.anvil.provider, e.contractAddress, rental.id, 60_000);
    expect(settlement.byReceipt).toBe(true);
    expect(settlement.charge + settlement.refund).toBe(rental.deposit);
    expect(chip.value(LOCK_LINE)).toBe(1);
  });
});

it('a door opened while the lock is locked raises the door alarm until it shuts', async () => {
  const alarms = () => e.agent.metrics.get('latchkey_door_alarms_total', { device: '3' });
  const doorAlarm = async () => ((await deviceState(e.httpUrl, 3n)) as { doorAlarm?: true }).doorAlarm;
  expect(chip.value(LOCK_LINE)).toBe(1); // locked, no unlock running
  expect(await doorAlarm()).toBeUndefined();
  chip.pull(DOOR_LINE, 'pull-up'); // forced open
  await waitFor(async () => (await doorAlarm()) === true, 'the door alarm in the device state', 10_000, 20);
  // Counted once: the door the guest opened during the unlock above raised nothing.
  expect(alarms()).toBe(1);
  expect(e.agent.store.auditTail(1, 3n)[0]).toMatchObject({ action: 'door', outcome: 'error' });
  chip.pull(DOOR_LINE, 'pull-down');
  await waitFor(
    async () => (await doorAlarm()) === undefined,
    'the alarm over once the door shuts',
    10_000,
    20,
  );
  expect(e.agent.store.auditTail(1, 3n)[0]).toMatchObject({ action: 'door', outcome: 'ok' });
  expect(chip.value(LOCK_LINE)).toBe(1);
});

it('powers an active-high socket (line high) for the rental, drops it at the lease end, settles', {
  timeout: 120_000,
}, async () => {
  await asGuest(e, 1, async ({ guest, contract }) => {
    const duration = 8;
    const { rental } = await rentDevice(contract, 4n, duration);
    ok(await actWhenLive(guest, rental, 'on', 'mqtt', 60_000), 'power on');
    expect(chip.value(SOCKET_LINE)).toBe(1);
    await waitFor(
      () => chip.value(SOCKET_LINE) === 0,
      'the socket off at the line after the rental',
      60_000,
      20,
    );
    const settlement = await settled(e.anvil.provider, e.contractAddress, rental.id, 60_000);
    expect(settlement.byReceipt).toBe(true);
    const receipt = await submittedReceipt(e.anvil.provider, settlement);
    expect(receipt.secondsUsed).toBeGreaterThan(0n);
    expect(receipt.secondsUsed).toBeLessThanOrEqual(BigInt(duration));
    expect(settlement.charge).toBe(receipt.secondsUsed * rental.pricePerSecond);
    expect(settlement.charge + settlement.refund).toBe(rental.deposit);
  });
});
