// What a real device reports by itself, fed to its controller: the energy its meter counted (as
// deltas of a cumulative counter that may reset when the device reboots) and, into the log, its
// availability and faults.

import type { Relay } from '../../hardware/relay.js';
import type { Logger } from '../log.js';
import type { DeviceController } from './controller.js';

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
  events.on('availability', (online) =>
    (online ? log.info : log.warn)(online ? 'device online' : 'device offline', {
      deviceId,
      relay: relay.describe,
    }),
  );
  events.on('fault', (fault) => log.error('device fault', { deviceId, relay: relay.describe, fault }));
  events.on('door', (open) =>
    log.info(open ? 'door opened' : 'door shut', { deviceId, relay: relay.describe }),
  );
}
