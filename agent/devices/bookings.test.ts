// Several bookings of one device, arriving in any order: the chain's logs applied to the store as the
// watcher does (RentalLedger), their notices passed to the controller as the agent does, and the
// expiry sweep. A rental may start before bookings already known; one in the middle may be cancelled.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Rental } from '../../contracts/typedData.js';
import { SimRelay } from '../../hardware/sim.js';
import { RentalLedger } from '../chain/apply.js';
import type { DecodedLog, RentalEvent } from '../chain/decode.js';
import type { Store, StoredReceipt } from '../store/store.js';
import type { DeviceController } from './controller.js';
import { endPastRentals } from './sweep.js';
import { GUEST, tempStore, testController, unixNow } from './testkit.js';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const HOUR = 3600;

let env: ReturnType<typeof tempStore>;
let store: Store;
let ledger: RentalLedger;
let logIndex = 0;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  env = tempStore();
  store = env.store;
  ledger = new RentalLedger(store);
});

afterEach(() => {
  vi.clearAllTimers();
  vi.useRealTimers();
  env.cleanup();
});

function booking(seq: bigint, start: number, end: number): Rental {
  return {
    id: (1n << 64n) | seq,
    guest: GUEST,
    start: BigInt(start),
    end: BigInt(end),
    deposit: 2n * 10n ** 9n * BigInt(end - start),
    pricePerSecond: 10n ** 9n,
    pricePerWh: 0n,
    signer: '0x00000000000000000000000000000000005e1e57',
    maxWatts: 0n,
    cancelWindow: 0n,
  };
}

const hash = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;

/** Applies `events` in one block as the watcher does, then hands the notices to the controller. */
async function chainSays(ctl: DeviceController, block: number, ...events: RentalEvent[]): Promise<void> {
  const logs: DecodedLog[] = events.map((e) => {
    const i = logIndex++;
    return {
      ...e,
      blockNumber: block,
      blockHash: hash(block),
      txHash: hash(1000 + i),
      logIndex: i,
      key: `${hash(1000 + i)}:${i}`,
    };
  });
  const { notices } = store.tx(() => ledger.apply(logs));
  for (const n of notices) {
    if (n.kind === 'rental') await ctl.updateRental(n.rental);
    else if (n.kind === 'closed') {
      if (n.status !== 'open') await ctl.endRental(n.rentalId, n.status);
    } else await ctl.endRental(n.rentalId, 'revoked');
  }
}

const rented = (r: Rental): RentalEvent => ({ kind: 'Rented', rentalId: r.id, deviceId: 1n, rental: r });
const cancelled = (r: Rental): RentalEvent => ({
  kind: 'Cancelled',
  rentalId: r.id,
  deviceId: 1n,
  fee: 0n,
  refund: r.deposit,
});
const extendedBy = (r: Rental, seconds: number): RentalEvent => ({
  kind: 'Extended',
  rentalId: r.id,
  deviceId: 1n,
  end: r.end + BigInt(seconds),
  deposit: r.deposit + 2n * 10n ** 9n * BigInt(seconds),
});

function socket() {
  const relay = new SimRelay();
  const ctl = testController(relay, store, { kind: 'socket' });
  const receipts: StoredReceipt[] = [];
  ctl.on('receipt', (r) => receipts.push(r));
  return { ctl, relay, receipts };
}

const open = (id: bigint) => {
  const r = store.getRental(id);
  if (r?.status !== 'open') throw new Error(`rental ${id} is not open in the store`);
  return r;
};

async function at(unix: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(unix * 1000 - Date.now());
}

describe('bookings in any order', () => {
  it('a rental booked after three future ones and starting before them all, a cancelled one in the middle', async () => {
    const { ctl, relay, receipts } = socket();
    await ctl.start();
    const now = unixNow();
    const f1 = booking(1n, now + 2 * HOUR, now + 3 * HOUR);
    const f2 = booking(2n, now + 4 * HOUR, now + 5 * HOUR);
    const f3 = booking(3n, now + 6 * HOUR, now + 7 * HOUR);
    const c = booking(4n, now - 60, now + HOUR); // booked last, starts first
    await chainSays(ctl, 10, rented(f1), rented(f2), rented(f3));
    await chainSays(ctl, 11, rented(c));
    await chainSays(ctl, 12, cancelled(f2));
    expect(store.openRentals(1n).map((r) => r.id)).toEqual([c.id, f1.id, f3.id]);

    await ctl.apply({ rental: open(c.id), action: 'on' });
    expect(relay.isClosed()).toBe(true);
    // extending the earliest booking while later ones are known moves its lease only
    await chainSays(ctl, 13, extendedBy(c, 1800));
    expect(ctl.state()).toMatchObject({ rentalId: c.id, relay: 'closed', leaseEndsAt: now + HOUR + 1800 });
    expect(await endPastRentals(store, ctl, unixNow())).toEqual([]);

    await at(now + HOUR + 1800);
    expect(relay.isClosed()).toBe(false);
    expect(receipts.map((r) => r.rentalId)).toEqual([c.id]);
    expect(receipts[0]?.receipt.secondsUsed).toBe(BigInt(HOUR + 1800));
    // the sweep sees c (not yet settled on chain) and writes nothing more; the future ones stay
    expect(await endPastRentals(store, ctl, unixNow())).toEqual([c.id]);
    expect(receipts).toHaveLength(1);

    await at(now + 2 * HOUR + 600);
    await ctl.apply({ rental: open(f1.id), action: 'on' });
    expect(ctl.state()).toMatchObject({ rentalId: f1.id, relay: 'closed' });
    await at(now + 3 * HOUR);
    expect(relay.isClosed()).toBe(false);
    expect(receipts.map((r) => r.rentalId)).toEqual([c.id, f1.id]);
    expect(receipts[1]?.receipt.secondsUsed).toBe(BigInt(HOUR - 600));

    // past the cancelled f2 and the never-used f3: f3 gets its (zero) receipt, f2 never one
    await at(now + 7 * HOUR + 1);
    expect(await endPastRentals(store, ctl, unixNow())).toEqual([c.id, f1.id, f3.id]);
    expect(receipts.map((r) => [r.rentalId, r.receipt.secondsUsed])).toEqual([
      [c.id, BigInt(HOUR + 1800)],
      [f1.id, BigInt(HOUR - 600)],
      [f3.id, 0n],
    ]);
    expect(store.getReceipt(f2.id)).toBeUndefined();
    expect(ctl.state().phase).toBe('idle');
  });

  it('cancelling, extending or reorging out other bookings leaves the rental holding the device alone', async () => {
    const { ctl, relay, receipts } = socket();
    await ctl.start();
    const now = unixNow();
    const later = booking(1n, now + 2 * HOUR, now + 3 * HOUR);
    const further = booking(2n, now + 5 * HOUR, now + 6 * HOUR);
    const c = booking(3n, now - 60, now + HOUR);
    const third = booking(4n, now + 8 * HOUR, now + 9 * HOUR);
    await chainSays(ctl, 20, rented(later), rented(further));
    await chainSays(ctl, 21, rented(c));
    await ctl.apply({ rental: open(c.id), action: 'on' });

    await chainSays(ctl, 22, extendedBy(later, 600), cancelled(further));
    await chainSays(ctl, 23, rented(third));
    expect(ctl.state()).toMatchObject({ rentalId: c.id, relay: 'closed', leaseEndsAt: now + HOUR });
    expect(store.openRentals(1n).map((r) => r.id)).toEqual([c.id, later.id, third.id]);
    // a reorg removes blocks 22 and 23: `third` is revoked, `further` open again, `later` as booked
    const touched = store.tx(() => ledger.undoTo(21, new Map()));
    expect([...touched].sort()).toEqual([later.id, further.id, third.id].sort());
    for (const id of touched) {
      const r = store.getRental(id);
      if (r?.status === 'open') await ctl.updateRental(r);
      else await ctl.endRental(id, 'revoked');
    }
    expect(store.openRentals(1n).map((r) => [r.id, r.end])).toEqual([
      [c.id, c.end],
      [later.id, later.end],
      [further.id, further.end],
    ]);
    expect(relay.isClosed()).toBe(true);
    expect(ctl.state().rentalId).toBe(c.id);
    expect(receipts).toEqual([]);
  });

  it('a restart resumes the rental that held the device, not the future bookings made before it', async () => {
    const first = socket();
    await first.ctl.start();
    const now = unixNow();
    const f1 = booking(1n, now + 2 * HOUR, now + 3 * HOUR);
    const c = booking(2n, now - 60, now + HOUR);
    await chainSays(first.ctl, 30, rented(f1), rented(c));
    await first.ctl.apply({ rental: open(c.id), action: 'on' });
    await vi.advanceTimersByTimeAsync(60_000);
    await first.ctl.stop();

    const second = socket();
    await second.ctl.start();
    expect(second.ctl.state()).toMatchObject({ rentalId: c.id, relay: 'closed', leaseEndsAt: now + HOUR });
    await chainSays(second.ctl, 31, cancelled(f1));
    await at(now + HOUR);
    expect(second.receipts.map((r) => r.rentalId)).toEqual([c.id]);
    await at(now + 3 * HOUR + 1);
    expect(await endPastRentals(store, second.ctl, unixNow())).toEqual([c.id]);
    expect(store.getReceipt(f1.id)).toBeUndefined();
  });

  it('a grant for an earlier booking never ends a later one holding the device (a clock that went back)', async () => {
    const { ctl, relay, receipts } = socket();
    await ctl.start();
    const now = unixNow();
    const early = booking(1n, now - 2 * HOUR, now - HOUR);
    const held = booking(2n, now - 60, now + HOUR);
    await chainSays(ctl, 40, rented(early), rented(held));
    await ctl.apply({ rental: open(held.id), action: 'on' });
    // The access check passed `early` because the clock now reads inside it (stepped back 90 min).
    vi.setSystemTime(T0 - 90 * 60 * 1000);
    const refused = await ctl.apply({ rental: open(early.id), action: 'on' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/booked after rental .* holds the device/);
    expect(ctl.state()).toMatchObject({ rentalId: held.id, relay: 'closed' });
    expect(relay.isClosed()).toBe(true);
    expect(receipts).toEqual([]);
  });
});
