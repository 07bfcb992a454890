// Everything the page reads about a device's price and availability goes through this one module:
// the offer (prices, deposit factor, durations, the next free time), the quote for a duration, the
// top-up for an extension and the rent call. When the contract's interface changes (a quote that
// returns a deposit and a maximum charge, a calendar of bookings, an energy allowance, cancellation
// fees) this file is what adapts; the screens only see Offer and Quote.

import { cancelFee, extensionDeposit } from '../../contracts/rental.js';
import type { Rental } from '../../contracts/typedData.js';
import { type Chain, latchkey } from './chain.js';

export interface Offer {
  deviceId: bigint;
  kind: 'lock' | 'socket';
  active: boolean;
  pricePerSecond: bigint;
  pricePerWh: bigint;
  /** Percent of the rent taken as deposit (200 = twice). */
  depositFactor: bigint;
  minDuration: number;
  maxDuration: number;
  /**
   * Unix seconds from which a new rental of the shortest duration may start (the contract's nextFree:
   * bookings may be made in any order, so a booking far ahead does not move it); 0n when free now.
   */
  nextFree: bigint;
  /** The calendar slot: a booking holds every slot it touches. */
  slotSeconds: number;
  /** Cancelling at least this long before the start is free; later the fee grows to the whole rent. */
  cancelWindow: number;
}

export interface Quote {
  seconds: number;
  /** Paid now, held by the contract. */
  deposit: bigint;
  /** The most the guest can be charged: the booked rent, plus the energy allowance's cost if priced. */
  maxCharge: bigint;
  /** Watt-hours the deposit prepays (a socket priced by energy is switched off once they are used). */
  energyWh: bigint;
  /** What comes back if the device is never used: the deposit less the least charge for the time. */
  backIfUnused: bigint;
}

export async function readOffer(chain: Chain, deviceId: bigint): Promise<Offer> {
  // Both calls at one block: nextFree answers that block's time when the device is free now, which
  // must not pass for a later start when a block is mined in between.
  const head = await chain.head();
  const [d] = await chain.call('device', [deviceId], head.number);
  const [free] = await chain.call('nextFree', [deviceId, 0n, d.minDuration], head.number);
  const now = head.timestamp;
  const kind = Number(d.kind) === 1 ? 'socket' : 'lock';
  return {
    deviceId,
    kind,
    active: d.active as boolean,
    pricePerSecond: d.pricePerSecond as bigint,
    pricePerWh: d.pricePerWh as bigint,
    depositFactor: BigInt(d.depositFactor),
    minDuration: Number(d.minDuration),
    maxDuration: Number(d.maxDuration),
    nextFree: (free as bigint) > now ? (free as bigint) : 0n,
    slotSeconds: Number(d.slotSeconds),
    cancelWindow: Number(d.cancelWindow),
  };
}

export async function quote(chain: Chain, offer: Offer, seconds: number): Promise<Quote> {
  const [q] = (await chain.call('quote', [offer.deviceId, seconds])) as unknown as [
    { deposit: bigint; rent: bigint; energyWh: bigint; energyCost: bigint },
  ];
  // The contract's maxCharge is the deposit (a bound for any settlement); what a guest can really be
  // charged is the booked rent plus the prepaid energy (the deposit is rent × factor ≥ 100 % plus
  // that energy), the rest of the deposit always comes back.
  const maxCharge = q.rent + q.energyCost;
  // Unused, a rental is charged nothing by its receipt (a lock is charged from its start, though, so
  // a lock's guest who walks away pays the time until the checkout).
  return { seconds, deposit: q.deposit, maxCharge, energyWh: q.energyWh, backIfUnused: q.deposit };
}

/** Durations the guest may pick, within the device's bounds. */
export function durations(offer: Offer): number[] {
  const choices = [15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600, 24 * 3600];
  const fit = choices.filter((s) => s >= offer.minDuration && s <= offer.maxDuration);
  return fit.length > 0 ? fit : [offer.minDuration];
}

/** The payable rent call for a quote, starting now (or at the next free time). */
export function rentCall(offer: Offer, q: Quote): { data: string; value: bigint } {
  return {
    data: latchkey.encodeFunctionData('rent', [offer.deviceId, offer.nextFree, q.seconds]),
    value: q.deposit,
  };
}

/** The top-up for extending `rental` by `extra` seconds, at the rental's own price. */
export function extendCall(offer: Offer, rental: Rental, extra: number): { data: string; value: bigint } {
  return {
    data: latchkey.encodeFunctionData('extend', [rental, extra]),
    value: extensionDeposit(rental, extra, offer.depositFactor),
  };
}

/** What cancelling `rental` at unix time `now` costs (credited to the host); undefined once it started. */
export function cancelFeeNow(rental: Rental, now: bigint): bigint | undefined {
  return cancelFee(rental, now);
}

/** The cancel call of a rental that has not started: its deposit less `cancelFeeNow` comes back. */
export function cancelCall(rental: Rental): { data: string; value: bigint } {
  return { data: latchkey.encodeFunctionData('cancel', [rental]), value: 0n };
}
