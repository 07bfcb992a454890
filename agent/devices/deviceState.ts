// What a device controller shows and takes: its published state, the result of an action, and the
// part of an access grant it acts on.

import type { Action, KindName } from '../../contracts/typedData.js';
import type { StoredReceipt, StoredRental } from '../store/store.js';
import type { Phase } from './machine.js';

export type DeviceKind = KindName;

/** What the device looks like now (published retained on MQTT and served over HTTP). */
export interface DeviceState {
  deviceId: bigint;
  kind: DeviceKind;
  /** The state machine's phase. */
  phase: Phase;
  /** The relay as the driver reports it. */
  relay: 'open' | 'closed';
  /** The relay in a guest's words (deviceStatus). */
  status: DeviceStatus;
  rentalId?: bigint;
  /** The rental's end (unix seconds) as booked on chain. */
  leaseEndsAt?: number;
  /** Whole seconds the relay has been closed in this rental so far. */
  usedSeconds: number;
  energyWh: number;
  /** The watt-hours the rental's deposit pays for (energy-priced rentals only; see prepaidEnergy.ts). */
  prepaidEnergyWh?: number;
  /** Why the socket is off while its rental runs: its prepaid energy is used up (extend to top up). */
  offReason?: OffReason;
  /**
   * The device's signer on chain, when its host has revoked it: the contract takes no rental of the
   * device until the host names another key (setSigner), and rentals under it settle by time.
   */
  signerRevoked?: string;
  /**
   * What is wrong with the hardware while it lasts (deviceHealth.ts): `offline` (the device does not
   * answer: energising is refused) outranks `faulted` (see `fault`). Absent while it works.
   */
  health?: DeviceHealthProblem;
  /** The last fault the hardware reported (a jammed lock, feedback that disagrees), until it is fixed. */
  fault?: string;
  /** A door contact reported the door open while the lock was locked and no unlock ran; until it shuts. */
  doorAlarm?: true;
}

export const DEVICE_STATUSES = ['locked', 'unlocked', 'on', 'off'] as const;
/** What a guest is told: a lock is locked or unlocked, a socket on or off. */
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/**
 * The one place the relay becomes words: a closed relay unlocks a lock and powers a socket; an open
 * one (the safe state) leaves the lock locked and the socket off.
 */
export function deviceStatus(kind: DeviceKind, relay: 'open' | 'closed'): DeviceStatus {
  if (kind === 'lock') return relay === 'closed' ? 'unlocked' : 'locked';
  return relay === 'closed' ? 'on' : 'off';
}

export const OFF_REASONS = ['prepaid-energy-used'] as const;
export type OffReason = (typeof OFF_REASONS)[number];

export const DEVICE_HEALTH_PROBLEMS = ['offline', 'faulted'] as const;
export type DeviceHealthProblem = (typeof DEVICE_HEALTH_PROBLEMS)[number];

export interface ActionResult {
  state: DeviceState;
  receipt?: StoredReceipt;
}

/** The part of an access Grant (agent/access/verify.ts) a controller acts on; a Grant is one. */
export interface GrantedAction {
  rental: StoredRental;
  action: Action;
  /**
   * The token's durable record (its nonce used, its audit entry), when the caller left it to the
   * controller: run inside the transaction that acts on the grant; throws when the token was used.
   */
  record?: () => void;
}
