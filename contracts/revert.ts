// Names the Latchkey custom error behind a failed call or transaction, whichever way ethers reports it
// (a signer's gas estimate leaves the revert data undecoded; a contract call decodes it).

import { Interface } from 'ethers';
import { type LatchkeyErrorName, latchkeyAbi } from './generated/latchkey.js';

export type { LatchkeyErrorName } from './generated/latchkey.js';

export interface LatchkeyRevert {
  name: LatchkeyErrorName;
  args: unknown[];
}

const iface = new Interface(latchkeyAbi);

function revertData(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  // the data sits at e.data, or deeper inside the RPC error ethers wraps (info.error, error)
  const queue: unknown[] = [e];
  while (queue.length > 0) {
    const x = queue.shift();
    if (typeof x !== 'object' || x === null || seen.has(x)) continue;
    seen.add(x);
    const o = x as { data?: unknown; error?: unknown; info?: unknown };
    if (typeof o.data === 'string' && /^0x[0-9a-fA-F]{8}/.test(o.data)) return o.data;
    queue.push(o.error, o.info, o.data);
  }
  return undefined;
}

/** The Latchkey custom error an ethers error carries, or undefined for anything else. */
export function latchkeyRevert(e: unknown): LatchkeyRevert | undefined {
  const data = revertData(e);
  if (!data) return undefined;
  try {
    const parsed = iface.parseError(data);
    return parsed ? { name: parsed.name as LatchkeyErrorName, args: [...parsed.args] } : undefined;
  } catch {
    return undefined;
  }
}
