// What a lock and a socket do differently, in one place: which actions each takes, what a receipt
// charges, how long the hardware may hold itself energised, and what comes back after a restart.
// A lock's unlock is a pulse (the bolt is drawn for a few seconds); a socket latches for its rental.

import { type Action, KIND_ACTIONS } from '../../contracts/typedData.js';
import { LatchkeyError } from '../errors.js';
import type { StoredRental } from '../store/store.js';
import type { DeviceKind } from './deviceState.js';

/** Seconds a device's own off-timer runs past the agent's relock or lease end (see hardwareLeaseSeconds). */
export const HARDWARE_LEASE_MARGIN_SECONDS = 5;

export function checkKind(kind: DeviceKind, deviceId: bigint): void {
  if (kind !== 'lock' && kind !== 'socket')
    throw new LatchkeyError('CONFIG_INVALID', `device ${deviceId}: kind must be 'lock' or 'socket'`);
}

export function kindAllows(kind: DeviceKind, action: Action): boolean {
  return KIND_ACTIONS[kind].includes(action);
}

/**
 * The seconds a receipt charges. A lock is used for as long as the guest holds the key — from the
 * rental's start until checkout or its end — not for the few seconds its bolt is drawn. A socket is
 * used while it is powered (`meteredSeconds`).
 */
export function chargedSeconds(
  kind: DeviceKind,
  rental: StoredRental,
  meteredSeconds: number,
  leaseLeftMs: number | undefined,
  now: number | undefined,
): number {
  return kind === 'lock' ? heldSeconds(rental, leaseLeftMs, now) : meteredSeconds;
}

/**
 * How long a lock rental was held, never from the raw wall clock. A rental with a lease is counted
 * on it: the lease was armed from the trusted clock and ran on monotonic time (moved by exactly
 * each extension), so booked end minus what it had left is the checkout instant, whatever the wall
 * clock did since. Without a lease (closed out dormant, or never used) it is the trusted time since
 * the start; while the clock is untrusted the booked time, since such a rental only ends 'ended'
 * once its end has passed (the sweep needs a trusted clock, every grant does too).
 */
export function heldSeconds(
  rental: StoredRental,
  leaseLeftMs: number | undefined,
  now: number | undefined,
): number {
  const booked = Number(rental.end - rental.start);
  if (leaseLeftMs !== undefined) return booked - leaseLeftMs / 1000;
  return now === undefined ? booked : now - Number(rental.start);
}

/**
 * How long the hardware itself may stay energised, for drivers whose device can switch itself
 * off (Tasmota PulseTime, Shelly toggle_after): a little past the agent's own relock or lease end,
 * so the agent acts first and the device's own timer only matters when the gateway is gone.
 */
export function hardwareLeaseSeconds(
  kind: DeviceKind,
  pulseSeconds: number,
  rental: StoredRental | undefined,
  now: number | undefined,
): number | undefined {
  if (kind === 'lock') return pulseSeconds + HARDWARE_LEASE_MARGIN_SECONDS;
  if (!rental || now === undefined) return undefined;
  return Math.max(1, Number(rental.end) - now + HARDWARE_LEASE_MARGIN_SECONDS);
}

/**
 * Whether a rental resumed after a restart is energised again: a socket that was on is powered back
 * on for the rest of its rental; a lock always stays locked until the guest's next token.
 */
export function powersBackOn(kind: DeviceKind, recordedClosed: boolean): boolean {
  return kind === 'socket' && recordedClosed;
}

/** How a resumed rental is described in the audit log. */
export function resumeNote(kind: DeviceKind, powerBack: boolean): string {
  if (kind === 'lock') return 'lock stays locked';
  return powerBack ? 'socket powered back on' : 'socket stays off';
}

/** A lock's unlock: one pending relock at a time; a new pulse or a cancel makes an older one a no-op. */
export class PulseTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;

  /** Calls `fire` after `ms`, with a check that tells whether this pulse is still the current one. */
  start(ms: number, fire: (current: () => boolean) => void): void {
    this.cancel();
    const seq = ++this.seq;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fire(() => seq === this.seq);
    }, ms);
  }

  cancel(): void {
    this.seq++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
