// Decodes Latchkey logs into typed events (name + named args), for receipts and getLogs alike.

import { Interface, type Log, type TransactionReceipt } from 'ethers';
import { type LatchkeyEventArgs, latchkeyAbi } from './generated/latchkey.js';

export type { LatchkeyEventArgs } from './generated/latchkey.js';
export type LatchkeyEventName = keyof LatchkeyEventArgs;

export interface LatchkeyEventOf<K extends LatchkeyEventName> {
  name: K;
  args: LatchkeyEventArgs[K];
  log: Log;
}
/** Any Latchkey event, discriminated by `name`. */
export type LatchkeyEvent = { [K in LatchkeyEventName]: LatchkeyEventOf<K> }[LatchkeyEventName];

const iface = new Interface(latchkeyAbi);

/**
 * The event a log carries, or undefined when it is not a Latchkey event (or, given `contract`,
 * was emitted by another address).
 */
export function parseLatchkeyLog(log: Log, contract?: string): LatchkeyEvent | undefined {
  if (contract !== undefined && log.address.toLowerCase() !== contract.toLowerCase()) return undefined;
  let parsed: ReturnType<Interface['parseLog']>;
  try {
    parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
  } catch {
    return undefined; // a known topic with undecodable data: not ours
  }
  if (!parsed) return undefined;
  return { name: parsed.name, args: parsed.args.toObject(), log } as LatchkeyEvent;
}

/** Every Latchkey event in a transaction receipt, in log order. */
export function latchkeyEvents(receipt: TransactionReceipt, contract?: string): LatchkeyEvent[] {
  const events: LatchkeyEvent[] = [];
  for (const log of receipt.logs) {
    const event = parseLatchkeyLog(log, contract);
    if (event) events.push(event);
  }
  return events;
}

/** The first event named `name` in a transaction receipt. */
export function findLatchkeyEvent<K extends LatchkeyEventName>(
  receipt: TransactionReceipt,
  name: K,
  contract?: string,
): LatchkeyEventOf<K> | undefined {
  for (const event of latchkeyEvents(receipt, contract))
    if (event.name === name) return event as LatchkeyEventOf<K>;
  return undefined;
}
