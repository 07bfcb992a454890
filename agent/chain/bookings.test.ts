// Several future bookings of one device on a real chain (anvil), followed into the store by the
// watcher: bookings ahead, one cancelled in the middle, and a rental that starts before a booking the
// store already knows (as far as the contract of today allows: the later one was cancelled).

import { describe, expect, it } from 'vitest';
import type { Rental } from '../../contracts/typedData.js';
import { type Chain, DURATION, record, storeFor, useChain, watcherOptions } from './test/chain.js';
import { ChainWatcher } from './watcher.js';

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

async function latest(): Promise<bigint> {
  return BigInt((await chain.anvil.provider.getBlock('latest'))!.timestamp);
}

describe('several future bookings on chain', () => {
  it('keeps every open booking of the device by start, whatever order they were made and cancelled in', async () => {
    const { store } = storeFor(cleanups);
    const watcher = new ChainWatcher({ ...(await watcherOptions(chain)), store });
    cleanups.push(() => watcher.stop());
    const seen = record(watcher);
    await watcher.start();

    const ahead = (await latest()) + 2n * 3600n;
    const { rental: f1 } = await chain.rent({ start: ahead });
    const { rental: f2 } = await chain.rent(); // right after f1
    const { rental: f3 } = await chain.rent(); // right after f2
    const { rental: f4 } = await chain.rent({ start: f3.end + 3600n }); // an hour after f3
    expect([f2.start, f3.start]).toEqual([f1.end, f2.end]);
    await (await chain.asGuest.cancel(f2)).wait(); // the middle one
    await (await chain.asGuest.cancel(f4)).wait(); // the last one: the device is free after f3 again
    const { rental: g } = await chain.rent({ duration: DURATION / 2 }); // booked last
    expect(g.start).toBe(f3.end);
    expect(g.start).toBeLessThan(f4.start); // starts before a booking the store already knows
    await chain.mine(2);
    await watcher.poll();

    const ids = (rs: Rental[]) => rs.map((r) => r.id);
    expect(ids(store.openRentals(chain.deviceId))).toEqual(ids([f1, f3, g]));
    expect(store.getRental(f2.id)?.status).toBe('cancelled');
    expect(store.getRental(f4.id)?.status).toBe('cancelled');
    expect(seen.closed).toEqual([
      [f2.id, 'cancelled'],
      [f4.id, 'cancelled'],
    ]);
    expect(seen.rental.map((r) => r.id)).toEqual(ids([f1, f2, f3, f4, g]));
    for (const r of [f1, f3, g])
      expect(store.getRental(r.id)).toMatchObject({ start: r.start, end: r.end, status: 'open' });
  });
});
