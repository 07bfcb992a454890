// The expiry sweep of one device: every open rental whose booked end has passed is closed out, in
// whatever order the bookings were made. The rental holding the lease is left to its lease, a booking
// never used gets its receipt, and future bookings (any number, any order) are not touched.

import type { Store } from '../store/store.js';
import type { DeviceController } from './controller.js';

/** Ends the device's open rentals whose end is at or before `now`; returns the ids it asked to end. */
export async function endPastRentals(
  store: Store,
  controller: DeviceController,
  now: number,
): Promise<bigint[]> {
  const asked: bigint[] = [];
  for (const r of store.openRentals(controller.deviceId)) {
    if (Number(r.end) > now) continue;
    asked.push(r.id);
    await controller.endRental(r.id, 'ended');
  }
  return asked;
}
