import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Chain, startChain, tempStore, watcherOptions } from './test/chain.js';
import { ChainWatcher, type Confirmations } from './watcher.js';

// anvil with one slot per epoch: 'safe' is the head's parent, 'finalized' two blocks below the head.
let chain: Chain;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  chain = await startChain(['--slots-in-an-epoch', '1']);
});
afterAll(async () => {
  await chain?.stop();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function watcherWith(confirmations: Confirmations) {
  const { store, cleanup } = tempStore();
  cleanups.push(cleanup);
  const watcher = new ChainWatcher({ ...(await watcherOptions(chain, { confirmations })), store });
  cleanups.push(() => watcher.stop());
  await watcher.start();
  return { watcher, store };
}

describe('ChainWatcher with block tags', () => {
  it.each([
    ['safe', 1],
    ['finalized', 2],
  ] as const)('applies a rental once its block is %s (%i blocks here)', async (tag, depth) => {
    const { watcher, store } = await watcherWith(tag);
    const { rental, block } = await chain.rent();
    for (let i = 0; i < depth; i++) {
      await watcher.poll();
      expect(store.getRental(rental.id)).toBeUndefined();
      await chain.mine(1);
    }
    await watcher.poll();
    expect(store.getRental(rental.id)?.status).toBe('open');
    expect(store.getCursor()?.block).toBe(block);
  });
});
