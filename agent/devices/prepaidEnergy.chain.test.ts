// Prepaid energy end to end on a real chain (anvil) and a real broker (aedes): an energy-priced socket
// rented on chain, followed by the watcher, powered through the Tasmota driver, switched off when its
// metered energy reaches what the deposit covers, powered again after the guest extends (a top-up),
// and its receipt settled on chain for every Wh measured, within the deposit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mined } from '../../contracts/deploy.js';
import { domainSeparator, hexToBytes } from '../../contracts/eip712.js';
import { findLatchkeyEvent } from '../../contracts/events.js';
import { extendRental } from '../../contracts/rental.js';
import { domain } from '../../contracts/typedData.js';
import { createDriverContext, createRelay } from '../../hardware/drivers.js';
import { SimTasmota } from '../../hardware/test/mqttDeviceSims.js';
import {
  type Chain,
  PRICE_PER_SECOND,
  registerSocket,
  storeFor,
  useChain,
  watcherOptions,
} from '../chain/test/chain.js';
import { ChainWatcher } from '../chain/watcher.js';
import { silentLogger } from '../log.js';
import { type BrokerUnderTest, startAedes } from '../mqtt/testkit.js';
import { DeviceController } from './controller.js';
import { feedDeviceReports } from './deviceReports.js';
import { ReceiptKeys } from './receiptKeys.js';
import { ReceiptSigner } from './receipts.js';

const PRICE_PER_WH = 10n ** 11n;

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

async function until(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('prepaid energy on chain', () => {
  let broker: BrokerUnderTest;
  beforeAll(async () => {
    broker = await startAedes();
  });
  afterAll(() => broker.stop());

  it('cuts a socket off at what its deposit covers, powers it again after an extension, and settles every Wh', async () => {
    const signer = new ReceiptSigner(
      hexToBytes(chain.deviceKey),
      domainSeparator(domain(chain.anvil.chainId, chain.address)),
    );
    const deviceId = await registerSocket(chain, signer.address, {
      pricePerWh: PRICE_PER_WH,
      maxWatts: 36, // an allowance of 36 Wh an hour
    });
    const { store } = storeFor(cleanups);
    const watcher = new ChainWatcher({
      ...(await watcherOptions(chain, { deviceIds: [deviceId], confirmations: 0 })),
      store,
    });
    cleanups.push(() => watcher.stop());

    const sim = new SimTasmota(broker.url, 'prepaid-chain');
    sim.totalWh = 1234;
    await sim.connect();
    cleanups.push(() => sim.stop());
    const relay = await createRelay(
      { driver: 'tasmota', url: broker.url, topic: 'prepaid-chain' },
      createDriverContext(silentLogger),
    );
    const totals: number[] = [];
    relay.events?.on('energy', (t) => totals.push(t));
    const ctl = new DeviceController({
      deviceId,
      kind: 'socket',
      pulseSeconds: 5,
      relay,
      store,
      keys: new ReceiptKeys(signer),
      now: () => Math.floor(Date.now() / 1000),
      log: silentLogger,
    });
    feedDeviceReports(relay, ctl, silentLogger);
    cleanups.push(() => ctl.stop());
    // as agent.ts wires them
    watcher.on('rental', (r) => void ctl.updateRental(r));
    watcher.on('closed', (id, status) => {
      if (status !== 'open') void ctl.endRental(id, status);
    });
    await ctl.start();
    await watcher.start();
    await until('the baseline arrived', () => totals.includes(1234));

    const { rental } = await chain.rent({ deviceId, duration: 3600 });
    await watcher.poll();
    const stored = store.getRental(rental.id);
    if (!stored) throw new Error('the watcher did not store the rental');
    await ctl.apply({ rental: stored, action: 'on' });
    // 36 W for an hour: the deposit prepays 36 Wh
    expect(ctl.state()).toMatchObject({ relay: 'closed', prepaidEnergyWh: 36 });

    await sim.addEnergy(30);
    await until('30 Wh counted', () => ctl.state().energyWh === 30);
    await sim.addEnergy(7);
    await until('switched off', () => !sim.on && ctl.state().relay === 'open');
    expect(ctl.state()).toMatchObject({ offReason: 'prepaid-energy-used', energyWh: 37 });

    const { rental: extended } = await extendRental(chain.asGuest, rental, 3600);
    await watcher.poll();
    await until('powered again', () => sim.on && ctl.state().relay === 'closed');
    expect(ctl.state()).toMatchObject({ prepaidEnergyWh: 72, leaseEndsAt: Number(extended.end) });
    expect(ctl.state().offReason).toBeUndefined();

    await sim.addEnergy(5);
    await until('42 Wh counted', () => ctl.state().energyWh === 42);
    const { receipt } = await ctl.apply({ rental: store.getRental(rental.id)!, action: 'checkout' });
    if (!receipt) throw new Error('no receipt');
    expect(receipt.receipt.energyWh).toBe(42n);
    const tx = await mined(
      (await chain.asGuest.checkout(extended, receipt.receipt, receipt.signature)).wait(),
    );
    const settled = findLatchkeyEvent(tx, 'Settled');
    const metered = PRICE_PER_SECOND * receipt.receipt.secondsUsed + PRICE_PER_WH * 42n;
    expect(settled?.args.charge).toBe(metered); // every Wh paid: the deposit was never exceeded
    expect(metered).toBeLessThanOrEqual(extended.deposit);
  });
});
