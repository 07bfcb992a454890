// Several future bookings of one device on a real chain (anvil), made in any order (the contract keeps
// a calendar), followed into the store by the watcher, granted access only inside their own window
// and settled one by one by the gateway's receipts; a cancelled window is booked again.

import { describe, expect, it } from 'vitest';
import { mined } from '../../contracts/deploy.js';
import { domainSeparator, hexToBytes } from '../../contracts/eip712.js';
import { findLatchkeyEvent } from '../../contracts/events.js';
import { rentDevice } from '../../contracts/rental.js';
import { domain, type Rental } from '../../contracts/typedData.js';
import { SimRelay } from '../../hardware/sim.js';
import { accessFor, signNoble, wire } from '../access/test/fixtures.js';
import { type VerifyContext, verifyAccess } from '../access/verify.js';
import { DeviceController } from '../devices/controller.js';
import { ReceiptKeys } from '../devices/receiptKeys.js';
import { ReceiptSigner } from '../devices/receipts.js';
import { silentLogger } from '../log.js';
import {
  type Chain,
  DURATION,
  PRICE_PER_SECOND,
  record,
  registerSocket,
  storeFor,
  useChain,
  watcherOptions,
} from './test/chain.js';
import { ChainWatcher } from './watcher.js';

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

const HOUR = 3600n;

async function latest(): Promise<bigint> {
  return BigInt((await chain.anvil.provider.getBlock('latest'))!.timestamp);
}

/** The next minute boundary (the calendar slot) at least `ahead` seconds from the chain's clock. */
async function slotAhead(ahead: bigint): Promise<bigint> {
  return (((await latest()) + ahead + 59n) / 60n) * 60n;
}

const ids = (rs: Rental[]) => rs.map((r) => r.id);

describe('several future bookings on chain', () => {
  it('keeps every open booking of the device by start, whatever order they were made and cancelled in', async () => {
    const { store } = storeFor(cleanups);
    const watcher = new ChainWatcher({ ...(await watcherOptions(chain)), store });
    cleanups.push(() => watcher.stop());
    const seen = record(watcher);
    await watcher.start();

    const t = await slotAhead(2n * HOUR);
    const { rental: far } = await chain.rent({ start: t + 5n * HOUR }); // booked first, starts last
    const { rental: mid } = await chain.rent({ start: t + 2n * HOUR });
    const { rental: first } = await chain.rent({ start: t });
    const { rental: gone } = await chain.rent({ start: t + 3n * HOUR }); // right after mid
    await (await chain.asGuest.cancel(gone)).wait();
    const { rental: again } = await chain.rent({ start: gone.start, duration: DURATION / 2 }); // its window, rebooked
    const { rental: now } = await chain.rent({ duration: DURATION / 2 }); // booked last, starts first
    await chain.mine(2);
    await watcher.poll();

    expect(ids(store.openRentals(chain.deviceId))).toEqual(ids([now, first, mid, again, far]));
    expect(store.getRental(gone.id)?.status).toBe('cancelled');
    expect(seen.closed).toEqual([[gone.id, 'cancelled']]);
    expect(seen.rental.map((r) => r.id)).toEqual(ids([far, mid, first, gone, again, now]));
    for (const r of [now, first, mid, again, far])
      expect(store.getRental(r.id)).toMatchObject({ start: r.start, end: r.end, status: 'open' });
  });

  it('grants each booking only inside its own window and settles each by its receipt', async () => {
    const separator = domainSeparator(domain(chain.anvil.chainId, chain.address));
    const signer = new ReceiptSigner(hexToBytes(chain.deviceKey), separator);
    const deviceId = await registerSocket(chain, signer.address);
    const { store } = storeFor(cleanups);
    const watcher = new ChainWatcher({
      ...(await watcherOptions(chain, { deviceIds: [deviceId], confirmations: 0 })),
      store,
    });
    cleanups.push(() => watcher.stop());
    let clock = Number(await latest()); // the gateway's trusted clock, moved with the chain's
    const ctl = new DeviceController({
      deviceId,
      kind: 'socket',
      pulseSeconds: 5,
      relay: new SimRelay(),
      store,
      keys: new ReceiptKeys(signer),
      now: () => clock,
      log: silentLogger,
    });
    cleanups.push(() => ctl.stop());
    // as agent.ts wires them
    watcher.on('rental', (r) => void ctl.updateRental(r));
    watcher.on('closed', (id, status) => {
      if (status !== 'open') void ctl.endRental(id, status);
    });
    await ctl.start();
    await watcher.start();

    // Booked out of order: the latest window first; a window cancelled and booked again.
    const t = await slotAhead(HOUR);
    const rent = async (start: bigint) => (await rentDevice(chain.asGuest, deviceId, 3600, { start })).rental;
    const late = await rent(t + 4n * HOUR);
    const early = await rent(t);
    const dropped = await rent(t + 2n * HOUR);
    await mined((await chain.asGuest.cancel(dropped)).wait());
    const rebooked = await rent(dropped.start);
    await watcher.poll();
    const bookings = [early, rebooked, late];
    expect(ids(store.openRentals(deviceId))).toEqual(ids(bookings));

    const ctx = (): VerifyContext => ({
      now: clock,
      deviceId,
      kind: 'socket',
      separator,
      maxValiditySeconds: 300,
      rental: (id) => store.getRental(id),
      nonceUsed: () => false,
    });
    const verdict = (r: Rental) => {
      const a = accessFor(deviceId, { rentalId: r.id, action: 'on', validUntil: BigInt(clock + 60) });
      const v = verifyAccess(wire(a, signNoble(a, separator, chain.guest.privateKey)), ctx());
      return v.ok ? 'granted' : v.reason;
    };

    for (const r of bookings) {
      clock = Number(r.start) - 30;
      expect(bookings.map(verdict)).toEqual(
        bookings.map((b) => (b.end <= r.start ? 'rental-not-open' : 'not-started')),
      );
      clock = Number(r.start) + 30;
      expect(bookings.map(verdict)).toEqual(
        bookings.map((b) =>
          b.id === r.id ? 'granted' : b.end <= r.start ? 'rental-not-open' : 'not-started',
        ),
      );
      const stored = store.getRental(r.id);
      if (!stored) throw new Error(`rental ${r.id} is not in the store`);
      await ctl.apply({ rental: stored, action: 'on' });
      expect(ctl.state()).toMatchObject({ rentalId: r.id, relay: 'closed' });

      clock = Number(r.start) + 600;
      const { receipt } = await ctl.apply({ rental: stored, action: 'checkout' });
      if (!receipt) throw new Error('no receipt');
      // powered time, measured by the gateway's own timer: at most the 570 s from grant to checkout
      expect(receipt.receipt.secondsUsed).toBeLessThanOrEqual(570n);
      await chain.rpc('evm_setNextBlockTimestamp', [clock]);
      const tx = await mined((await chain.asGuest.checkout(r, receipt.receipt, receipt.signature)).wait());
      expect(findLatchkeyEvent(tx, 'Settled')?.args).toMatchObject({
        rentalId: r.id,
        charge: PRICE_PER_SECOND * receipt.receipt.secondsUsed,
        byReceipt: true,
      });
      await watcher.poll();
      expect(store.getRental(r.id)?.status).toBe('settled');
    }
    expect(store.openRentals(deviceId)).toEqual([]);
  });
});
