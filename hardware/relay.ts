// The one small interface every relay driver implements: a switch that is either closed
// (the load is energised: door unlocked / socket powered) or open (safe state), plus what real
// hardware can report beyond that (its own state changes, availability, an energy counter).

import type { EventEmitter } from 'node:events';

/** What a driver logs through: the agent's logger fits it; hardware/ needs nothing more. */
export interface RelayLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(namespace: string): RelayLogger;
}

/**
 * What a driver over real hardware reports by itself. Every event is optional: the sim reports
 * none, a GPIO line reports feedback, a smart plug reports all of them.
 */
export interface RelayEvents {
  /** The device reported its contact on its own (a button pressed on the plug, a reboot, a reconnect). */
  reported: [closed: boolean];
  /** The device came online or went offline (its broker will, a serial link, a board reset). */
  availability: [online: boolean];
  /** The device's cumulative energy counter in watt-hours, as it reported it (it may reset). */
  energy: [totalWh: number];
  /** The device reports a state the driver cannot trust: a jammed lock, feedback that disagrees. */
  fault: [message: string];
  /** A door contact wired beside the relay changed (debounced): true while the door stands open. */
  door: [open: boolean];
}

export interface CloseOptions {
  /**
   * The hardware's own lease: a device that can (Tasmota PulseTime, Shelly toggle_after) switches
   * itself off after this many seconds even if the gateway is gone. Drivers without one ignore it.
   */
  holdSeconds?: number;
}

export interface Relay {
  /** Human-readable driver and address, for logs and the audit trail. */
  readonly describe: string;
  /** Acquire the hardware and drive it to the safe (open) state; calling it again drives it open again. */
  start(): Promise<void>;
  /**
   * Energise the load (unlock the door / power the socket). Calling it again while closed is
   * harmless and renews `holdSeconds` on drivers that support it.
   */
  close(options?: CloseOptions): Promise<void>;
  /** De-energise the load (lock / power off): the safe state. */
  open(): Promise<void>;
  /** The state last commanded or read back from the hardware. */
  isClosed(): boolean;
  /** Drive to the safe state and release the hardware. */
  stop(): Promise<void>;
  /** Present on drivers whose hardware reports by itself; see RelayEvents. */
  readonly events?: EventEmitter<RelayEvents>;
  /**
   * Whether the hardware is reachable right now; absent means always (the sim, a GPIO line).
   * A driver that knows it is offline still accepts commands and applies them on return.
   */
  isOnline?(): boolean;
}

/**
 * How a relay's contact relates to the signal that drives it, named once for every driver.
 * `activeLow`: the board energises its coil on a low line (most opto-isolated Pi relay boards).
 * `normallyClosed`: the load hangs on the NC contact, so it is powered while the coil is not.
 * Each inverts once; both together cancel out.
 */
export interface Wiring {
  activeLow?: boolean;
  normallyClosed?: boolean;
}

/** The signal level (true = high / on) that puts the load in the wanted state for this wiring. */
export function driveLevel(loadEnergised: boolean, wiring: Wiring = {}): boolean {
  return (loadEnergised !== (wiring.activeLow === true)) !== (wiring.normallyClosed === true);
}
