// The backlog the backfill benchmark puts on chain, planned ahead: every transaction of every guest
// with the rental it acts on, the events it must emit and the rentals the agent's store must end with.
// Contract bookkeeping (rental ids, the next free start of each device's calendar) is mirrored here so
// that extend, cancel and checkout can be signed without waiting for receipts.

import { committedRental, type Rental } from '../../contracts/typedData.js';

export type EventKind = 'Rented' | 'Extended' | 'Cancelled' | 'Settled';

export type Op =
  | { kind: 'rent'; deviceId: bigint; start: bigint; duration: number; deposit: bigint }
  | { kind: 'extend'; rental: Rental; extra: number; value: bigint }
  | { kind: 'cancel'; rental: Rental }
  | { kind: 'checkout'; rental: Rental };

export interface ExpectedRental extends Rental {
  deviceId: bigint;
  status: 'open' | 'cancelled' | 'settled';
}

export interface DevicePlan {
  deviceId: bigint;
  /** The one guest that books this device, so its transactions keep their order by nonce. */
  guest: number;
  ops: Op[];
}

export interface Backlog {
  /** Per device (and its guest), the transactions in order. */
  devices: DevicePlan[];
  /** Events on the gateway's devices, by kind. */
  events: Record<EventKind, number>;
  /** The gateway's rentals as the store must hold them after catching up. */
  rentals: Map<bigint, ExpectedRental>;
  /** Rentals of a device the gateway does not own (the watcher must ignore them). */
  foreignEvents: number;
}

export interface PlanOptions {
  /** Events on the gateway's devices, exactly. */
  events: number;
  deviceIds: bigint[];
  /** Guest addresses: guest i books device i, then the foreign devices in order. */
  guests: string[];
  /** Devices of another gateway on the same contract, with this many Rented events in all. */
  foreign: { deviceIds: bigint[]; events: number; signer: string };
  /** The gateway's signer address (lower-case), which every rental of its devices commits. */
  signer: string;
  /** Unix seconds: every booking starts at or after it (ahead of the chain clock for the whole run). */
  firstStart: bigint;
  pricePerSecond: bigint;
  depositFactor: bigint;
  seed: number;
}

/** Shares of the events after a device's first rental: most are Rented, then Extended, Cancelled, Settled. */
const P_EXTEND = 0.1;
const P_CANCEL = 0.06;
const P_SETTLE = 0.06;
/** Seconds; the device's minDuration is 60. */
const DURATIONS = [60, 120, 180, 240, 300] as const;
/** The contract refuses a start more than 30 days ahead; stay well inside it. */
const MAX_AHEAD_SECONDS = 25n * 86_400n;

/** Small deterministic PRNG (mulberry32): the same seed gives the same backlog. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface DeviceState {
  deviceId: bigint;
  rentalCount: bigint;
  /** Start of the next booking: after every end ever booked, so it is never refused as busy. */
  next: bigint;
}

/**
 * Plans `events` events spread evenly over the gateway's devices (guest i books device i), plus
 * Rented-only noise on the foreign devices.
 */
export function planBacklog(opts: PlanOptions): Backlog {
  const random = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const events: Record<EventKind, number> = { Rented: 0, Extended: 0, Cancelled: 0, Settled: 0 };
  const rentals = new Map<bigint, ExpectedRental>();
  const devices: DevicePlan[] = [];
  const guestOf = (i: number): string => {
    const address = opts.guests[i];
    if (!address) throw new Error(`no guest account for device ${i}`);
    return address;
  };
  const deposit = (seconds: number) => (opts.pricePerSecond * BigInt(seconds) * opts.depositFactor) / 100n;

  const planDevice = (
    deviceId: bigint,
    guest: number,
    count: number,
    rentOnly: boolean,
    signer: string,
  ): DevicePlan => {
    const d: DeviceState = { deviceId, rentalCount: 0n, next: opts.firstStart };
    const ops: Op[] = [];
    let last: ExpectedRental | undefined; // the device's last booking, while it still is
    let made = 0;
    const add = (op: Op, kind: EventKind) => {
      ops.push(op);
      made++;
      if (!rentOnly) events[kind]++;
    };
    while (made < count) {
      const r = random();
      if (!rentOnly && last && r < P_EXTEND) {
        // Extend the last booking (only the last may be extended); it has not started yet.
        const extra = pick(DURATIONS);
        add({ kind: 'extend', rental: committedRental(last), extra, value: deposit(extra) }, 'Extended');
        last.end += BigInt(extra);
        last.deposit += deposit(extra);
        d.next = last.end;
      } else if (!rentOnly && last && r < P_EXTEND + P_CANCEL) {
        add({ kind: 'cancel', rental: committedRental(last) }, 'Cancelled');
        last.status = 'cancelled';
        last = undefined;
      } else if (!rentOnly && last && r < P_EXTEND + P_CANCEL + P_SETTLE) {
        add({ kind: 'checkout', rental: committedRental(last) }, 'Settled');
        last.status = 'settled';
        last = undefined;
      } else {
        const duration = pick(DURATIONS);
        const start = d.next;
        if (start - opts.firstStart > MAX_AHEAD_SECONDS)
          throw new Error(
            `device ${deviceId}: ${count} events book it beyond 25 days ahead; use more devices`,
          );
        const rental: ExpectedRental = {
          id: (deviceId << 64n) | d.rentalCount,
          guest: guestOf(guest),
          start,
          end: start + BigInt(duration),
          deposit: deposit(duration),
          pricePerSecond: opts.pricePerSecond,
          pricePerWh: 0n,
          signer,
          maxWatts: 0n,
          cancelWindow: 0n,
          deviceId,
          status: 'open',
        };
        add({ kind: 'rent', deviceId, start, duration, deposit: rental.deposit }, 'Rented');
        d.rentalCount++;
        d.next = rental.end;
        last = rental;
        if (!rentOnly) rentals.set(rental.id, rental);
      }
    }
    return { deviceId, guest, ops };
  };

  const share = (total: number, n: number, i: number) => Math.floor(total / n) + (i < total % n ? 1 : 0);
  opts.deviceIds.forEach((id, i) => {
    devices.push(planDevice(id, i, share(opts.events, opts.deviceIds.length, i), false, opts.signer));
  });
  opts.foreign.deviceIds.forEach((id, i) => {
    const count = share(opts.foreign.events, opts.foreign.deviceIds.length, i);
    devices.push(planDevice(id, opts.deviceIds.length + i, count, true, opts.foreign.signer));
  });
  return { devices, events, rentals, foreignEvents: opts.foreign.events };
}
