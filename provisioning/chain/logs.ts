// Reads a contract's logs over a block range in bounded chunks, so a host's history of any length costs
// a bounded number of eth_getLogs calls of bounded size, and a node that refuses wide ranges (many
// public RPCs cap them at 500–10,000 blocks) is answered by halving the chunk instead of failing.

import type { Filter, Log, Provider } from 'ethers';

export const DEFAULT_CHUNK_BLOCKS = 2000;
/** Halvings of one chunk before its error is taken as real. */
const MAX_HALVINGS = 12;

export interface LogRange {
  fromBlock: number;
  /** Inclusive; the latest block when absent. */
  toBlock?: number;
  chunkBlocks?: number;
}

/** Every log matching `filter` in the range, oldest first, fetched chunk by chunk. */
export async function pagedLogs(
  provider: Provider,
  filter: Omit<Filter, 'fromBlock' | 'toBlock'>,
  range: LogRange,
): Promise<Log[]> {
  const to = range.toBlock ?? (await provider.getBlockNumber());
  let chunk = Math.max(1, range.chunkBlocks ?? DEFAULT_CHUNK_BLOCKS);
  const logs: Log[] = [];
  let from = range.fromBlock;
  let halvings = 0;
  while (from <= to) {
    const end = Math.min(to, from + chunk - 1);
    try {
      logs.push(...(await provider.getLogs({ ...filter, fromBlock: from, toBlock: end })));
      from = end + 1;
      halvings = 0;
    } catch (e) {
      if (chunk === 1 || ++halvings > MAX_HALVINGS) throw e;
      chunk = Math.max(1, Math.floor(chunk / 2));
    }
  }
  return logs;
}
