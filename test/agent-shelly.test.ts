// A whole rental on a real-protocol smart plug: the agent on anvil and its embedded broker drives a
// Shelly Gen2 plug (simulated at the protocol level) on the host's own MQTT broker. Rent → power on
// over MQTT → the plug meters energy → the lease ends → the plug is seen off at the device → the
// device-signed receipt charges the seconds and the Wh the plug measured, settled on chain.

import { Wallet } from 'ethers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded, startEmbedded } from '../agent/embedded.js';
import { type BrokerUnderTest, startAedes } from '../agent/mqtt/testkit.js';
import { latchkeyAt, latchkeyInterface } from '../contracts/deploy.js';
import { rentDevice } from '../contracts/rental.js';
import { SimShelly } from '../hardware/test/mqttDeviceSims.js';
import {
  actWhenLive,
  embeddedSetup,
  guestLogin,
  guestOf,
  ok,
  registerDevices,
  settled,
  testLog,
  waitFor,
  waitOnline,
} from './system.js';

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
  e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    configOverrides: (c) => ({
      ...c,
      chain: { ...c.chain, pollMs: 100 },
      devices: [
        ...c.devices,
        {
          id: 3n,
          kind: 'socket' as const,
          pulseSeconds: 5,
          relay: { driver: 'shelly', url: plugBroker.url, prefix: PREFIX },
        },
      ],
    }),
  });
  const [id] = await registerDevices(e.contract, e.gateway.address, [
    {
      kind: 'socket',
      pricePerSecond: DEMO_PRICES.socket.pricePerSecond,
      pricePerWh: PRICE_PER_WH,
      // The simulated plug reports 37 Wh in 8 s: a prepaid allowance that covers it (8 s at 20 kW is
      // 45 Wh), so the receipt charges everything measured.
      maxWatts: 20_000,
      minDuration: 1,
    },
  ]);
  expect(id).toBe(3n);
  await waitOnline(e.broker.url, e.config.gatewayId, guestLogin(e));
}, 60_000);

afterAll(async () => {
  await e?.stop();
  await plug?.stop();
  await plugBroker?.stop();
});

it('powers a Shelly plug for the rental, switches it off at the end and charges the measured Wh', {
  timeout: 60_000,
}, async () => {
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  const guest = await guestOf(account, embeddedSetup(e, { mqttUrl: e.broker.url }));
  try {
    const asGuest = latchkeyAt(e.contractAddress, new Wallet(account.privateKey, e.anvil.provider));
    const duration = 8;
    const { rental } = await rentDevice(asGuest, 3n, duration);
    ok(await actWhenLive(guest, rental, 'on'), 'power on');
    expect(plug.on).toBe(true);
    await plug.addEnergy(25);
    await plug.addEnergy(12);
    // The lease ends the rental by itself; the plug is seen off at the device, not only in the agent.
    await waitFor(() => !plug.on, 'the plug is off after the rental', 30_000, 50);
    const settlement = await settled(e.anvil.provider, e.contractAddress, rental.id, 30_000);
    expect(settlement.byReceipt).toBe(true);
    const tx = await e.anvil.provider.getTransaction(settlement.txHash);
    const call = latchkeyInterface.parseTransaction({ data: tx?.data ?? '0x' });
    const receipt = call?.args.getValue('receipt') as { secondsUsed: bigint; energyWh: bigint };
    expect(receipt.energyWh).toBe(37n);
    expect(receipt.secondsUsed).toBeGreaterThan(0n);
    expect(receipt.secondsUsed).toBeLessThanOrEqual(BigInt(duration));
    expect(settlement.charge).toBe(receipt.secondsUsed * rental.pricePerSecond + 37n * PRICE_PER_WH);
    expect(settlement.charge + settlement.refund).toBe(rental.deposit);
  } finally {
    await guest.close();
  }
});
