// What a real device reports by itself, fed to its controller: the energy its meter counted (as
// deltas of a cumulative counter that may reset when the device reboots), and its availability,
// faults, the states it reached and its door contact, which the controller acts on (hardwareNotices.ts).

import type { Relay } from '../../hardware/relay.js';
import type { Logger } from '../log.js';
import type { DeviceController } from './controller.js';
import type { HardwareNotice } from './hardwareNotices.js';

/**
 * Turns a device's cumulative watt-hour counter into deltas. The first reading is the baseline
 * (whatever was counted before the agent saw the device is not this rental's); a reading below the
 * last one is a counter reset or reboot, and counts from zero.
 */
export class EnergyCounter {
  private last: number | undefined;

  /** The watt-hours since the previous reading (0 for the first). */
  delta(totalWh: number): number {
    if (!Number.isFinite(totalWh) || totalWh < 0) return 0;
    const last = this.last;
    this.last = totalWh;
    if (last === undefined) return 0;
    return totalWh >= last ? totalWh - last : totalWh;
  }
}

export function feedDeviceReports(relay: Relay, controller: DeviceController, log: Logger): void {
  const events = relay.events;
  if (!events) return;
  const counter = new EnergyCounter();
  const deviceId = controller.deviceId;
  events.on('energy', (totalWh) => {
    const wh = counter.delta(totalWh);
    if (wh > 0) controller.reportEnergy(wh);
  });
  const notify = (notice: HardwareNotice): void => {
    controller
      .hardwareNotice(notice)
      .catch((e) =>
        log.error('device report not acted on', { deviceId, relay: relay.describe, notice, error: e }),
      );
  };
  // Its availability as its driver started (a retained will or birth): an outage counts from now.
  if (relay.isOnline) notify({ kind: 'availability', online: relay.isOnline() });
  events.on('availability', (online) => notify({ kind: 'availability', online }));
  events.on('fault', (fault) => notify({ kind: 'fault', fault }));
  events.on('reported', (closed) => notify({ kind: 'reported', closed }));
  events.on('door', (open) => notify({ kind: 'door', open }));
}
