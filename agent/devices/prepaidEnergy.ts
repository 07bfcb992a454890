// Prepaid energy: an energy-priced socket is powered only while the rental's deposit still pays for
// what it draws. The contract charges a receipt's energy only up to the rental's energy allowance
// (maxWatts × duration, prepaid in the deposit), so energy metered beyond it would be the host's loss;
// the agent switches the socket off at that point and powers it again when the guest tops up (an
// extension adds the extra time's allowance).

import { energyAllowanceWh } from '../../contracts/rental.js';
import type { StoredRental } from '../store/store.js';
import type { DeviceKind } from './deviceState.js';

/** The rental's terms that decide what its deposit pays for. */
export type PricedRental = Pick<
  StoredRental,
  'start' | 'end' | 'deposit' | 'pricePerSecond' | 'pricePerWh' | 'maxWatts'
>;

/**
 * The watt-hours the rental's deposit pays for, or undefined when energy is not priced (no limit):
 * its energy allowance, `ceil(maxWatts × duration / 1 h)` whole Wh, which the contract charges a
 * receipt's energy up to and no further (contracts/rental.ts `energyAllowanceWh`).
 */
export function prepaidEnergyWh(rental: PricedRental): number | undefined {
  if (rental.pricePerWh === 0n) return undefined;
  return Number(energyAllowanceWh(rental));
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
