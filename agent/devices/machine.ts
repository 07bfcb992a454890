// The device controller's state machine: the named phases of a device and every legal move
// between them, in one table. The controller asks here before it acts and refuses anything else.

/**
 * - `stopped`: not driving the relay (before `start()`, after `stop()`).
 * - `idle`: relay open, no rental holds the device.
 * - `open`: a rental holds the lease; relay open (lock locked / socket off).
 * - `closed`: a rental holds the lease; relay closed (lock pulsing open / socket on).
 * - `ending`: the rental is being closed out (relay opening, metering ending, receipt signing).
 */
export type Phase = 'stopped' | 'idle' | 'open' | 'closed' | 'ending';

/**
 * - `start`: safe state reached at boot.
 * - `take`: a rental takes the lease (a first grant, or a live rental resumed at boot).
 * - `close` / `open`: the relay was energised / de-energised for the rental.
 * - `end`: the rental is over (lease ran out, checkout, revoked, cancelled, settled).
 * - `ended`: close-out done (receipt stored or none due).
 * - `stop`: shutdown, relay left open.
 */
export type MachineEvent = 'start' | 'take' | 'close' | 'open' | 'end' | 'ended' | 'stop';

const TRANSITIONS: Readonly<Record<Phase, Partial<Record<MachineEvent, Phase>>>> = {
  stopped: { start: 'idle', stop: 'stopped' },
  idle: { take: 'open', open: 'idle', stop: 'stopped' },
  open: { close: 'closed', open: 'open', end: 'ending', stop: 'stopped' },
  closed: { close: 'closed', open: 'open', end: 'ending', stop: 'stopped' },
  ending: { open: 'ending', ended: 'idle', stop: 'stopped' },
};

/** The phase `event` leads to from `from`, or undefined when the move is illegal. */
export function nextPhase(from: Phase, event: MachineEvent): Phase | undefined {
  return TRANSITIONS[from][event];
}

/** Every legal (from, event, to), for documentation and tests. */
export function transitions(): { from: Phase; event: MachineEvent; to: Phase }[] {
  const out: { from: Phase; event: MachineEvent; to: Phase }[] = [];
  for (const [from, moves] of Object.entries(TRANSITIONS) as [
    Phase,
    Partial<Record<MachineEvent, Phase>>,
  ][]) {
    for (const [event, to] of Object.entries(moves) as [MachineEvent, Phase][]) out.push({ from, event, to });
  }
  return out;
}
