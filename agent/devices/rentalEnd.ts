// Ending a rental on a device: the one holding the lease (relay opened, metering closed), one the
// store still names for the device while no lease holds it (it ended while the agent was down), and
// the close-out record with its receipt (closeout.ts) announced once.

import type { DeviceRuntime, StoredReceipt, StoredRental } from '../store/store.js';
import type { RelayActuator } from './actuation.js';
import { closeOut, type EndReason } from './closeout.js';
import type { DeviceCore } from './deviceCore.js';
import { chargedSeconds } from './kindPolicy.js';
import { receiptKeyFor } from './receiptKeys.js';

/** Ends the rental holding the lease: relay open, metering closed, receipt if one is due. */
export async function endHeld(
  core: DeviceCore,
  actuator: RelayActuator,
  requested: EndReason,
  actor: string,
  why: string,
): Promise<StoredReceipt | undefined> {
  const rental = core.rental;
  if (!rental) return undefined;
  core.move('end');
  const leaseLeftMs = core.lease.remainingMs();
  core.lease.cancel();
  await actuator.open(actor, 'end', why, false);
  try {
    return recordEnd(core, rental, requested, actor, why, core.meter.usedSeconds(), core.meter.energyWh, {
      leaseLeftMs,
    });
  } finally {
    core.rental = undefined;
    core.energyCutOff = false;
    core.meter.reset();
    core.move('ended');
    core.emitState();
  }
}

/** Closes out a rental the store holds for this device but no lease does (e.g. it ended while down). */
export function closeOutDormant(
  core: DeviceCore,
  rt: DeviceRuntime,
  rentalId: bigint,
  requested: EndReason,
  actor: string,
): StoredReceipt | undefined {
  const rental = core.store.getRental(rentalId);
  if (!rental) {
    core.log.warn('runtime names a rental the store does not know; forgetting it', {
      deviceId: core.deviceId,
      rentalId,
    });
    core.store.tx(() => {
      core.store.putDeviceRuntime(core.idleRuntime());
      core.store.audit(
        core.entry({
          action: 'end',
          actor,
          outcome: 'error',
          reason: 'unknown rental; no receipt',
          rentalId,
        }),
      );
    });
    return undefined;
  }
  return recordEnd(core, rental, requested, actor, `rental ${requested}`, rt.usedSeconds, rt.energyWh);
}

/**
 * Closes out `rental` in the store (see closeout.ts) and announces a new receipt. `leaseLeftMs`:
 * what the rental's lease had left when it ended, if it held one; `resetRuntime` as in closeOut.
 */
export function recordEnd(
  core: DeviceCore,
  rental: StoredRental,
  requested: EndReason,
  actor: string,
  why: string,
  usedSeconds: number,
  energyWh: number,
  opts: { leaseLeftMs?: number | undefined; resetRuntime?: boolean } = {},
): StoredReceipt | undefined {
  const { leaseLeftMs, resetRuntime = true } = opts;
  const at = core.wallNow();
  const { key, signer, matched } = receiptKeyFor(core.keys, core.rentalSigner, rental);
  const revoked = core.revokedSignerOf(rental);
  if (revoked !== undefined)
    core.log.warn('rental ended under a revoked key: no receipt signed; it settles by time', {
      deviceId: core.deviceId,
      rentalId: rental.id,
      signer: revoked,
    });
  else if (!matched)
    core.log.error("the rental's signer is not a key of this gateway: its receipt cannot settle it", {
      deviceId: core.deviceId,
      rentalId: rental.id,
      signer,
      keys: core.keys.addresses,
    });
  const { receipt, created } = closeOut({
    store: core.store,
    signer: key,
    deviceId: core.deviceId,
    rental,
    requested,
    actor,
    why,
    usedSeconds: chargedSeconds(core.kind, rental, usedSeconds, leaseLeftMs, core.now()),
    energyWh,
    at,
    resetRuntime,
    ...(revoked !== undefined ? { noReceipt: `signer ${revoked} revoked; settles by time` } : {}),
  });
  if (created && receipt) {
    core.log.info('usage receipt signed', {
      deviceId: core.deviceId,
      rentalId: rental.id,
      secondsUsed: receipt.receipt.secondsUsed,
      energyWh: receipt.receipt.energyWh,
    });
    core.emitReceipt(receipt);
  }
  return receipt;
}

export function actorOf(reason: EndReason): string {
  return reason === 'ended' ? 'agent' : 'chain';
}
