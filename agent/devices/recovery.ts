// Boot recovery: the relay is driven safe before anything else, then what the store says was live is
// resumed (a socket that was on is powered back on for the rest of its rental, a lock stays locked)
// or closed out (a rental that ended, was settled or reorged out while the agent was down). A clock
// not trusted, or not yet checked against the chain, decides nothing irreversible.

import { LatchkeyError } from '../errors.js';
import type { RelayActuator } from './actuation.js';
import { type DeviceCore, msg } from './deviceCore.js';
import { powersBackOn, resumeNote } from './kindPolicy.js';
import { prepaidEnergySpent, spentNote } from './prepaidEnergy.js';
import { closeOutDormant } from './rentalEnd.js';
import { retryWrite } from './retry.js';

/** Starts the relay (its driver drives it open) and records the safe state reached at boot. */
export async function bootSafe(core: DeviceCore, actuator: RelayActuator): Promise<void> {
  try {
    await retryWrite(
      () => core.relay.start(),
      actuator.retry,
      (n, e) => core.log.warn('relay start failed', { attempt: n, error: e }),
    );
  } catch (e) {
    core.tryAudit({
      action: 'safe',
      actor: 'boot',
      outcome: 'error',
      reason: `relay start failed: ${msg(e)}`,
    });
    throw new LatchkeyError(
      'RELAY_FAILED',
      `device ${core.deviceId}: relay ${core.relay.describe} did not start`,
      {
        cause: e,
      },
    );
  }
  const rt = core.store.getDeviceRuntime(core.deviceId);
  core.audit({
    action: 'safe',
    actor: 'boot',
    outcome: 'ok',
    reason: rt?.relayClosed
      ? 'relay driven open at boot (recorded closed before)'
      : 'relay driven open at boot',
    ...(rt?.rentalId !== undefined ? { rentalId: rt.rentalId } : {}),
  });
  core.move('start');
  core.emitState();
}

/** Resumes or closes out the rental the device's runtime names; a no-op unless the device is idle. */
export async function resumeRecorded(
  core: DeviceCore,
  actuator: RelayActuator,
  actor: string,
): Promise<void> {
  if (core.phase !== 'idle') return;
  const rt = core.store.getDeviceRuntime(core.deviceId);
  if (rt?.rentalId === undefined) return;
  const rental = core.store.getRental(rt.rentalId);
  if (!rental) {
    closeOutDormant(core, rt, rt.rentalId, 'ended', actor);
    return;
  }
  if (rental.status !== 'open') {
    closeOutDormant(core, rt, rt.rentalId, rental.status, actor);
    return;
  }
  const now = core.now();
  if (now === undefined) {
    core.log.warn('clock not trusted: rental left dormant until it is', {
      deviceId: core.deviceId,
      rentalId: rental.id,
    });
    return;
  }
  if (now >= Number(rental.end)) {
    if (!core.timeAnchored()) {
      core.log.warn('rental looks ended by a clock not yet checked against the chain: left dormant', {
        deviceId: core.deviceId,
        rentalId: rental.id,
      });
      return;
    }
    closeOutDormant(core, rt, rental.id, 'ended', actor);
    return;
  }
  // A socket whose prepaid energy ran out stays off until the guest tops up, restart or not.
  const spent = prepaidEnergySpent(core.kind, rental, rt.energyWh);
  const powerBack = powersBackOn(core.kind, rt.relayClosed) && !spent;
  core.take(rental, now, rt, actor, !powerBack);
  core.energyCutOff = spent;
  core.tryAudit({
    action: 'resume',
    actor,
    outcome: 'ok',
    reason: `rental live until ${rental.end}; ${spent ? spentNote(rental, rt.energyWh) : resumeNote(core.kind, powerBack)}`,
    rentalId: rental.id,
  });
  core.emitState();
  if (powerBack) {
    try {
      await actuator.close(actor, 'on', 'socket powered back on for the rest of its rental');
    } catch (e) {
      core.log.error('could not power the socket back on', { deviceId: core.deviceId, error: e });
    }
  }
}
