// A whole rental on a relay wired to an Arduino: the agent on anvil drives a socket relay on pin 7 of
// a simulated Uno running the real StandardFirmata firmware in simavr (hardware/test/firmataSim.ts),
// over its serial line. Rent → power on → the lease ends → the pin is seen low at the chip → the
// device-signed receipt is settled on chain for the seconds used.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded } from '../agent/embedded.js';
import { rentDevice } from '../contracts/rental.js';
import { type FirmataSimFiles, prepareFirmataSim, SimUno } from '../hardware/test/firmataSim.js';
import { actWhenLive, asGuest, ok, settled, startWithDevices, submittedReceipt, waitFor } from './system.js';

const prepared = prepareFirmataSim();
const missing = 'missing' in prepared ? prepared.missing : undefined;
if (missing && process.env.CI)
  throw new Error(`the Firmata rental test needs ${missing}, which CI must install`);
if (missing) console.warn(`skipping the Firmata rental test: install ${missing}`);

const PIN = 7;

describe.skipIf(missing !== undefined)('a rental on a Firmata relay', () => {
  let uno: SimUno;
  let e: Embedded;

  beforeAll(async () => {
    uno = new SimUno(prepared as FirmataSimFiles);
    await uno.start();
    e = await startWithDevices([
      {
        config: {
          id: 3n,
          kind: 'socket',
          pulseSeconds: 5,
          relay: { driver: 'firmata', link: { serial: uno.pty }, pin: PIN },
        },
        spec: {
          kind: 'socket',
          pricePerSecond: DEMO_PRICES.socket.pricePerSecond,
          pricePerWh: 0n,
          minDuration: 1,
        },
      },
    ]);
  }, 90_000);

  afterAll(async () => {
    await e?.stop();
    await uno?.stop();
  });

  it('powers pin 7 for the rental, drops it at the lease end and settles the receipt', {
    timeout: 60_000,
  }, async () => {
    expect(uno.level(PIN)).toBe(0);
    await asGuest(e, 0, async ({ guest, contract }) => {
      const duration = 6;
      const { rental } = await rentDevice(contract, 3n, duration);
      ok(await actWhenLive(guest, rental, 'on'), 'power on');
      expect(uno.level(PIN)).toBe(1);
      await waitFor(() => uno.level(PIN) === 0, 'pin 7 low at the chip after the rental', 30_000, 20);
      const settlement = await settled(e.anvil.provider, e.contractAddress, rental.id, 30_000);
      expect(settlement.byReceipt).toBe(true);
      const receipt = await submittedReceipt(e.anvil.provider, settlement);
      expect(receipt.secondsUsed).toBeGreaterThan(0n);
      expect(receipt.secondsUsed).toBeLessThanOrEqual(BigInt(duration));
      expect(settlement.charge).toBe(receipt.secondsUsed * rental.pricePerSecond);
      expect(settlement.charge + settlement.refund).toBe(rental.deposit);
      // The pin went high once (the rental), from agent start to lease end, and ended low.
      expect(uno.changes.filter((c) => c.pin === PIN && c.level === 1).length).toBe(1);
      expect(uno.changes.filter((c) => c.pin === PIN).at(-1)?.level).toBe(0);
    });
  });
});
