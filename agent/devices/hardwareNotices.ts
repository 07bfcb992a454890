// What a device's hardware reports about itself, acted on by its controller: an outage (the device's
// will said offline, its link dropped), its return (the state the rental wants is applied again), a
// fault (a jammed lock, a welded relay, feedback that disagrees) and a door opened while the lock is
// locked. Each is audited, counted in the metrics and shown in the device state until it is over.
//
// - Offline: `health: 'offline'`; an unlock or on is refused (DEVICE_OFFLINE) before any lease is
//   taken; a lock or off is taken for the device's return. A socket that was on is not metered while
//   the agent cannot see it.
// - Back online: the outage's end is audited and the rental's state re-applied and confirmed by the
//   device: a socket whose rental is live is powered again (metered again from then), anything else
//   is driven to its safe state (a lock locked, a socket off). A socket that cannot be powered again
//   is switched off for the guest to try again; it is never reported on.
// - Fault: `health: 'faulted'` and `fault`, until the device reports the state the agent wants or
//   comes back from an outage (it is judged again by what it reports then).
// - Door alarm: a door contact opening while a lock is locked and no unlock pulse runs sets
//   `doorAlarm` until the door shuts.

import type { RelayActuator } from './actuation.js';
import { type DeviceCore, msg, opt } from './deviceCore.js';

/** A report of the hardware, as the driver's events (hardware/relay.ts RelayEvents) carry it. */
export type HardwareNotice =
  | { kind: 'availability'; online: boolean }
  | { kind: 'fault'; fault: string }
  | { kind: 'reported'; closed: boolean }
  | { kind: 'door'; open: boolean };

/** The metrics the notices are counted in, per device (label `device`). */
export const HEALTH_METRICS = {
  online: ['latchkey_device_online', 'The device answers (1) or is offline (0)'],
  outages: ['latchkey_device_outages_total', 'Times the device went offline'],
  faults: ['latchkey_device_faults_total', 'Faults the device reported (jammed, welded, feedback disagrees)'],
  doorAlarms: ['latchkey_door_alarms_total', 'Doors opened while locked with no unlock running'],
} as const;

/** Acts on one report of the hardware; runs in the controller's queue. */
export async function actOnNotice(
  core: DeviceCore,
  actuator: RelayActuator,
  notice: HardwareNotice,
): Promise<void> {
  switch (notice.kind) {
    case 'availability':
      if (notice.online) await backOnline(core, actuator);
      else wentOffline(core, actuator);
      return;
    case 'fault':
      faulted(core, notice.fault);
      return;
    case 'reported':
      if (core.health.fault !== undefined && notice.closed === core.wantClosed) {
        core.health.fault = undefined;
        core.tryAudit({
          action: 'fault',
          actor: 'device',
          outcome: 'ok',
          reason: `fault over: the device reports ${notice.closed ? 'energised' : 'safe'}, as wanted`,
          ...opt(core.rental?.id),
        });
        core.emitState();
      }
      return;
    case 'door':
      door(core, notice.open);
      return;
  }
}

function count(core: DeviceCore, metric: 'outages' | 'faults' | 'doorAlarms'): void {
  const [name, help] = HEALTH_METRICS[metric];
  core.metrics?.inc(name, help, { device: core.deviceId.toString() });
}

function showOnline(core: DeviceCore, online: boolean): void {
  const [name, help] = HEALTH_METRICS.online;
  core.metrics?.set(name, help, online ? 1 : 0, { device: core.deviceId.toString() });
}

function wentOffline(core: DeviceCore, actuator: RelayActuator): void {
  const health = core.health;
  if (health.offlineSince !== undefined) return;
  health.offlineSince = core.wallNow();
  showOnline(core, false);
  count(core, 'outages');
  const powered = core.phase === 'closed' && core.meter.running;
  if (powered) {
    // Not metered while unseen: the usage so far is persisted, the wish to be on is kept.
    actuator.checkpoint();
    core.meter.opened();
  }
  core.log.warn('device offline', { deviceId: core.deviceId, relay: core.relay.describe });
  core.tryAudit({
    action: 'outage',
    actor: 'device',
    outcome: 'error',
    reason: `${core.relay.describe} went offline${powered ? '; not metered until it is back' : ''}`,
    ...opt(core.rental?.id),
  });
  core.emitState();
}

async function backOnline(core: DeviceCore, actuator: RelayActuator): Promise<void> {
  const health = core.health;
  const since = health.offlineSince;
  showOnline(core, true);
  if (since === undefined) return; // its first word since the start: nothing was missed
  health.offlineSince = undefined;
  health.fault = undefined; // judged again by what it reports now
  core.log.info('device back online', { deviceId: core.deviceId, relay: core.relay.describe });
  core.tryAudit({
    action: 'outage',
    actor: 'device',
    outcome: 'ok',
    reason: `${core.relay.describe} back online after ${Math.max(0, core.wallNow() - since)} s`,
    ...opt(core.rental?.id),
  });
  if (core.phase !== 'stopped') await reapply(core, actuator);
  core.emitState();
}

/** Puts the device back where the rental wants it, confirmed by the device. */
async function reapply(core: DeviceCore, actuator: RelayActuator): Promise<void> {
  const rentalId = opt(core.rental?.id);
  if (core.phase === 'closed' && core.kind === 'socket') {
    try {
      await actuator.closeRelay(); // its runtime still says closed: nothing to record first
      core.meter.closed();
      core.tryAudit({
        action: 'on',
        actor: 'agent',
        outcome: 'ok',
        reason: 'socket powered again after the outage: its rental is live',
        ...rentalId,
      });
    } catch (e) {
      await actuator.open('agent', 'off', `socket not powered again after the outage (${msg(e)})`, false);
    }
    return;
  }
  if (core.phase === 'closed') {
    // A lock that went away while unlocked is not unlocked again: the guest's next token does that.
    await actuator.open('agent', 'lock', 'relocked after the outage', false);
    return;
  }
  const failure = await actuator.driveOpen();
  const safe = core.kind === 'lock' ? 'lock locked' : 'socket off';
  core.tryAudit({
    action: 'safe',
    actor: 'agent',
    outcome: failure ? 'error' : 'ok',
    reason: failure
      ? `${safe} after the outage failed (${msg(failure)}), retrying`
      : `${safe} after the outage`,
    ...rentalId,
  });
}

function faulted(core: DeviceCore, fault: string): void {
  core.health.fault = fault;
  count(core, 'faults');
  core.log.error('device fault', { deviceId: core.deviceId, relay: core.relay.describe, fault });
  core.tryAudit({
    action: 'fault',
    actor: 'device',
    outcome: 'error',
    reason: `${core.relay.describe}: ${fault}`,
    ...opt(core.rental?.id),
  });
  core.emitState();
}

function door(core: DeviceCore, open: boolean): void {
  const health = core.health;
  const fields = { deviceId: core.deviceId, relay: core.relay.describe };
  if (!open) {
    core.log.info('door shut', fields);
    if (!health.doorAlarm) return;
    health.doorAlarm = false;
    core.tryAudit({
      action: 'door',
      actor: 'device',
      outcome: 'ok',
      reason: 'door shut after the alarm',
      ...opt(core.rental?.id),
    });
    core.emitState();
    return;
  }
  // Locked: a lock whose relay no unlock pulse holds (phase `closed` is the pulse).
  const locked = core.kind === 'lock' && core.phase !== 'closed' && core.phase !== 'stopped';
  if (!locked) {
    core.log.info('door opened', fields);
    return;
  }
  health.doorAlarm = true;
  count(core, 'doorAlarms');
  core.log.warn('door opened while locked: no unlock was running', fields);
  core.tryAudit({
    action: 'door',
    actor: 'device',
    outcome: 'error',
    reason: 'door alarm: the door opened while the lock was locked and no unlock ran',
    ...opt(core.rental?.id),
  });
  core.emitState();
}
