// Prepaid energy: an energy-priced socket is powered only while the rental's deposit still pays for
// what it draws. The contract caps a receipt's charge at the deposit, so energy metered beyond what
// the deposit covers would be the host's loss; the agent switches the socket off at that point and
// powers it again when the guest tops up (an extension raises the deposit).

import type { StoredRental } from '../store/store.js';
import type { DeviceKind } from './deviceState.js';

/** The rental's terms that decide what its deposit pays for. */
export type PricedRental = Pick<StoredRental, 'start' | 'end' | 'deposit' | 'pricePerSecond' | 'pricePerWh'>;

/**
 * The watt-hours the rental's deposit pays for, or undefined when energy is not priced (no limit).
 * A fraction where it covers part of one: the socket is cut off when the metered charge reaches the
 * deposit, not a whole Wh earlier (a short rental's deposit may cover less than 1 Wh).
 *
 * Today's contract charges `pricePerSecond × secondsUsed + pricePerWh × energyWh`, capped at the
 * deposit, with secondsUsed at most the booked time: the deposit covers energy for what is left once
 * the largest time charge the rental can incur is taken out. This is the one place that answers the
 * question, so a contract that states an energy allowance per rental plugs in here.
 */
export function prepaidEnergyWh(rental: PricedRental): number | undefined {
  if (rental.pricePerWh === 0n) return undefined;
  const booked = rental.end > rental.start ? rental.end - rental.start : 0n;
  const timeCharge = rental.pricePerSecond * booked;
  const left = rental.deposit > timeCharge ? rental.deposit - timeCharge : 0n;
  return Number(left / rental.pricePerWh) + Number(left % rental.pricePerWh) / Number(rental.pricePerWh);
}

/** Whether a socket's `energyWh` metered so far has used up what the deposit covers. */
export function prepaidEnergySpent(kind: DeviceKind, rental: PricedRental, energyWh: number): boolean {
  if (kind !== 'socket') return false;
  const covered = prepaidEnergyWh(rental);
  return covered !== undefined && energyWh >= covered;
}

/** How a cut-off is worded in the audit log and in refusals. */
export function spentNote(rental: PricedRental, energyWh: number): string {
  return `prepaid energy used up: ${wh(energyWh)} Wh metered, the deposit covers ${wh(prepaidEnergyWh(rental) ?? 0)} Wh`;
}

/** Watt-hours as written in the audit log: at most three decimals. */
export function wh(value: number): string {
  return String(Number(value.toFixed(3)));
}
