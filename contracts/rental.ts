// Rebuilds the committed Rental struct from Rented/Extended logs (the contract stores only its hash,
// so the guest and the agent must pass it back to extend, cancel and checkout), and rents/extends.

import type { ContractTransactionReceipt, Log, TransactionReceipt } from 'ethers';
import type { LatchkeyContract } from './deploy.js';
import { mined } from './deploy.js';
import { type LatchkeyEventArgs, latchkeyEvents, parseLatchkeyLog } from './events.js';
import type { Receipt, Rental } from './typedData.js';

/** The Rental a Rented event commits. */
export function rentalFromRented(args: LatchkeyEventArgs['Rented']): Rental {
  return {
    id: args.rentalId,
    guest: args.guest,
    start: args.start,
    end: args.end,
    deposit: args.deposit,
    pricePerSecond: args.pricePerSecond,
    pricePerWh: args.pricePerWh,
    signer: args.signer,
    maxWatts: args.maxWatts,
    cancelWindow: args.cancelWindow,
  };
}

/**
 * The energy a rental's deposit prepays, in watt-hours: `ceil(maxWatts × (end − start) / 3600)`, as the
 * contract computes it. A receipt charges metered energy up to this and no more, so a gateway switches
 * an energy-priced socket off when its meter reaches it (prepaid energy); extending adds to it.
 */
export function energyAllowanceWh(rental: Pick<Rental, 'start' | 'end' | 'maxWatts'>): bigint {
  return (rental.maxWatts * (rental.end - rental.start) + 3599n) / 3600n;
}

/**
 * What a device-signed receipt charges once the rental has started, as the contract computes it:
 * `min(deposit, pricePerSecond × secondsUsed + pricePerWh × min(energyWh, allowance))`.
 */
export function receiptCharge(rental: Rental, receipt: Pick<Receipt, 'secondsUsed' | 'energyWh'>): bigint {
  const min = (a: bigint, b: bigint) => (a < b ? a : b); // bigints, which Math.min does not take
  const energy = min(receipt.energyWh, energyAllowanceWh(rental));
  return min(rental.pricePerSecond * receipt.secondsUsed + rental.pricePerWh * energy, rental.deposit);
}

/** What extending `rental` by `extra` seconds must pay: rent × factor plus the energy allowance it adds. */
export function extensionDeposit(rental: Rental, extra: number, depositFactor: bigint): bigint {
  const longer = { ...rental, end: rental.end + BigInt(extra) };
  const energy = energyAllowanceWh(longer) - energyAllowanceWh(rental);
  return (rental.pricePerSecond * BigInt(extra) * depositFactor) / 100n + rental.pricePerWh * energy;
}

/** `rental` after an Extended event: new end and total deposit, everything else unchanged. */
export function applyExtended(rental: Rental, args: LatchkeyEventArgs['Extended']): Rental {
  if (args.rentalId !== rental.id)
    throw new Error(`Extended log is for rental ${args.rentalId}, not ${rental.id}`);
  return { ...rental, end: args.end, deposit: args.deposit };
}

/**
 * The Rental after one log of `contract`: a Rented log on its own, an Extended log applied to
 * `previous` (the rental as known before it). Throws on any other log, including a look-alike event
 * of another contract.
 */
export function rentalFromLog(log: Log, contract: string, previous?: Rental): Rental {
  const event = parseLatchkeyLog(log, contract);
  if (event?.name === 'Rented') return rentalFromRented(event.args);
  if (event?.name === 'Extended') {
    if (!previous)
      throw new Error(`Extended log of rental ${event.args.rentalId} needs the rental it extends`);
    return applyExtended(previous, event.args);
  }
  throw new Error(`log ${log.transactionHash}:${log.index} is neither Rented nor Extended`);
}

/**
 * The Rental as it stands after the Rented/Extended logs `contract` emitted in one transaction
 * receipt. A transaction that rented more than once (a contract calling rent twice) is refused rather
 * than answered with one of its rentals.
 */
export function rentalFromReceipt(receipt: TransactionReceipt, contract: string, previous?: Rental): Rental {
  let rental = previous;
  let found = false;
  let rented = 0;
  for (const event of latchkeyEvents(receipt, contract)) {
    if (event.name === 'Rented') {
      if (++rented > 1) throw new Error(`transaction ${receipt.hash} rented more than once`);
      rental = rentalFromRented(event.args);
    } else if (event.name === 'Extended') {
      if (!rental)
        throw new Error(`Extended log of rental ${event.args.rentalId} needs the rental it extends`);
      rental = applyExtended(rental, event.args);
    } else continue;
    found = true;
  }
  if (!found || !rental) throw new Error(`transaction ${receipt.hash} has no Rented or Extended log`);
  return rental;
}

/**
 * What cancelling `rental` at unix time `now` costs its guest (credited to the host), as the contract
 * computes it: 0 at least `cancelWindow` before the start, then `rent × (cancelWindow − lead) /
 * cancelWindow` up to the booked rent at the start. Undefined from the start on (no cancel any more).
 */
export function cancelFee(
  rental: Pick<Rental, 'start' | 'end' | 'pricePerSecond' | 'cancelWindow'>,
  now: bigint,
): bigint | undefined {
  if (now >= rental.start) return undefined;
  const lead = rental.start - now;
  if (lead >= rental.cancelWindow) return 0n;
  const rent = rental.pricePerSecond * (rental.end - rental.start);
  return (rent * (rental.cancelWindow - lead)) / rental.cancelWindow;
}

/**
 * The earliest start a new `duration`-second rental of `deviceId` may ask for: 0n (= now) when its
 * window is free now, else the contract's `nextFree` (the end of the bookings in the way, on a slot
 * boundary). Bookings may come in any order, so a booking far ahead does not move it; undefined when
 * nothing fits before the 30-day horizon.
 */
export async function nextStart(
  contract: LatchkeyContract,
  deviceId: bigint,
  duration: number,
): Promise<bigint | undefined> {
  // At the block whose time it compares with: a block mined in between must not turn "now" into a
  // future start.
  const head = await contract.runner?.provider?.getBlock('latest');
  if (!head) throw new Error('nextStart needs a contract runner with a provider');
  const free = await contract.nextFree(deviceId, 0n, duration, { blockTag: head.number });
  if (free === 0n) return undefined;
  return free > BigInt(head.timestamp) ? free : 0n;
}

/**
 * Rents `deviceId` for `duration` seconds as the contract's runner (the guest), paying the quoted
 * deposit; `start` 0 or absent = now.
 */
export async function rentDevice(
  contract: LatchkeyContract,
  deviceId: bigint,
  duration: number,
  opts: { start?: bigint } = {},
): Promise<{ rental: Rental; receipt: ContractTransactionReceipt }> {
  const { deposit: value } = await contract.quote(deviceId, duration);
  const receipt = await mined((await contract.rent(deviceId, opts.start ?? 0n, duration, { value })).wait());
  return { rental: rentalFromReceipt(receipt, await contract.getAddress()), receipt };
}

/** Extends `rental` by `extra` seconds as its guest, paying the extra deposit at the rental's prices. */
export async function extendRental(
  contract: LatchkeyContract,
  rental: Rental,
  extra: number,
): Promise<{ rental: Rental; receipt: ContractTransactionReceipt }> {
  const device = await contract.device(rental.id >> 64n);
  const value = extensionDeposit(rental, extra, device.depositFactor);
  const receipt = await mined((await contract.extend(rental, extra, { value })).wait());
  return { rental: rentalFromReceipt(receipt, await contract.getAddress(), rental), receipt };
}
