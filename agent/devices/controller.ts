// One relay-driven device (a smart lock or a power socket) serving its rentals: the state machine,
// lock pulses and socket latches, the lease that ends every grant by itself, usage metering,
// crash-safe persistence and the signed usage receipt at the end.
//
// Persist/act order (RELIABILITY 21, 23, 25):
// - Energising (close): the audit entry and the runtime `{relayClosed: true, usedSeconds: so far}` are
//   committed in one transaction BEFORE the relay is closed. If that write fails the relay is not
//   closed (fail closed). A kill -9 after the write but before or after the close is harmless: boot
//   always drives the relay open first, and the interval was not yet counted.
// - De-energising (open): a checkpoint of the usage up to this instant is written (best effort), THEN
//   the relay is opened, THEN the runtime `{relayClosed: false}` and the audit entry are committed.
//   A store that fails can never hold up or prevent opening; a kill -9 anywhere in between loses no
//   metering because the checkpoint already holds the usage up to the moment of opening.
// - While closed, the usage is checkpointed every `checkpointSeconds`. After a crash the closed
//   interval is counted up to the last persisted moment, not up to the restart: the guest does not
//   pay for the time the agent was dead (the relay may have stayed energised, but unserved), and the
//   host loses at most one checkpoint period.
// - `DeviceRuntime.usedSeconds` is the total closed time up to `updatedAt`, measured on a monotonic
//   clock, so a wall-clock step adds or removes nothing; `closedSince` is informational.
//   `relayClosed` is what the rental wants (socket on / lock pulsing), so a socket is powered back on
//   after a restart within its rental; a lock always stays locked.

import { EventEmitter } from 'node:events';
import { type Action, deviceOf, KIND_ACTIONS, type KindName } from '../../contracts/typedData.js';

import type { Relay } from '../../hardware/relay.js';
import { LatchkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuditEntry, DeviceRuntime, Store, StoredReceipt, StoredRental } from '../store/store.js';
import { closeOut, type EndReason } from './closeout.js';
import { Lease } from './lease.js';
import { type MachineEvent, nextPhase, type Phase } from './machine.js';
import { UsageMeter } from './meter.js';
import type { ReceiptSigner } from './receipts.js';
import { DEFAULT_RETRY, type RetryPolicy, retryWrite, SafetyRetry } from './retry.js';

export type DeviceKind = KindName;
export type { EndReason } from './closeout.js';
export type { Phase } from './machine.js';

/** What the device looks like now (published retained on MQTT and served over HTTP). */
export interface DeviceState {
  deviceId: bigint;
  kind: DeviceKind;
  /** The state machine's phase. */
  phase: Phase;
  /** The relay as the driver reports it. */
  relay: 'open' | 'closed';
  rentalId?: bigint;
  /** The rental's end (unix seconds) as booked on chain. */
  leaseEndsAt?: number;
  /** Whole seconds the relay has been closed in this rental so far. */
  usedSeconds: number;
  energyWh: number;
}

export interface ActionResult {
  state: DeviceState;
  receipt?: StoredReceipt;
}

/** The part of an access Grant (agent/access/verify.ts) a controller acts on; a Grant is one. */
export interface GrantedAction {
  rental: StoredRental;
  action: Action;
}

export interface DeviceControllerDeps {
  deviceId: bigint;
  kind: DeviceKind;
  /** How long an unlock keeps a lock open. */
  pulseSeconds: number;
  relay: Relay;
  store: Store;
  signer: ReceiptSigner;
  /** Trusted unix seconds; undefined while the clock is not trusted (then no live rental is resumed). */
  now: () => number | undefined;
  /**
   * Whether `now` has been checked against the chain's time (bounded from above too). Until then a
   * stored rental that only looks ended by the clock is left dormant, not closed out: a clock far
   * ahead after a reboot would otherwise settle a live rental early. Default: always.
   */
  timeAnchored?: () => boolean;
  log: Logger;
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
/** Seconds a device's own off-timer runs past the agent's relock or lease end (see hardwareLeaseSeconds). */
const HARDWARE_LEASE_MARGIN_SECONDS = 5;

type Timer = ReturnType<typeof setTimeout>;

export class DeviceController extends EventEmitter<DeviceControllerEvents> {
  readonly deviceId: bigint;
  readonly kind: DeviceKind;
  private readonly pulseSeconds: number;
  private readonly relay: Relay;
  private readonly store: Store;
  private readonly signer: ReceiptSigner;
  private readonly now: () => number | undefined;
  private readonly timeAnchored: () => boolean;
  private readonly log: Logger;
  private readonly checkpointMs: number;
  private readonly retry: RetryPolicy;
  private readonly meter: UsageMeter;
  private readonly lease: Lease;

  private phase: Phase = 'stopped';
  /** The rental holding the lease (phases open, closed, ending). */
  private rental: StoredRental | undefined;
  /** The rental wants the relay closed (socket on / lock pulsing); persisted as `relayClosed`. */
  private wantClosed = false;
  private closedSince: number | undefined;
  private pulseTimer: Timer | undefined;
  private pulseSeq = 0;
  private checkpointTimer: ReturnType<typeof setInterval> | undefined;
  /** Runs after an open failed its bounded retries; while active nothing is energised. */
  private readonly safety: SafetyRetry;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(deps: DeviceControllerDeps) {
    super();
    if (deps.kind !== 'lock' && deps.kind !== 'socket')
      throw new LatchkeyError('CONFIG_INVALID', `device ${deps.deviceId}: kind must be 'lock' or 'socket'`);
    if (!Number.isFinite(deps.pulseSeconds) || deps.pulseSeconds <= 0)
      throw new LatchkeyError('CONFIG_INVALID', `device ${deps.deviceId}: pulseSeconds must be > 0`);
    const checkpointSeconds = deps.checkpointSeconds ?? DEFAULT_CHECKPOINT_SECONDS;
    if (!Number.isFinite(checkpointSeconds) || checkpointSeconds <= 0)
      throw new LatchkeyError('CONFIG_INVALID', `device ${deps.deviceId}: checkpointSeconds must be > 0`);
    this.deviceId = deps.deviceId;
    this.kind = deps.kind;
    this.pulseSeconds = deps.pulseSeconds;
    this.relay = deps.relay;
    this.store = deps.store;
    this.signer = deps.signer;
    this.now = deps.now;
    this.timeAnchored = deps.timeAnchored ?? (() => true);
    this.log = deps.log;
    this.checkpointMs = checkpointSeconds * 1000;
    this.retry = { ...DEFAULT_RETRY, ...deps.retry };
    const monotonicMs = deps.monotonicMs ?? (() => performance.now());
    this.meter = new UsageMeter(monotonicMs);
    this.lease = new Lease(monotonicMs, () => this.onLeaseExpired());
    this.safety = new SafetyRetry(
      () => this.relay.open(),
      this.retry,
      (attempts) => {
        this.tryAudit({
          action: 'safe',
          actor: 'agent',
          outcome: 'ok',
          reason: `relay opened after ${attempts} background attempt(s)`,
          ...opt(this.rental?.id),
        });
        this.emitState();
      },
      (attempts, e) =>
        this.log.error('relay still failing to open', { deviceId: this.deviceId, attempts, error: e }),
    );
  }

  /**
   * Drives the relay open FIRST (safe state at boot), then resumes what the store says is live:
   * a socket that was on is powered back on for the rest of its rental, a lock stays locked. A
   * rental that ended while the agent was down is closed out (receipt if none exists yet).
   */
  start(): Promise<void> {
    return this.serial(async () => {
      if (this.phase !== 'stopped') return;
      try {
        await retryWrite(
          () => this.relay.start(),
          this.retry,
          (n, e) => this.log.warn('relay start failed', { attempt: n, error: e }),
        );
      } catch (e) {
        this.tryAudit({
          action: 'safe',
          actor: 'boot',
          outcome: 'error',
          reason: `relay start failed: ${msg(e)}`,
        });
        throw new LatchkeyError(
          'RELAY_FAILED',
          `device ${this.deviceId}: relay ${this.relay.describe} did not start`,
          {
            cause: e,
          },
        );
      }
      const rt = this.store.getDeviceRuntime(this.deviceId);
      this.audit({
        action: 'safe',
        actor: 'boot',
        outcome: 'ok',
        reason: rt?.relayClosed
          ? 'relay driven open at boot (recorded closed before)'
          : 'relay driven open at boot',
        ...(rt?.rentalId !== undefined ? { rentalId: rt.rentalId } : {}),
      });
      this.move('start');
      this.emitState();
      await this.reconcileNow('boot');
    });
  }

  /** Leaves the relay open and releases it; a live rental's runtime is kept so a restart resumes it. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.phase === 'stopped') return;
      this.cancelPulse();
      this.stopCheckpoints();
      this.lease.cancel();
      this.safety.cancel();
      if (this.meter.running) this.checkpoint();
      this.meter.opened();
      let ok = true;
      try {
        await retryWrite(() => this.relay.open(), this.retry);
      } catch (e) {
        ok = false;
        this.log.error('relay did not open at shutdown', { deviceId: this.deviceId, error: e });
      }
      try {
        await this.relay.stop();
      } catch (e) {
        ok = false;
        this.log.error('relay did not stop', { deviceId: this.deviceId, error: e });
      }
      const rental = this.rental;
      const wish = this.kind === 'socket' && this.wantClosed;
      try {
        this.store.tx(() => {
          if (rental) this.store.putDeviceRuntime(this.runtime(wish));
          this.store.audit(
            this.entry({
              action: 'safe',
              actor: 'shutdown',
              outcome: ok ? 'ok' : 'error',
              reason: ok ? 'relay left open at shutdown' : 'relay failed to open at shutdown',
              ...(rental ? { rentalId: rental.id } : {}),
            }),
          );
        });
      } catch (e) {
        this.log.error('could not persist shutdown', { deviceId: this.deviceId, error: e });
      }
      this.move('stop');
      this.rental = undefined;
      this.wantClosed = false;
      this.closedSince = undefined;
      this.meter.reset();
      this.emitState();
    });
  }

  /** Acts on a verified grant: unlock | lock (locks), on | off (sockets), checkout (both). */
  apply(grant: GrantedAction): Promise<ActionResult> {
    return this.serial(() => this.applyNow(grant));
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
    return this.serial(async () => {
      if (this.rental?.id === rentalId) {
        if (reason === 'ended' && this.lease.armed && !this.store.getReceipt(rentalId)) {
          this.log.debug('rental end left to its lease', { deviceId: this.deviceId, rentalId });
          return undefined;
        }
        return this.endCurrent(reason, actorOf(reason), `rental ${reason}`);
      }
      const rt = this.store.getDeviceRuntime(this.deviceId);
      // A runtime still naming the rental is closed out even with a receipt: the device ends idle.
      if (rt?.rentalId === rentalId) return this.closeOutDormant(rt, rt.rentalId, reason, actorOf(reason));
      if (reason === 'ended') {
        const existing = this.store.getReceipt(rentalId);
        if (existing) return existing;
      }
      const stored = this.store.getRental(rentalId);
      if (reason === 'ended' && stored?.status === 'open' && stored.deviceId === this.deviceId) {
        // Never used on this device: a receipt all the same, so the guest's deposit comes back at the
        // end rather than after the grace period (a socket charges nothing, a lock the time held).
        return this.record(stored, 'ended', 'lease', 'rental ended unused', 0, 0, { resetRuntime: false });
      }
      return reason === 'ended' || reason === 'settled' ? this.store.getReceipt(rentalId) : undefined;
    });
  }

  /** A newer copy of a rental from the chain: an extension moves the lease; a closed status ends it. */
  updateRental(rental: StoredRental): Promise<void> {
    return this.serial(async () => {
      if (this.rental?.id !== rental.id || (this.phase !== 'open' && this.phase !== 'closed')) return;
      if (rental.status !== 'open') {
        await this.endCurrent(rental.status, 'chain', `rental ${rental.status} on chain`);
        return;
      }
      this.moveEnd(rental);
    });
  }

  /**
   * Resumes or closes out the rental recorded in the store, as at boot. For the wiring to call when
   * the clock becomes trusted after a boot without it; a no-op while a rental is held.
   */
  reconcile(): Promise<void> {
    return this.serial(() => this.reconcileNow('agent'));
  }

  /** Watt-hours an energy meter measured since its previous report; counted for the rental in progress. */
  reportEnergy(wh: number): void {
    if (!Number.isFinite(wh) || wh < 0)
      throw new LatchkeyError('BAD_REQUEST', `device ${this.deviceId}: energy must be a finite number >= 0`);
    if (!this.rental || (this.phase !== 'open' && this.phase !== 'closed' && this.phase !== 'ending')) return;
    this.meter.addEnergy(wh);
    try {
      this.store.putDeviceRuntime(this.runtime(this.wantClosed));
    } catch (e) {
      this.log.error('could not persist energy', { deviceId: this.deviceId, error: e });
    }
  }

  state(): DeviceState {
    const s: DeviceState = {
      deviceId: this.deviceId,
      kind: this.kind,
      phase: this.phase,
      relay: this.relay.isClosed() ? 'closed' : 'open',
      usedSeconds: Math.floor(this.meter.usedSeconds()),
      energyWh: this.meter.energyWh,
    };
    if (this.rental) {
      s.rentalId = this.rental.id;
      s.leaseEndsAt = Number(this.rental.end);
    }
    return s;
  }

  // ---------------------------------------------------------------- actions

  private async applyNow({ rental, action }: GrantedAction): Promise<ActionResult> {
    const actor = rental.guest;
    const refuse = (reason: string): never => {
      this.tryAudit({ action, actor, outcome: 'refused', reason, rentalId: rental.id });
      throw new LatchkeyError('BAD_REQUEST', `device ${this.deviceId}: ${reason}`);
    };
    if (this.phase === 'stopped') refuse('device controller is not started');
    if (rental.deviceId !== this.deviceId || deviceOf(rental.id) !== this.deviceId)
      refuse(`rental ${rental.id} is not for this device`);
    if (!KIND_ACTIONS[this.kind].includes(action)) refuse(`a ${this.kind} does not do '${action}'`);
    if (rental.status !== 'open') refuse(`rental ${rental.id} is ${rental.status}`);
    if (this.store.getReceipt(rental.id)) refuse(`rental ${rental.id} has already ended`);

    // An earlier rental still holding the device is over: this one is paid and has started.
    if (this.rental && this.rental.id !== rental.id)
      await this.endCurrent('ended', 'agent', `rental ${rental.id} took over the device`);
    if (!this.rental) {
      const rt = this.store.getDeviceRuntime(this.deviceId);
      if (rt?.rentalId !== undefined && rt.rentalId !== rental.id)
        this.closeOutDormant(rt, rt.rentalId, 'ended', 'agent');
      const now = this.now();
      if (now === undefined) refuse('clock not trusted');
      if ((now as number) >= Number(rental.end)) refuse(`rental ${rental.id} has ended`);
      this.take(rental, now as number, rt, actor, true);
    } else {
      this.moveEnd(rental);
    }

    switch (action) {
      case 'unlock':
        await this.closeRelay(actor, 'unlock', `unlock for ${this.pulseSeconds}s`);
        this.schedulePulse();
        break;
      case 'on':
        await this.closeRelay(actor, 'on', 'socket on for the rental');
        break;
      case 'lock':
      case 'off':
        await this.openRelay(actor, action, `guest ${action}`, true);
        break;
      case 'checkout': {
        const receipt = await this.endCurrent('ended', actor, 'guest checked out');
        return receipt ? { state: this.state(), receipt } : { state: this.state() };
      }
    }
    return { state: this.state() };
  }

  /** A rental takes the lease: metering from what the store already counted for it, lease to its end. */
  private take(
    rental: StoredRental,
    now: number,
    rt: DeviceRuntime | undefined,
    actor: string,
    persist: boolean,
  ): void {
    this.move('take');
    this.rental = rental;
    this.wantClosed = false;
    this.closedSince = undefined;
    const same = rt?.rentalId === rental.id;
    this.meter.reset(same ? rt.usedSeconds : 0, same ? rt.energyWh : 0);
    // Remaining time is read once from the trusted clock; from here on only monotonic time counts.
    this.lease.arm(Number(rental.end) - now);
    if (persist) {
      try {
        this.store.putDeviceRuntime(this.runtime(false));
      } catch (e) {
        this.log.error('could not persist the rental taking the device', {
          deviceId: this.deviceId,
          error: e,
        });
      }
    }
    this.log.info('rental holds the device', { deviceId: this.deviceId, rentalId: rental.id, actor });
  }

  /** Applies a changed rental end (an on-chain extension) to the running lease by exactly the difference. */
  private moveEnd(rental: StoredRental): void {
    const held = this.rental;
    if (!held || rental.id !== held.id || rental.end === held.end) return;
    this.lease.extend(Number(rental.end - held.end));
    this.rental = rental;
    if (this.kind === 'socket' && this.phase === 'closed') {
      // Move the device's own timer too, where it has one (a no-op write for the others).
      const holdSeconds = this.hardwareLeaseSeconds();
      if (holdSeconds !== undefined)
        this.relay
          .close({ holdSeconds })
          .catch((e) =>
            this.log.warn('could not move the hardware lease', { deviceId: this.deviceId, error: e }),
          );
    }
    this.tryAudit({
      action: 'extend',
      actor: 'chain',
      outcome: 'ok',
      reason: `lease end moved from ${held.end} to ${rental.end}`,
      rentalId: rental.id,
    });
    this.emitState();
  }

  /**
   * How long the hardware itself may stay energised, for drivers whose device can switch itself
   * off (Tasmota PulseTime, Shelly toggle_after): a little past the agent's own relock or lease end,
   * so the agent acts first and the device's own timer only matters when the gateway is gone.
   */
  private hardwareLeaseSeconds(): number | undefined {
    if (this.kind === 'lock') return this.pulseSeconds + HARDWARE_LEASE_MARGIN_SECONDS;
    const now = this.now();
    if (!this.rental || now === undefined) return undefined;
    return Math.max(1, Number(this.rental.end) - now + HARDWARE_LEASE_MARGIN_SECONDS);
  }

  /** Energises the relay for the rental: persist first, then act (see the module comment). */
  private async closeRelay(actor: string, action: string, reason: string): Promise<void> {
    const rentalId = this.rental?.id;
    if (nextPhase(this.phase, 'close') === undefined)
      throw new LatchkeyError(
        'BAD_REQUEST',
        `device ${this.deviceId}: cannot close the relay while ${this.phase}`,
      );
    if (this.safety.active) {
      this.tryAudit({
        action,
        actor,
        outcome: 'refused',
        reason: 'relay is failing to open',
        ...opt(rentalId),
      });
      throw new LatchkeyError(
        'RELAY_FAILED',
        `device ${this.deviceId}: relay is failing to open; not energising`,
      );
    }
    if (this.phase === 'closed' && this.relay.isClosed()) {
      this.tryAudit({ action, actor, outcome: 'ok', reason: `${reason} (already closed)`, ...opt(rentalId) });
      return;
    }
    this.closedSince = this.wallNow();
    try {
      this.store.tx(() => {
        this.store.putDeviceRuntime(this.runtime(true));
        this.store.audit(this.entry({ action, actor, outcome: 'ok', reason, ...opt(rentalId) }));
      });
    } catch (e) {
      this.closedSince = undefined;
      throw new LatchkeyError(
        'STORE_FAILED',
        `device ${this.deviceId}: cannot record the actuation; not energising`,
        {
          cause: e,
        },
      );
    }
    try {
      const holdSeconds = this.hardwareLeaseSeconds();
      await retryWrite(
        () => this.relay.close(holdSeconds === undefined ? {} : { holdSeconds }),
        this.retry,
        (n, e) => this.log.warn('relay close failed', { deviceId: this.deviceId, attempt: n, error: e }),
      );
    } catch (e) {
      this.closedSince = undefined;
      this.tryAudit({
        action,
        actor,
        outcome: 'error',
        reason: `relay close failed: ${msg(e)}`,
        ...opt(rentalId),
      });
      try {
        this.store.putDeviceRuntime(this.runtime(false));
      } catch {}
      // The failed write may have half-worked: make sure the contact ends up open.
      await this.driveOpen();
      this.emitState();
      throw new LatchkeyError(
        'RELAY_FAILED',
        `device ${this.deviceId}: relay ${this.relay.describe} did not close`,
        {
          cause: e,
        },
      );
    }
    this.meter.closed();
    this.wantClosed = true;
    this.move('close');
    this.startCheckpoints();
    this.emitState();
  }

  /**
   * De-energises the relay: checkpoint, act, then record (see the module comment). On a write that
   * keeps failing, a background retry keeps opening it; `strict` also reports the failure to the caller.
   */
  private async openRelay(actor: string, action: string, reason: string, strict: boolean): Promise<void> {
    if (nextPhase(this.phase, 'open') === undefined)
      throw new LatchkeyError(
        'BAD_REQUEST',
        `device ${this.deviceId}: cannot open the relay while ${this.phase}`,
      );
    const rentalId = this.rental?.id;
    this.cancelPulse();
    this.stopCheckpoints();
    if (this.meter.running) this.checkpoint();
    // Metering ends at the command: a relay that fails to open is not the guest's to pay for.
    this.meter.opened();
    this.wantClosed = false;
    this.closedSince = undefined;
    const failure = await this.driveOpen();
    this.move('open');
    try {
      this.store.tx(() => {
        if (this.rental) this.store.putDeviceRuntime(this.runtime(false));
        this.store.audit(
          this.entry({
            action,
            actor,
            outcome: failure ? 'error' : 'ok',
            reason: failure ? `${reason}: relay open failed (${msg(failure)}), retrying` : reason,
            ...opt(rentalId),
          }),
        );
      });
    } catch (e) {
      this.log.error('could not record the relay opening', { deviceId: this.deviceId, error: e });
    }
    this.emitState();
    if (failure && strict)
      throw new LatchkeyError(
        'RELAY_FAILED',
        `device ${this.deviceId}: relay ${this.relay.describe} did not open`,
        {
          cause: failure,
        },
      );
  }

  /** Opens the relay with bounded retry; on failure starts the background retry and returns the error. */
  private async driveOpen(): Promise<unknown> {
    try {
      await retryWrite(
        () => this.relay.open(),
        this.retry,
        (n, e) => this.log.warn('relay open failed', { deviceId: this.deviceId, attempt: n, error: e }),
      );
      return undefined;
    } catch (e) {
      this.log.error('relay did not open; retrying in the background', { deviceId: this.deviceId, error: e });
      this.safety.start();
      return e ?? new Error('relay open failed');
    }
  }

  /** Ends the rental holding the lease: relay open, metering closed, receipt if one is due. */
  private async endCurrent(
    requested: EndReason,
    actor: string,
    why: string,
  ): Promise<StoredReceipt | undefined> {
    const rental = this.rental;
    if (!rental) return undefined;
    this.move('end');
    const leaseLeftMs = this.lease.remainingMs();
    this.lease.cancel();
    await this.openRelay(actor, 'end', why, false);
    try {
      return this.record(rental, requested, actor, why, this.meter.usedSeconds(), this.meter.energyWh, {
        leaseLeftMs,
      });
    } finally {
      this.rental = undefined;
      this.meter.reset();
      this.move('ended');
      this.emitState();
    }
  }

  /** Closes out a rental the store holds for this device but no lease does (e.g. it ended while down). */
  private closeOutDormant(
    rt: DeviceRuntime,
    rentalId: bigint,
    requested: EndReason,
    actor: string,
  ): StoredReceipt | undefined {
    const rental = this.store.getRental(rentalId);
    if (!rental) {
      this.log.warn('runtime names a rental the store does not know; forgetting it', {
        deviceId: this.deviceId,
        rentalId,
      });
      this.store.tx(() => {
        this.store.putDeviceRuntime(this.idleRuntime());
        this.store.audit(
          this.entry({
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
    return this.record(rental, requested, actor, `rental ${requested}`, rt.usedSeconds, rt.energyWh);
  }

  /**
   * Closes out `rental` in the store (see closeout.ts) and announces a new receipt. `leaseLeftMs`:
   * what the rental's lease had left when it ended, if it held one; `resetRuntime` as in closeOut.
   */
  private record(
    rental: StoredRental,
    requested: EndReason,
    actor: string,
    why: string,
    usedSeconds: number,
    energyWh: number,
    opts: { leaseLeftMs?: number | undefined; resetRuntime?: boolean } = {},
  ): StoredReceipt | undefined {
    const { leaseLeftMs, resetRuntime = true } = opts;
    const at = this.wallNow();
    // A lock is used for as long as the guest holds the key — from the rental's start until checkout
    // or its end — not for the few seconds its bolt is drawn. A socket is used while it is powered.
    const used = this.kind === 'lock' ? this.heldSeconds(rental, leaseLeftMs) : usedSeconds;
    const { receipt, created } = closeOut({
      store: this.store,
      signer: this.signer,
      deviceId: this.deviceId,
      rental,
      requested,
      actor,
      why,
      usedSeconds: used,
      energyWh,
      at,
      resetRuntime,
    });
    if (created && receipt) {
      this.log.info('usage receipt signed', {
        deviceId: this.deviceId,
        rentalId: rental.id,
        secondsUsed: receipt.receipt.secondsUsed,
        energyWh: receipt.receipt.energyWh,
      });
      try {
        this.emit('receipt', receipt);
      } catch (e) {
        this.log.error('receipt listener failed', { error: e });
      }
    }
    return receipt;
  }

  /**
   * How long a lock rental was held, never from the raw wall clock. A rental with a lease is counted
   * on it: the lease was armed from the trusted clock and ran on monotonic time (moved by exactly
   * each extension), so booked end minus what it had left is the checkout instant, whatever the wall
   * clock did since. Without a lease (closed out dormant, or never used) it is the trusted time since
   * the start; while the clock is untrusted the booked time, since such a rental only ends 'ended'
   * once its end has passed (the sweep needs a trusted clock, every grant does too).
   */
  private heldSeconds(rental: StoredRental, leaseLeftMs: number | undefined): number {
    const booked = Number(rental.end - rental.start);
    if (leaseLeftMs !== undefined) return booked - leaseLeftMs / 1000;
    const now = this.now();
    return now === undefined ? booked : now - Number(rental.start);
  }

  private async reconcileNow(actor: string): Promise<void> {
    if (this.phase !== 'idle') return;
    const rt = this.store.getDeviceRuntime(this.deviceId);
    if (rt?.rentalId === undefined) return;
    const rental = this.store.getRental(rt.rentalId);
    if (!rental) {
      this.closeOutDormant(rt, rt.rentalId, 'ended', actor);
      return;
    }
    if (rental.status !== 'open') {
      this.closeOutDormant(rt, rt.rentalId, rental.status, actor);
      return;
    }
    const now = this.now();
    if (now === undefined) {
      this.log.warn('clock not trusted: rental left dormant until it is', {
        deviceId: this.deviceId,
        rentalId: rental.id,
      });
      return;
    }
    if (now >= Number(rental.end)) {
      if (!this.timeAnchored()) {
        this.log.warn('rental looks ended by a clock not yet checked against the chain: left dormant', {
          deviceId: this.deviceId,
          rentalId: rental.id,
        });
        return;
      }
      this.closeOutDormant(rt, rental.id, 'ended', actor);
      return;
    }
    this.take(rental, now, rt, actor, this.kind === 'lock' || !rt.relayClosed);
    const powerBack = this.kind === 'socket' && rt.relayClosed;
    this.tryAudit({
      action: 'resume',
      actor,
      outcome: 'ok',
      reason: `rental live until ${rental.end}; ${
        this.kind === 'lock' ? 'lock stays locked' : powerBack ? 'socket powered back on' : 'socket stays off'
      }`,
      rentalId: rental.id,
    });
    this.emitState();
    if (powerBack) {
      try {
        await this.closeRelay(actor, 'on', 'socket powered back on for the rest of its rental');
      } catch (e) {
        this.log.error('could not power the socket back on', { deviceId: this.deviceId, error: e });
      }
    }
  }

  // ---------------------------------------------------------------- timers

  private schedulePulse(): void {
    this.cancelPulse();
    const seq = ++this.pulseSeq;
    this.pulseTimer = setTimeout(() => {
      this.pulseTimer = undefined;
      this.serial(async () => {
        if (seq !== this.pulseSeq || this.phase !== 'closed') return;
        await this.openRelay('agent', 'lock', `relock after the ${this.pulseSeconds}s pulse`, false);
      }).catch((e) => this.log.error('relock failed', { deviceId: this.deviceId, error: e }));
    }, this.pulseSeconds * 1000);
  }

  private cancelPulse(): void {
    this.pulseSeq++;
    if (this.pulseTimer) clearTimeout(this.pulseTimer);
    this.pulseTimer = undefined;
  }

  private onLeaseExpired(): void {
    const rentalId = this.rental?.id;
    this.serial(async () => {
      const held = this.rental;
      if (!held || held.id !== rentalId || (this.phase !== 'open' && this.phase !== 'closed')) return;
      if (this.lease.armed) return; // an extension re-armed it while this call waited its turn
      let stored: StoredRental | undefined;
      try {
        stored = this.store.getRental(held.id);
      } catch (e) {
        this.log.error('store unreadable at lease end; ending the rental anyway', { error: e });
      }
      // An extension the chain recorded but nobody passed on: the lease runs on, by exactly that much.
      if (stored?.status === 'open' && stored.end > held.end) {
        this.moveEnd(stored);
        return;
      }
      const reason: EndReason = stored && stored.status !== 'open' ? stored.status : 'ended';
      await this.endCurrent(reason, 'lease', 'rental end reached');
    }).catch((e) => this.log.error('lease end failed', { deviceId: this.deviceId, rentalId, error: e }));
  }

  private startCheckpoints(): void {
    if (this.checkpointTimer) return;
    this.checkpointTimer = setInterval(() => this.checkpoint(), this.checkpointMs);
  }

  private stopCheckpoints(): void {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
  }

  /** Persists the usage up to now while the relay is (still) closed. Best effort: never blocks safety. */
  private checkpoint(): void {
    if (!this.rental) return;
    try {
      this.store.putDeviceRuntime(this.runtime(true));
    } catch (e) {
      this.log.error('usage checkpoint failed', { deviceId: this.deviceId, error: e });
    }
  }

  // ---------------------------------------------------------------- plumbing

  /** Runs operations one at a time, in order, so timers and requests never interleave mid-transition. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** The one place the phase changes; an illegal move throws and changes nothing. */
  private move(event: MachineEvent): void {
    const to = nextPhase(this.phase, event);
    if (to === undefined)
      throw new LatchkeyError(
        'BAD_REQUEST',
        `device ${this.deviceId}: '${event}' is not allowed while ${this.phase}`,
      );
    if (to !== this.phase) this.log.debug('phase', { deviceId: this.deviceId, from: this.phase, event, to });
    this.phase = to;
  }

  private emitState(): void {
    try {
      this.emit('state', this.state());
    } catch (e) {
      this.log.error('state listener failed', { error: e });
    }
  }

  private wallNow(): number {
    return Math.floor(this.now() ?? Date.now() / 1000);
  }

  private runtime(relayClosed: boolean): DeviceRuntime {
    const rt: DeviceRuntime = {
      deviceId: this.deviceId,
      relayClosed,
      usedSeconds: this.meter.usedSeconds(),
      energyWh: this.meter.energyWh,
      updatedAt: this.wallNow(),
    };
    if (this.rental) rt.rentalId = this.rental.id;
    if (relayClosed && this.closedSince !== undefined) rt.closedSince = this.closedSince;
    return rt;
  }

  private idleRuntime(): DeviceRuntime {
    return {
      deviceId: this.deviceId,
      relayClosed: false,
      usedSeconds: 0,
      energyWh: 0,
      updatedAt: this.wallNow(),
    };
  }

  private entry(e: Omit<AuditEntry, 'at' | 'deviceId'>): AuditEntry {
    return { at: this.wallNow(), deviceId: this.deviceId, ...e };
  }

  private audit(e: Omit<AuditEntry, 'at' | 'deviceId'>): void {
    this.store.audit(this.entry(e));
  }

  /** Audits where a failing store must not stop what follows (refusals, errors, safety). */
  private tryAudit(e: Omit<AuditEntry, 'at' | 'deviceId'>): void {
    try {
      this.audit(e);
    } catch (err) {
      this.log.error('audit failed', { deviceId: this.deviceId, entry: e.action, error: err });
    }
  }
}

function actorOf(reason: EndReason): string {
  return reason === 'ended' ? 'agent' : 'chain';
}

function opt(rentalId: bigint | undefined): { rentalId?: bigint } {
  return rentalId === undefined ? {} : { rentalId };
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
