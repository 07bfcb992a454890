// A whole rental on a real-protocol smart plug: the agent on anvil and its embedded broker drives a
// Shelly Gen2 plug (simulated at the protocol level) on the host's own MQTT broker. Rent → power on
// over MQTT → the plug meters energy → the lease ends → the plug is seen off at the device → the
// device-signed receipt charges the seconds and the Wh the plug measured, settled on chain.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded } from '../agent/embedded.js';
import { type BrokerUnderTest, startAedes } from '../agent/mqtt/testkit.js';
import { rentDevice } from '../contracts/rental.js';
import { SimShelly } from '../hardware/test/mqttDeviceSims.js';
import { actWhenLive, asGuest, ok, settled, startWithDevices, submittedReceipt, waitFor } from './system.js';

const PREFIX = 'shellyplusplugs-e2e';
const PRICE_PER_WH = 100_000_000_000n; // 1e11 wei: the energy stays inside the deposit
let plugBroker: BrokerUnderTest;
let plug: SimShelly;
let e: Embedded;

beforeAll(async () => {
  plugBroker = await startAedes(); // the host's own broker, where the plug already lives
  plug = new SimShelly(plugBroker.url, PREFIX);
  plug.totalWh = 4321; // counted before this gateway ever saw the plug
  await plug.connect();
  e = await startWithDevices([
    {
      config: {
        id: 3n,
        kind: 'socket',
        pulseSeconds: 5,
        relay: { driver: 'shelly', url: plugBroker.url, prefix: PREFIX },
      },
      spec: {
        kind: 'socket',
        pricePerSecond: DEMO_PRICES.socket.pricePerSecond,
        pricePerWh: PRICE_PER_WH,
        // The simulated plug reports 37 Wh in 8 s: a prepaid allowance that covers it (8 s at 20 kW is
        // 45 Wh), so the receipt charges everything measured.
        maxWatts: 20_000,
        minDuration: 1,
      },
    },
  ]);
}, 60_000);

afterAll(async () => {
  await e?.stop();
  await plug?.stop();
  await plugBroker?.stop();
});

it('powers a Shelly plug for the rental, switches it off at the end and charges the measured Wh', {
  timeout: 60_000,
}, async () => {
  await asGuest(e, 0, async ({ guest, contract }) => {
    const duration = 8;
    const { rental } = await rentDevice(contract, 3n, duration);
    ok(await actWhenLive(guest, rental, 'on'), 'power on');
    expect(plug.on).toBe(true);
    await plug.addEnergy(25);
    await plug.addEnergy(12);
    // The lease ends the rental by itself; the plug is seen off at the device, not only in the agent.
    await waitFor(() => !plug.on, 'the plug is off after the rental', 30_000, 50);
    const settlement = await settled(e.anvil.provider, e.contractAddress, rental.id, 30_000);
    expect(settlement.byReceipt).toBe(true);
    const receipt = await submittedReceipt(e.anvil.provider, settlement);
    expect(receipt.energyWh).toBe(37n);
    expect(receipt.secondsUsed).toBeGreaterThan(0n);
    expect(receipt.secondsUsed).toBeLessThanOrEqual(BigInt(duration));
    expect(settlement.charge).toBe(receipt.secondsUsed * rental.pricePerSecond + 37n * PRICE_PER_WH);
    expect(settlement.charge + settlement.refund).toBe(rental.deposit);
  });
});
