// What a controller does about prepaid energy (the amounts are prepaidEnergy.ts's): a socket whose
// metered energy reaches what the deposit covers is switched off, saying why, and one switched off
// that way is powered again once a top-up (an extension) raises the deposit enough. Both run in the
// controller's queue.

import type { RelayActuator } from './actuation.js';
import type { DeviceCore } from './deviceCore.js';
import { prepaidEnergySpent, prepaidEnergyWh, spentNote, wh } from './prepaidEnergy.js';

/** Switches the socket off when its prepaid energy is used up; a no-op otherwise. */
export async function cutOffSpentEnergy(core: DeviceCore, actuator: RelayActuator): Promise<void> {
  const rental = core.rental;
  if (!rental || core.phase !== 'closed' || !prepaidEnergySpent(core.kind, rental, core.meter.energyWh))
    return;
  core.energyCutOff = true;
  core.log.warn('prepaid energy used up: socket switched off', {
    deviceId: core.deviceId,
    rentalId: rental.id,
    energyWh: core.meter.energyWh,
    prepaidEnergyWh: prepaidEnergyWh(rental),
  });
  await actuator.open(
    'agent',
    'off',
    `${spentNote(rental, core.meter.energyWh)}; extend the rental to top up`,
    false,
  );
}

/** After a top-up: a socket cut off for energy is powered again if the deposit now covers more than was used. */
export async function powerAfterTopUp(core: DeviceCore, actuator: RelayActuator): Promise<void> {
  const rental = core.rental;
  if (!core.energyCutOff || !rental || core.phase !== 'open') return;
  if (prepaidEnergySpent(core.kind, rental, core.meter.energyWh)) {
    core.emitState(); // still used up: the state shows the new allowance
    return;
  }
  core.energyCutOff = false;
  try {
    await actuator.close(
      'chain',
      'on',
      `topped up: the deposit now covers ${wh(prepaidEnergyWh(rental) ?? 0)} Wh, ${wh(core.meter.energyWh)} Wh used; socket on again`,
    );
  } catch (e) {
    core.log.error('could not power the socket again after a top-up', { deviceId: core.deviceId, error: e });
  }
}
