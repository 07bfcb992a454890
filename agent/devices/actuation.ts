// Relay writes in their crash-safe order (RELIABILITY 21, 23, 25):
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

import { isError, LatchkeyError } from '../errors.js';
import { type DeviceCore, msg, opt } from './deviceCore.js';
import { hardwareLeaseSeconds } from './kindPolicy.js';
import { nextPhase } from './machine.js';
import { type RetryPolicy, retryWrite, SafetyRetry } from './retry.js';

export class RelayActuator {
  /** Runs after an open failed its bounded retries; while active nothing is energised. */
  readonly safety: SafetyRetry;
  private checkpointTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly core: DeviceCore,
    readonly retry: RetryPolicy,
    private readonly checkpointMs: number,
  ) {
    this.safety = new SafetyRetry(
      () => core.relay.open(),
      retry,
      (attempts) => {
        core.tryAudit({
          action: 'safe',
          actor: 'agent',
          outcome: 'ok',
          reason: `relay opened after ${attempts} background attempt(s)`,
          ...opt(core.rental?.id),
        });
        core.emitState();
      },
      (attempts, e) =>
        core.log.error('relay still failing to open', { deviceId: core.deviceId, attempts, error: e }),
    );
  }

  /** How long the hardware may hold itself energised now (undefined: no hardware lease). */
  hardwareLeaseSeconds(): number | undefined {
    const c = this.core;
    return hardwareLeaseSeconds(c.kind, c.pulseSeconds, c.rental, c.now());
  }

  /**
   * Energises the relay for the rental: persist first, then act (see the module comment). `record`
   * (a token's nonce and audit entry) is committed in the same transaction; if it throws, nothing is
   * written or energised and its error is the caller's.
   */
  async close(actor: string, action: string, reason: string, record?: () => void): Promise<void> {
    const c = this.core;
    const rentalId = c.rental?.id;
    if (nextPhase(c.phase, 'close') === undefined)
      throw new LatchkeyError('BAD_REQUEST', `device ${c.deviceId}: cannot close the relay while ${c.phase}`);
    if (this.safety.active) {
      c.tryAudit({
        action,
        actor,
        outcome: 'refused',
        reason: 'relay is failing to open',
        ...opt(rentalId),
      });
      throw new LatchkeyError(
        'RELAY_FAILED',
        `device ${c.deviceId}: relay is failing to open; not energising`,
      );
    }
    if (c.phase === 'closed' && c.relay.isClosed()) {
      if (record) c.store.tx(record);
      c.tryAudit({ action, actor, outcome: 'ok', reason: `${reason} (already closed)`, ...opt(rentalId) });
      return;
    }
    c.closedSince = c.wallNow();
    try {
      c.store.tx(() => {
        record?.();
        c.store.putDeviceRuntime(c.runtime(true));
        c.store.audit(c.entry({ action, actor, outcome: 'ok', reason, ...opt(rentalId) }));
      });
    } catch (e) {
      c.closedSince = undefined;
      if (isError(e, 'TOKEN_USED')) throw e;
      throw new LatchkeyError(
        'STORE_FAILED',
        `device ${c.deviceId}: cannot record the actuation; not energising`,
        {
          cause: e,
        },
      );
    }
    try {
      await this.closeRelay();
    } catch (e) {
      c.closedSince = undefined;
      c.tryAudit({
        action,
        actor,
        outcome: 'error',
        reason: `relay close failed: ${msg(e)}`,
        ...opt(rentalId),
      });
      try {
        c.store.putDeviceRuntime(c.runtime(false));
      } catch {}
      // The failed write may have half-worked: make sure the contact ends up open.
      await this.driveOpen();
      c.emitState();
      throw new LatchkeyError(
        'RELAY_FAILED',
        `device ${c.deviceId}: relay ${c.relay.describe} did not close`,
        {
          cause: e,
        },
      );
    }
    c.meter.closed();
    c.wantClosed = true;
    c.move('close');
    this.startCheckpoints();
    c.emitState();
  }

  /**
   * Closes the relay with the hardware lease due now, with bounded retry. Writes nothing: close()
   * records first; a caller whose runtime already says closed (a return from an outage) may call it.
   */
  async closeRelay(): Promise<void> {
    const c = this.core;
    const holdSeconds = this.hardwareLeaseSeconds();
    await retryWrite(
      () => c.relay.close(holdSeconds === undefined ? {} : { holdSeconds }),
      this.retry,
      (n, e) => c.log.warn('relay close failed', { deviceId: c.deviceId, attempt: n, error: e }),
    );
  }

  /**
   * De-energises the relay: checkpoint, act, then record (see the module comment). On a write that
   * keeps failing, a background retry keeps opening it; `strict` also reports the failure to the caller.
   * `record` (a token's nonce and audit entry) is committed with the checkpoint, before anything
   * changes; if it throws, nothing is opened or written and its error is the caller's.
   */
  async open(
    actor: string,
    action: string,
    reason: string,
    strict: boolean,
    record?: () => void,
  ): Promise<void> {
    const c = this.core;
    if (nextPhase(c.phase, 'open') === undefined)
      throw new LatchkeyError('BAD_REQUEST', `device ${c.deviceId}: cannot open the relay while ${c.phase}`);
    const rentalId = c.rental?.id;
    // A failing checkpoint inside this transaction is logged and leaves the record to commit.
    if (record)
      c.store.tx(() => {
        record();
        if (c.meter.running) this.checkpoint();
      });
    c.pulse.cancel();
    this.stopCheckpoints();
    if (!record && c.meter.running) this.checkpoint();
    // Metering ends at the command: a relay that fails to open is not the guest's to pay for.
    c.meter.opened();
    c.wantClosed = false;
    c.closedSince = undefined;
    const failure = await this.driveOpen();
    c.move('open');
    try {
      c.store.tx(() => {
        if (c.rental) c.store.putDeviceRuntime(c.runtime(false));
        c.store.audit(
          c.entry({
            action,
            actor,
            outcome: failure ? 'error' : 'ok',
            reason: failure ? `${reason}: relay open failed (${msg(failure)}), retrying` : reason,
            ...opt(rentalId),
          }),
        );
      });
    } catch (e) {
      c.log.error('could not record the relay opening', { deviceId: c.deviceId, error: e });
    }
    c.emitState();
    if (failure && strict)
      throw new LatchkeyError(
        'RELAY_FAILED',
        `device ${c.deviceId}: relay ${c.relay.describe} did not open`,
        {
          cause: failure,
        },
      );
  }

  /** Opens the relay with bounded retry; on failure starts the background retry and returns the error. */
  async driveOpen(): Promise<unknown> {
    const c = this.core;
    try {
      await retryWrite(
        () => c.relay.open(),
        this.retry,
        (n, e) => c.log.warn('relay open failed', { deviceId: c.deviceId, attempt: n, error: e }),
      );
      return undefined;
    } catch (e) {
      c.log.error('relay did not open; retrying in the background', { deviceId: c.deviceId, error: e });
      this.safety.start();
      return e ?? new Error('relay open failed');
    }
  }

  startCheckpoints(): void {
    if (this.checkpointTimer) return;
    this.checkpointTimer = setInterval(() => this.checkpoint(), this.checkpointMs);
  }

  stopCheckpoints(): void {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
  }

  /** Persists the usage up to now while the relay is (still) closed. Best effort: never blocks safety. */
  checkpoint(): void {
    const c = this.core;
    if (!c.rental) return;
    try {
      c.store.putDeviceRuntime(c.runtime(true));
    } catch (e) {
      c.log.error('usage checkpoint failed', { deviceId: c.deviceId, error: e });
    }
  }
}
