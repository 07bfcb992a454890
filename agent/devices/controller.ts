// One relay-driven device (a smart lock or a power socket) serving its rentals: the command API the
// agent calls (grants, chain notices, energy reports, start and stop), run one at a time. The parts:
// deviceCore.ts (shared state and records), kindPolicy.ts (lock vs socket), actuation.ts (persist,
// then act), rentalEnd.ts (close-outs and receipts), recovery.ts (boot), energyCutOff.ts (prepaid
// energy), hardwareNotices.ts (what the hardware reports about itself), receiptKeys.ts (which key
// signs), serialQueue.ts (ordering).

import { EventEmitter } from 'node:events';
import { deviceOf } from '../../contracts/typedData.js';
import type { Relay } from '../../hardware/relay.js';
import { type ErrorCode, LatchkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store, StoredReceipt, StoredRental } from '../store/store.js';
import { RelayActuator } from './actuation.js';
import type { EndReason } from './closeout.js';
import { DeviceCore } from './deviceCore.js';
import { offlineRefusal } from './deviceHealth.js';
import type { ActionResult, DeviceKind, DeviceState, GrantedAction } from './deviceState.js';
import { cutOffSpentEnergy, powerAfterTopUp } from './energyCutOff.js';
import { actOnNotice, type HardwareNotice } from './hardwareNotices.js';
import { checkKind, kindAllows } from './kindPolicy.js';
import { prepaidEnergySpent, spentNote } from './prepaidEnergy.js';
import { committedSigner, type ReceiptKeys, type RentalSignerOf } from './receiptKeys.js';
import { bootSafe, resumeRecorded } from './recovery.js';
import { actorOf, closeOutDormant, endHeld, recordEnd } from './rentalEnd.js';
import { DEFAULT_RETRY, type RetryPolicy, retryWrite } from './retry.js';
import { SerialQueue } from './serialQueue.js';

export type { EndReason } from './closeout.js';
export type { ActionResult, DeviceKind, DeviceState, GrantedAction } from './deviceState.js';
export type { Phase } from './machine.js';

export interface DeviceControllerDeps {
  deviceId: bigint;
  kind: DeviceKind;
  /** How long an unlock keeps a lock open. */
  pulseSeconds: number;
  relay: Relay;
  store: Store;
  /** The gateway's receipt keys, current and previous (receiptKeys.ts). */
  keys: ReceiptKeys;
  /** The signer each rental's receipt must be signed by; default: the one it committed to (committedSigner). */
  rentalSigner?: RentalSignerOf;
  /** Trusted unix seconds; undefined while the clock is not trusted (then no live rental is resumed). */
  now: () => number | undefined;
  /**
   * Whether `now` has been checked against the chain's time (bounded from above too). Until then a
   * stored rental that only looks ended by the clock is left dormant, not closed out: a clock far
   * ahead after a reboot would otherwise settle a live rental early. Default: always.
   */
  timeAnchored?: () => boolean;
  log: Logger;
  /** Where outages, faults and door alarms of the hardware are counted (hardwareNotices.ts). */
  metrics?: Metrics;
  /** Monotonic milliseconds for leases and metering; default `performance.now`. */
  monotonicMs?: () => number;
  /** How often the usage of a closed relay is persisted; default 30. */
  checkpointSeconds?: number;
  retry?: Partial<RetryPolicy>;
}

export interface DeviceControllerEvents {
  state: [DeviceState];
  receipt: [StoredReceipt];
}

const DEFAULT_CHECKPOINT_SECONDS = 30;
/** A meter's reports publish the device state at most this often, so the guest sees energy move. */
export const ENERGY_STATE_MS = 5_000;

export class DeviceController extends EventEmitter<DeviceControllerEvents> {
  readonly deviceId: bigint;
  readonly kind: DeviceKind;
  private readonly core: DeviceCore;
  private readonly actuator: RelayActuator;
  private readonly queue = new SerialQueue();
  private readonly monotonicMs: () => number;
  /** When energy last published the state (monotonic ms), and the trailing publish waiting, if any. */
  private energyStateAt = Number.NEGATIVE_INFINITY;
  private energyStateTimer: NodeJS.Timeout | undefined;

  constructor(deps: DeviceControllerDeps) {
    super();
    checkKind(deps.kind, deps.deviceId);
    if (!Number.isFinite(deps.pulseSeconds) || deps.pulseSeconds <= 0)
      throw new LatchkeyError('CONFIG_INVALID', `device ${deps.deviceId}: pulseSeconds must be > 0`);
    const checkpointSeconds = deps.checkpointSeconds ?? DEFAULT_CHECKPOINT_SECONDS;
    if (!Number.isFinite(checkpointSeconds) || checkpointSeconds <= 0)
      throw new LatchkeyError('CONFIG_INVALID', `device ${deps.deviceId}: checkpointSeconds must be > 0`);
    this.deviceId = deps.deviceId;
    this.kind = deps.kind;
    this.monotonicMs = deps.monotonicMs ?? (() => performance.now());
    this.core = new DeviceCore({
      deviceId: deps.deviceId,
      kind: deps.kind,
      pulseSeconds: deps.pulseSeconds,
      relay: deps.relay,
      store: deps.store,
      keys: deps.keys,
      rentalSigner: deps.rentalSigner ?? committedSigner,
      now: deps.now,
      timeAnchored: deps.timeAnchored ?? (() => true),
      log: deps.log,
      metrics: deps.metrics,
      monotonicMs: this.monotonicMs,
      onLeaseExpired: () => this.onLeaseExpired(),
      onState: (s) => this.emit('state', s),
      onReceipt: (r) => this.emit('receipt', r),
    });
    this.actuator = new RelayActuator(
      this.core,
      { ...DEFAULT_RETRY, ...deps.retry },
      checkpointSeconds * 1000,
    );
  }

  /**
   * Drives the relay open FIRST (safe state at boot), then resumes what the store says is live:
   * a socket that was on is powered back on for the rest of its rental, a lock stays locked. A
   * rental that ended while the agent was down is closed out (receipt if none exists yet).
   */
  start(): Promise<void> {
    return this.queue.run(async () => {
      if (this.core.phase !== 'stopped') return;
      await bootSafe(this.core, this.actuator);
      await resumeRecorded(this.core, this.actuator, 'boot');
    });
  }

  /** Leaves the relay open and releases it; a live rental's runtime is kept so a restart resumes it. */
  stop(): Promise<void> {
    return this.queue.run(async () => {
      const c = this.core;
      if (c.phase === 'stopped') return;
      clearTimeout(this.energyStateTimer);
      this.energyStateTimer = undefined;
      c.pulse.cancel();
      this.actuator.stopCheckpoints();
      c.lease.cancel();
      this.actuator.safety.cancel();
      if (c.meter.running) this.actuator.checkpoint();
      c.meter.opened();
      let ok = true;
      try {
        await retryWrite(() => c.relay.open(), this.actuator.retry);
      } catch (e) {
        ok = false;
        c.log.error('relay did not open at shutdown', { deviceId: c.deviceId, error: e });
      }
      try {
        await c.relay.stop();
      } catch (e) {
        ok = false;
        c.log.error('relay did not stop', { deviceId: c.deviceId, error: e });
      }
      const rental = c.rental;
      const wish = c.kind === 'socket' && c.wantClosed;
      try {
        c.store.tx(() => {
          if (rental) c.store.putDeviceRuntime(c.runtime(wish));
          c.store.audit(
            c.entry({
              action: 'safe',
              actor: 'shutdown',
              outcome: ok ? 'ok' : 'error',
              reason: ok ? 'relay left open at shutdown' : 'relay failed to open at shutdown',
              ...(rental ? { rentalId: rental.id } : {}),
            }),
          );
        });
      } catch (e) {
        c.log.error('could not persist shutdown', { deviceId: c.deviceId, error: e });
      }
      c.move('stop');
      c.rental = undefined;
      c.energyCutOff = false;
      c.wantClosed = false;
      c.closedSince = undefined;
      c.meter.reset();
      c.emitState();
    });
  }

  /** Acts on a verified grant: unlock | lock (locks), on | off (sockets), checkout (both). */
  apply(grant: GrantedAction): Promise<ActionResult> {
    return this.queue.run(() => this.applyNow(grant));
  }

  /**
   * Ends a rental: relay opened, metering ended. 'ended' signs and queues a receipt (once per
   * rental: an existing one is returned). 'revoked' and 'cancelled' give none; 'settled' (settled on
   * chain, e.g. by time) makes none and returns ours if we had one. A rental of this device that was
   * never used gets a receipt too when it ends (nothing metered; a lock charges the time held).
   *
   * 'ended' is the wall clock's word that the booked end has passed (the agent's expiry sweep). For
   * the rental holding the lease it is ignored while the lease runs: the monotonic lease owns that
   * end, and a wall clock stepped forward must not cut a rental short. Once a receipt exists,
   * 'ended' returns it and writes nothing, so a sweep repeating until the chain settles is free.
   */
  endRental(rentalId: bigint, reason: EndReason): Promise<StoredReceipt | undefined> {
    return this.queue.run(async () => {
      const c = this.core;
      if (c.rental?.id === rentalId) {
        if (reason === 'ended' && c.lease.armed && !c.store.getReceipt(rentalId)) {
          c.log.debug('rental end left to its lease', { deviceId: c.deviceId, rentalId });
          return undefined;
        }
        return endHeld(c, this.actuator, reason, actorOf(reason), `rental ${reason}`);
      }
      const rt = c.store.getDeviceRuntime(c.deviceId);
      // A runtime still naming the rental is closed out even with a receipt: the device ends idle.
      if (rt?.rentalId === rentalId) return closeOutDormant(c, rt, rt.rentalId, reason, actorOf(reason));
      if (reason === 'ended') {
        const existing = c.store.getReceipt(rentalId);
        if (existing) return existing;
      }
      const stored = c.store.getRental(rentalId);
      // Under a revoked key no receipt is due (audited at the revocation): the sweep repeats for free.
      if (reason === 'ended' && stored && c.revokedSignerOf(stored) !== undefined) return undefined;
      if (reason === 'ended' && stored?.status === 'open' && stored.deviceId === c.deviceId) {
        // Never used on this device: a receipt all the same, so the guest's deposit comes back at the
        // end rather than after the grace period (a socket charges nothing, a lock the time held).
        return recordEnd(c, stored, 'ended', 'lease', 'rental ended unused', 0, 0, { resetRuntime: false });
      }
      return reason === 'ended' || reason === 'settled' ? c.store.getReceipt(rentalId) : undefined;
    });
  }

  /**
   * The device's host revoked `signer` (the watcher applied its SignerRevoked): receipts of rentals
   * made under it would settle nothing, so none is signed or sent any more, and those rentals settle
   * by time. Audits each such rental once, logs it, and publishes the state (signerRevoked when it is
   * the device's signer). Returns the rentals affected.
   */
  signerRevoked(signer: string): Promise<bigint[]> {
    return this.queue.run(async () => {
      const c = this.core;
      const key = signer.toLowerCase();
      const affected = new Map<bigint, string>();
      for (const r of c.store.openRentals(c.deviceId))
        if (c.rentalSigner(r)?.toLowerCase() === key) affected.set(r.id, 'open; no receipt will be signed');
      for (const r of c.store.heldReceiptsOf(c.deviceId, key))
        affected.set(r.rentalId, `receipt ${r.status} dropped from the submit queue`);
      c.store.tx(() => {
        for (const [rentalId, what] of affected)
          c.audit({
            action: 'signer-revoked',
            actor: 'chain',
            outcome: 'ok',
            reason: `signer ${key} revoked by the host: ${what}; the rental settles by time`,
            rentalId,
          });
      });
      c.log.warn('a key of this gateway was revoked on chain: its rentals settle by time', {
        deviceId: c.deviceId,
        signer: key,
        rentals: [...affected.keys()].map(String),
      });
      c.emitState();
      return [...affected.keys()];
    });
  }

  /** Publishes the state again after the device's signer changed on chain (or a reorg undid a change). */
  signerChanged(): Promise<void> {
    return this.queue.run(async () => this.core.emitState());
  }

  /** A newer copy of a rental from the chain: an extension moves the lease; a closed status ends it. */
  updateRental(rental: StoredRental): Promise<void> {
    return this.queue.run(async () => {
      const c = this.core;
      if (c.rental?.id !== rental.id || !c.holding) return;
      if (rental.status !== 'open') {
        await endHeld(c, this.actuator, rental.status, 'chain', `rental ${rental.status} on chain`);
        return;
      }
      this.moveEnd(rental);
      await powerAfterTopUp(this.core, this.actuator);
    });
  }

  /**
   * Resumes or closes out the rental recorded in the store, as at boot. For the wiring to call when
   * the clock becomes trusted after a boot without it; a no-op while a rental is held.
   */
  reconcile(): Promise<void> {
    return this.queue.run(() => resumeRecorded(this.core, this.actuator, 'agent'));
  }

  /**
   * What the hardware reported by itself (hardwareNotices.ts): an outage and the return from it (the
   * state the rental wants is applied again), a fault, a state it reached, a door opening.
   */
  hardwareNotice(notice: HardwareNotice): Promise<void> {
    return this.queue.run(() => actOnNotice(this.core, this.actuator, notice));
  }

  /** Watt-hours an energy meter measured since its previous report; counted for the rental in progress. */
  reportEnergy(wh: number): void {
    const c = this.core;
    if (!Number.isFinite(wh) || wh < 0)
      throw new LatchkeyError('BAD_REQUEST', `device ${c.deviceId}: energy must be a finite number >= 0`);
    if (!c.rental || (c.phase !== 'open' && c.phase !== 'closed' && c.phase !== 'ending')) return;
    c.meter.addEnergy(wh);
    try {
      c.store.putDeviceRuntime(c.runtime(c.wantClosed));
    } catch (e) {
      c.log.error('could not persist energy', { deviceId: c.deviceId, error: e });
    }
    this.publishEnergy();
    if (c.phase === 'closed' && prepaidEnergySpent(c.kind, c.rental, c.meter.energyWh))
      this.queue
        .run(() => cutOffSpentEnergy(c, this.actuator))
        .catch((e) => c.log.error('prepaid energy cut-off failed', { deviceId: c.deviceId, error: e }));
  }

  state(): DeviceState {
    return this.core.state();
  }

  /**
   * Publishes the state after an energy report, at most once every ENERGY_STATE_MS: at once when the
   * last one is older, else once when the interval is up (with the energy counted by then).
   */
  private publishEnergy(): void {
    if (this.energyStateTimer) return;
    const wait = this.energyStateAt + ENERGY_STATE_MS - this.monotonicMs();
    const publish = () => {
      this.energyStateTimer = undefined;
      this.energyStateAt = this.monotonicMs();
      if (this.core.phase !== 'stopped') this.core.emitState();
    };
    if (wait <= 0) publish();
    else {
      this.energyStateTimer = setTimeout(publish, wait);
      this.energyStateTimer.unref?.();
    }
  }

  // ---------------------------------------------------------------- commands

  private async applyNow({ rental, action, record }: GrantedAction): Promise<ActionResult> {
    const c = this.core;
    // The token's record rides in the actuation's first transaction (one commit) when nothing else is
    // written before it: any switch for the rental already holding the device (the energise write of
    // an unlock or on, the usage checkpoint of a lock or off). Otherwise it comes first.
    const inActuation = action !== 'checkout' && c.rental?.id === rental.id;
    if (record && !inActuation) c.store.tx(record);
    const actuationRecord = inActuation ? record : undefined;
    const actor = rental.guest;
    const refuse = (reason: string, code: ErrorCode = 'BAD_REQUEST'): never => {
      c.tryAudit({ action, actor, outcome: 'refused', reason, rentalId: rental.id });
      throw new LatchkeyError(code, `device ${c.deviceId}: ${reason}`);
    };
    if (c.phase === 'stopped') refuse('device controller is not started');
    if (rental.deviceId !== c.deviceId || deviceOf(rental.id) !== c.deviceId)
      refuse(`rental ${rental.id} is not for this device`);
    if (!kindAllows(c.kind, action)) refuse(`a ${c.kind} does not do '${action}'`);
    if (rental.status !== 'open') refuse(`rental ${rental.id} is ${rental.status}`);
    if (c.store.getReceipt(rental.id)) refuse(`rental ${rental.id} has already ended`);
    // Before any lease is taken: a device that does not answer cannot be switched on.
    const offline = offlineRefusal(c, action);
    if (offline) refuse(offline, 'DEVICE_OFFLINE');

    // An earlier rental still holding the device is over: this one is paid and has started, and
    // bookings never overlap. A later booking holding it means the clock went back since it took
    // the device: ending it would be irreversible (a receipt), so this grant waits instead.
    if (c.rental && c.rental.id !== rental.id) {
      if (c.rental.start >= rental.end)
        refuse(`rental ${c.rental.id}, booked after rental ${rental.id}, holds the device`);
      await endHeld(c, this.actuator, 'ended', 'agent', `rental ${rental.id} took over the device`);
    }
    if (!c.rental) {
      const rt = c.store.getDeviceRuntime(c.deviceId);
      if (rt?.rentalId !== undefined && rt.rentalId !== rental.id)
        closeOutDormant(c, rt, rt.rentalId, 'ended', 'agent');
      const now = c.now();
      if (now === undefined) refuse('clock not trusted');
      if ((now as number) >= Number(rental.end)) refuse(`rental ${rental.id} has ended`);
      c.take(rental, now as number, rt, actor, true);
    } else {
      this.moveEnd(rental);
    }

    switch (action) {
      case 'unlock':
        await this.actuator.close(actor, 'unlock', `unlock for ${c.pulseSeconds}s`, actuationRecord);
        this.schedulePulse();
        break;
      case 'on': {
        const held = c.rental ?? rental;
        if (prepaidEnergySpent(c.kind, held, c.meter.energyWh))
          refuse(`${spentNote(held, c.meter.energyWh)}; extend the rental to top up`);
        await this.actuator.close(actor, 'on', 'socket on for the rental', actuationRecord);
        break;
      }
      case 'lock':
      case 'off':
        c.energyCutOff = false;
        await this.actuator.open(actor, action, `guest ${action}`, true, actuationRecord);
        break;
      case 'checkout': {
        const receipt = await endHeld(c, this.actuator, 'ended', actor, 'guest checked out');
        return receipt ? { state: c.state(), receipt } : { state: c.state() };
      }
    }
    return { state: c.state() };
  }

  /** Applies a changed rental end (an on-chain extension) to the running lease by exactly the difference. */
  private moveEnd(rental: StoredRental): void {
    const c = this.core;
    const held = c.rental;
    if (!held || rental.id !== held.id) return;
    c.rental = rental; // the newer copy: its deposit may have grown (a top-up) with the end unchanged
    if (rental.end === held.end) return;
    c.lease.extend(Number(rental.end - held.end));
    if (c.kind === 'socket' && c.phase === 'closed') {
      // Move the device's own timer too, where it has one (a no-op write for the others).
      const holdSeconds = this.actuator.hardwareLeaseSeconds();
      if (holdSeconds !== undefined)
        c.relay
          .close({ holdSeconds })
          .catch((e) => c.log.warn('could not move the hardware lease', { deviceId: c.deviceId, error: e }));
    }
    c.tryAudit({
      action: 'extend',
      actor: 'chain',
      outcome: 'ok',
      reason: `lease end moved from ${held.end} to ${rental.end}`,
      rentalId: rental.id,
    });
    c.emitState();
  }

  // ---------------------------------------------------------------- timers

  private schedulePulse(): void {
    const c = this.core;
    c.pulse.start(c.pulseSeconds * 1000, (current) => {
      this.queue
        .run(async () => {
          if (!current() || c.phase !== 'closed') return;
          await this.actuator.open('agent', 'lock', `relock after the ${c.pulseSeconds}s pulse`, false);
        })
        .catch((e) => c.log.error('relock failed', { deviceId: c.deviceId, error: e }));
    });
  }

  private onLeaseExpired(): void {
    const c = this.core;
    const rentalId = c.rental?.id;
    this.queue
      .run(async () => {
        const held = c.rental;
        if (!held || held.id !== rentalId || !c.holding) return;
        if (c.lease.armed) return; // an extension re-armed it while this call waited its turn
        let stored: StoredRental | undefined;
        try {
          stored = c.store.getRental(held.id);
        } catch (e) {
          c.log.error('store unreadable at lease end; ending the rental anyway', { error: e });
        }
        // An extension the chain recorded but nobody passed on: the lease runs on, by exactly that much.
        if (stored?.status === 'open' && stored.end > held.end) {
          this.moveEnd(stored);
          await powerAfterTopUp(this.core, this.actuator);
          return;
        }
        const reason: EndReason = stored && stored.status !== 'open' ? stored.status : 'ended';
        await endHeld(c, this.actuator, reason, 'lease', 'rental end reached');
      })
      .catch((e) => c.log.error('lease end failed', { deviceId: c.deviceId, rentalId, error: e }));
  }
}
