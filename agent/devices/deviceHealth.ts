// What a device's hardware said about itself, as far as the device state and the guest's actions
// go: whether it is offline (and since when), its last fault, and a door alarm. Kept by DeviceCore,
// set by hardwareNotices.ts, shown in the state (`health`, `fault`, `doorAlarm`); an unlock or on is
// refused while the device is offline (DEVICE_OFFLINE), before any lease is taken.

import type { Action } from '../../contracts/typedData.js';
import type { Relay } from '../../hardware/relay.js';
import type { DeviceCore } from './deviceCore.js';
import type { DeviceState } from './deviceState.js';

/** What the hardware said about itself, as far as it matters to the device state. */
export class DeviceHealth {
  /** Unix seconds the current outage began (the agent's clock); undefined while the device answers. */
  offlineSince: number | undefined;
  fault: string | undefined;
  doorAlarm = false;

  /** The device state's `health`, `fault` and `doorAlarm`; a driver that knows it is offline counts. */
  stateFields(relay: Relay): Pick<DeviceState, 'health' | 'fault' | 'doorAlarm'> {
    const out: Pick<DeviceState, 'health' | 'fault' | 'doorAlarm'> = {};
    if (this.offlineSince !== undefined || relay.isOnline?.() === false) out.health = 'offline';
    else if (this.fault !== undefined) out.health = 'faulted';
    if (this.fault !== undefined) out.fault = this.fault;
    if (this.doorAlarm) out.doorAlarm = true;
    return out;
  }
}

/** Why `action` is refused now: it would energise a device that does not answer. Else undefined. */
export function offlineRefusal(core: DeviceCore, action: Action): string | undefined {
  if (action !== 'unlock' && action !== 'on') return undefined;
  const since = core.health.offlineSince;
  if (since === undefined && core.relay.isOnline?.() !== false) return undefined;
  const when = since === undefined ? '' : ` since ${new Date(since * 1000).toISOString()}`;
  return `device is offline${when}: nothing was switched; try again once it is back`;
}
