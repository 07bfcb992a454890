// The one small interface every relay driver implements: a switch that is either closed
// (the load is energised: door unlocked / socket powered) or open (safe state).

export interface Relay {
  /** Human-readable driver and address, for logs and the audit trail. */
  readonly describe: string;
  /** Acquire the hardware and drive it to the safe (open) state; calling it again drives it open again. */
  start(): Promise<void>;
  /** Energise the load (unlock the door / power the socket). */
  close(): Promise<void>;
  /** De-energise the load (lock / power off): the safe state. */
  open(): Promise<void>;
  /** The state last commanded or read back from the hardware. */
  isClosed(): boolean;
  /** Drive to the safe state and release the hardware. */
  stop(): Promise<void>;
}

/** Config of one relay, tagged by driver; the factory in `drivers.ts` turns it into a `Relay`. */
export type RelayConfig =
  | { driver: 'sim' }
  | { driver: 'gpio'; pin: number; activeLow?: boolean }
  | { driver: 'firmata'; port: string; pin: number; normallyOpen?: boolean }
  | { driver: 'mqtt-plug'; flavour: 'tasmota' | 'shelly'; topic: string; url: string };
