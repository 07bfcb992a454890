// Block headers as the watcher reads them, and the window of recent block hashes it checks for reorgs.

import type { Store } from '../store/store.js';
import type { RpcClient } from './rpc.js';

export interface BlockHeader {
  number: number;
  hash: string;
  timestamp: number;
}

export type BlockTag = 'latest' | 'safe' | 'finalized';

interface RawBlock {
  number?: unknown;
  hash?: unknown;
  timestamp?: unknown;
}

const HASH = /^0x[0-9a-fA-F]{64}$/;
const QUANTITY = /^0x[0-9a-fA-F]{1,13}$/;

/** A header, or undefined when the node does not have the block (yet): a lagging node, never a reorg. */
export async function getHeader(rpc: RpcClient, block: number | BlockTag): Promise<BlockHeader | undefined> {
  const tag = typeof block === 'number' ? `0x${block.toString(16)}` : block;
  const raw = await rpc.call<RawBlock | null>('eth_getBlockByNumber', [tag, false]);
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw.hash !== 'string' || !HASH.test(raw.hash))
    throw new TypeError(`block ${tag}: malformed hash`);
  if (typeof raw.number !== 'string' || !QUANTITY.test(raw.number))
    throw new TypeError(`block ${tag}: malformed number`);
  if (typeof raw.timestamp !== 'string' || !QUANTITY.test(raw.timestamp))
    throw new TypeError(`block ${tag}: malformed timestamp`);
  const header = {
    number: Number.parseInt(raw.number.slice(2), 16),
    hash: raw.hash.toLowerCase(),
    timestamp: Number.parseInt(raw.timestamp.slice(2), 16),
  };
  if (typeof block === 'number' && header.number !== block)
    throw new TypeError(`asked for block ${block}, got ${header.number}`);
  return header;
}

/**
 * Hashes of blocks the watcher has processed (chunk ends, blocks with applied logs, the cursor), for the
 * last `depth` blocks below the cursor. A reorg is walked back through them to the newest block the
 * chain still agrees with. They live in the store, so a restart keeps them; write them in the store
 * transaction that moves the cursor.
 */
export class HashWindow {
  constructor(
    private readonly store: Store,
    readonly depth: number,
  ) {}

  /**
   * Records processed blocks at or below `cursor` (store.setCursor records the cursor's own) and forgets
   * those below `cursor − depth`.
   */
  record(cursor: number, blocks: Iterable<{ blockNumber: number; blockHash: string }>): void {
    for (const b of blocks) this.store.putBlockHash(b.blockNumber, b.blockHash);
    this.store.pruneBlockHashesBelow(cursor - this.depth);
  }

  /** After a reorg back to `ancestor`: forgets the blocks above it. */
  forgetAbove(ancestor: number): void {
    this.store.forgetBlockHashesFrom(ancestor + 1);
  }

  /** Known blocks from `top − depth` to `top`, ascending. */
  known(top: number): { block: number; hash: string }[] {
    return this.store.blockHashesFrom(Math.max(0, top - this.depth)).filter((b) => b.block <= top);
  }
}

/**
 * The newest block in `window` (at or below `top`) whose hash the chain still has, found by binary
 * search: on a hash-linked chain, agreement at a block implies agreement at every block below it.
 * Undefined when none agrees (the reorg is deeper than the window). Throws if the node lacks a block.
 */
export async function commonAncestor(
  rpc: RpcClient,
  window: HashWindow,
  top: number,
): Promise<BlockHeader | undefined> {
  const blocks = window.known(top);
  let lo = 0;
  let hi = blocks.length - 1;
  let found: BlockHeader | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const { block, hash } = blocks[mid]!;
    const header = await getHeader(rpc, block);
    if (!header) throw new Error(`the RPC node does not have block ${block}`);
    if (header.hash === hash) {
      found = header;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
