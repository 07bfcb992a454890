// What the parts of one device controller share: its settings, the phase, the rental holding the
// lease, the usage meter and the lease, and how a change is written down (runtime rows, audit
// entries) and announced (state, receipts). The parts: controller.ts (the command API),
// actuation.ts (persist, then act), rentalEnd.ts (close-outs), recovery.ts (boot) and
// energyCutOff.ts (prepaid energy).

import type { Relay } from '../../hardware/relay.js';
import { LatchkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { AuditEntry, DeviceRuntime, Store, StoredReceipt, StoredRental } from '../store/store.js';
import { DeviceHealth } from './deviceHealth.js';
import { type DeviceKind, type DeviceState, deviceStatus } from './deviceState.js';
import { PulseTimer } from './kindPolicy.js';
import { Lease } from './lease.js';
import { type MachineEvent, nextPhase, type Phase } from './machine.js';
import { UsageMeter } from './meter.js';
import { prepaidEnergyWh } from './prepaidEnergy.js';
import type { ReceiptKeys, RentalSignerOf } from './receiptKeys.js';

export interface DeviceCoreDeps {
  deviceId: bigint;
  kind: DeviceKind;
  pulseSeconds: number;
  relay: Relay;
  store: Store;
  keys: ReceiptKeys;
  rentalSigner: RentalSignerOf;
  now: () => number | undefined;
  timeAnchored: () => boolean;
  log: Logger;
  /** Where outages, faults and door alarms are counted (hardwareNotices.ts); none in most tests. */
  metrics: Metrics | undefined;
  monotonicMs: () => number;
  onLeaseExpired: () => void;
  onState: (s: DeviceState) => void;
  onReceipt: (r: StoredReceipt) => void;
}

export type AuditNote = Omit<AuditEntry, 'at' | 'deviceId'>;

export class DeviceCore {
  readonly deviceId: bigint;
  readonly kind: DeviceKind;
  readonly pulseSeconds: number;
  readonly relay: Relay;
  readonly store: Store;
  readonly keys: ReceiptKeys;
  readonly rentalSigner: RentalSignerOf;
  readonly now: () => number | undefined;
  readonly timeAnchored: () => boolean;
  readonly log: Logger;
  readonly metrics: Metrics | undefined;
  readonly meter: UsageMeter;
  readonly lease: Lease;
  readonly pulse = new PulseTimer();
  /** What the hardware reported about itself: an outage, a fault, a door alarm (deviceHealth.ts). */
  readonly health = new DeviceHealth();

  phase: Phase = 'stopped';
  /** The rental holding the lease (phases open, closed, ending). */
  rental: StoredRental | undefined;
  /** The rental wants the relay closed (socket on / lock pulsing); persisted as `relayClosed`. */
  wantClosed = false;
  closedSince: number | undefined;
  /** The socket was switched off because its prepaid energy ran out; a top-up powers it again. */
  energyCutOff = false;

  private readonly onState: (s: DeviceState) => void;
  private readonly onReceipt: (r: StoredReceipt) => void;

  constructor(deps: DeviceCoreDeps) {
    this.deviceId = deps.deviceId;
    this.kind = deps.kind;
    this.pulseSeconds = deps.pulseSeconds;
    this.relay = deps.relay;
    this.store = deps.store;
    this.keys = deps.keys;
    this.rentalSigner = deps.rentalSigner;
    this.now = deps.now;
    this.timeAnchored = deps.timeAnchored;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.meter = new UsageMeter(deps.monotonicMs);
    this.lease = new Lease(deps.monotonicMs, deps.onLeaseExpired);
    this.onState = deps.onState;
    this.onReceipt = deps.onReceipt;
  }

  /** The one place the phase changes; an illegal move throws and changes nothing. */
  move(event: MachineEvent): void {
    const to = nextPhase(this.phase, event);
    if (to === undefined)
      throw new LatchkeyError(
        'BAD_REQUEST',
        `device ${this.deviceId}: '${event}' is not allowed while ${this.phase}`,
      );
    if (to !== this.phase) this.log.debug('phase', { deviceId: this.deviceId, from: this.phase, event, to });
    this.phase = to;
  }

  /** Whether a rental holds the lease and is not yet being closed out. */
  get holding(): boolean {
    return this.rental !== undefined && (this.phase === 'open' || this.phase === 'closed');
  }

  /** A rental takes the lease: metering from what the store already counted for it, lease to its end. */
  take(
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
    this.energyCutOff = false;
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

  state(): DeviceState {
    const relay = this.relay.isClosed() ? 'closed' : 'open';
    const s: DeviceState = {
      deviceId: this.deviceId,
      kind: this.kind,
      phase: this.phase,
      relay,
      status: deviceStatus(this.kind, relay),
      usedSeconds: Math.floor(this.meter.usedSeconds()),
      energyWh: this.meter.energyWh,
    };
    if (this.rental) {
      s.rentalId = this.rental.id;
      s.leaseEndsAt = Number(this.rental.end);
      const prepaid = this.kind === 'socket' ? prepaidEnergyWh(this.rental) : undefined;
      if (prepaid !== undefined) s.prepaidEnergyWh = prepaid;
      if (this.energyCutOff) s.offReason = 'prepaid-energy-used';
    }
    Object.assign(s, this.health.stateFields(this.relay));
    try {
      const keys = this.store.deviceSigner(this.deviceId);
      if (keys?.revoked) s.signerRevoked = keys.signer;
    } catch (e) {
      this.log.error('could not read the device signer', { deviceId: this.deviceId, error: e });
    }
    return s;
  }

  /**
   * The key `rental` committed to when its device's host has revoked it (by the logs applied so far):
   * its receipt would settle nothing, so none is signed and it settles by time. Else undefined.
   */
  revokedSignerOf(rental: StoredRental): string | undefined {
    const signer = this.rentalSigner(rental)?.toLowerCase();
    return signer !== undefined && this.store.signerRevoked(this.deviceId, signer) ? signer : undefined;
  }

  emitState(): void {
    try {
      this.onState(this.state());
    } catch (e) {
      this.log.error('state listener failed', { error: e });
    }
  }

  emitReceipt(r: StoredReceipt): void {
    try {
      this.onReceipt(r);
    } catch (e) {
      this.log.error('receipt listener failed', { error: e });
    }
  }

  wallNow(): number {
    return Math.floor(this.now() ?? Date.now() / 1000);
  }

  runtime(relayClosed: boolean): DeviceRuntime {
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

  idleRuntime(): DeviceRuntime {
    return {
      deviceId: this.deviceId,
      relayClosed: false,
      usedSeconds: 0,
      energyWh: 0,
      updatedAt: this.wallNow(),
    };
  }

  entry(e: AuditNote): AuditEntry {
    return { at: this.wallNow(), deviceId: this.deviceId, ...e };
  }

  audit(e: AuditNote): void {
    this.store.audit(this.entry(e));
  }

  /** Audits where a failing store must not stop what follows (refusals, errors, safety). */
  tryAudit(e: AuditNote): void {
    try {
      this.audit(e);
    } catch (err) {
      this.log.error('audit failed', { deviceId: this.deviceId, entry: e.action, error: err });
    }
  }
}

export function opt(rentalId: bigint | undefined): { rentalId?: bigint } {
  return rentalId === undefined ? {} : { rentalId };
}

export function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
