import { describe, expect, it } from 'vitest';
import { extendRental } from '../../contracts/rental.js';
import { Store } from '../store/store.js';
import { sampleReceipt } from '../store/test/fixtures.js';
import { type Chain, type Recorded, record, tempStore, useChain, watcherOptions } from './test/chain.js';
import { ChainWatcher, type ChainWatcherOptions } from './watcher.js';

// The reorg window (block hashes below the cursor, the undo journal of applied logs) lives in the
// store: a watcher restarted on the same database walks a reorg back exactly as the one before it would.

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

interface Agent {
  store: Store;
  watcher: ChainWatcher;
  seen: Recorded;
}

/** A gateway agent's chain side on the database at `path`: a fresh Store and ChainWatcher, started. */
async function boot(path: string, opts: Omit<ChainWatcherOptions, 'store'>): Promise<Agent> {
  const store = new Store(path);
  store.start();
  cleanups.push(() => store.stop());
  const watcher = new ChainWatcher({ ...opts, store });
  cleanups.push(() => watcher.stop());
  const seen = record(watcher);
  await watcher.start();
  return { store, watcher, seen };
}

async function shutdown(agent: Agent): Promise<void> {
  await agent.watcher.stop();
  agent.store.stop();
}

/** A database in a temp dir and the options of a watcher over it whose polls the test drives. */
async function setup(over: Partial<ChainWatcherOptions> = {}) {
  const t = tempStore();
  t.store.stop();
  cleanups.push(t.cleanup);
  const opts = await watcherOptions(chain, over);
  return { path: t.path, opts };
}

/** Moves chain time past every booking of the device so a rental can start now. */
async function freeDevice(): Promise<void> {
  const device = await chain.asGuest.device(chain.deviceId);
  const block = await chain.anvil.provider.getBlock('latest');
  // Past the slot (a minute) the latest booking ends in, which that booking holds.
  const gap = Math.ceil(Number(device.bookedUntil) / 60) * 60 - block!.timestamp;
  if (gap >= 0) await chain.rpc('evm_increaseTime', [gap + 1]);
  await chain.mine(1);
}

/**
 * Replaces every block from `block` to the head with empty ones: their transactions are gone. Every
 * caller reorgs from the block of a transaction of its own, so that block must hold one.
 */
async function reorgFrom(block: number): Promise<void> {
  const tx = (await chain.anvil.provider.getBlock(block))?.transactions[0];
  expect(tx, `block ${block} holds no transaction to reorg away`).toBeDefined();
  expect(await chain.rpc('eth_getTransactionReceipt', [tx])).not.toBeNull();
  await chain.rpc('anvil_reorg', [(await chain.head()) - block + 1, []]);
  expect(await chain.rpc('eth_getTransactionReceipt', [tx])).toBeNull();
}

async function hashOf(block: number): Promise<string> {
  return (await chain.anvil.provider.getBlock(block))!.hash!;
}

describe('ChainWatcher reorg window across a restart', () => {
  it('revokes a rental whose Rented log a reorg removed after the restart (RELIABILITY 9)', async () => {
    const { path, opts } = await setup();
    const first = await boot(path, opts);
    const { rental, block } = await chain.rent();
    await chain.mine(3);
    await first.watcher.poll();
    expect(first.store.getRental(rental.id)?.status).toBe('open');
    await shutdown(first);

    const second = await boot(path, opts);
    await reorgFrom(block);
    await second.watcher.poll();

    expect(second.seen.alarm).toEqual([]);
    expect(second.watcher.isHalted).toBe(false);
    expect(second.store.getRental(rental.id)?.status).toBe('revoked');
    expect(second.seen.revoked).toEqual([rental.id]);
    expect(second.store.getCursor()).toEqual({
      block: (await chain.head()) - 2,
      hash: await hashOf((await chain.head()) - 2),
    });

    await chain.mine(3);
    await second.watcher.poll();
    expect(second.store.getRental(rental.id)?.status).toBe('revoked');
    expect(second.seen.rental).toEqual([]);
  });

  it('puts an extended rental back to its pre-extension end when a reorg while down removed only the Extended log', async () => {
    await freeDevice();
    const { path, opts } = await setup();
    const first = await boot(path, opts);
    const { rental, block: rentBlock } = await chain.rent();
    const { rental: extended, receipt } = await extendRental(chain.asGuest, rental, 600);
    expect(receipt.blockNumber).toBe(rentBlock + 1);
    await chain.mine(2);
    await first.watcher.poll();
    expect(first.store.getRental(rental.id)).toMatchObject({ end: extended.end, blockNumber: rentBlock + 1 });
    await shutdown(first);

    await reorgFrom(rentBlock + 1);
    const second = await boot(path, opts);

    expect(second.seen.alarm).toEqual([]);
    expect(second.seen.revoked).toEqual([]);
    expect(second.store.getRental(rental.id)).toMatchObject({
      end: rental.end,
      deposit: rental.deposit,
      status: 'open',
      blockNumber: rentBlock,
      blockHash: await hashOf(rentBlock),
    });
    expect(second.seen.rental.map((r) => [r.id, r.end])).toEqual([[rental.id, rental.end]]);
    expect(second.store.openRentals(chain.deviceId).map((r) => r.id)).toContain(rental.id);
  });

  it('opens a settled rental again, and its receipt is pending again, when a reorg while down removed the Settled log', async () => {
    await freeDevice();
    const { path, opts } = await setup();
    const first = await boot(path, opts);
    const { rental } = await chain.rent();
    await chain.mine(2);
    await first.watcher.poll();
    first.store.putReceipt(sampleReceipt(rental.id)); // its content does not matter here
    const settle = await (await chain.asGuest.checkoutByTime(rental)).wait();
    await chain.mine(2);
    await first.watcher.poll();
    expect(first.store.getRental(rental.id)?.status).toBe('settled');
    expect(first.store.getReceipt(rental.id)?.status).toBe('settled');
    await shutdown(first);

    await reorgFrom(settle!.blockNumber);
    const second = await boot(path, opts);

    expect(second.seen.alarm).toEqual([]);
    expect(second.seen.revoked).toEqual([]);
    expect(second.store.getRental(rental.id)?.status).toBe('open');
    expect(second.store.getReceipt(rental.id)?.status).toBe('pending');
    expect(second.seen.rental.map((r) => r.id)).toEqual([rental.id]);
    expect(second.seen.closed).toEqual([]);
  });

  it('keeps the window bounded, and still raises an alarm on a reorg deeper than it (RELIABILITY 14)', async () => {
    const reorgWindow = 4;
    const { path, opts } = await setup({ confirmations: 1, reorgWindow });
    const first = await boot(path, opts);
    await chain.rent();
    for (let i = 0; i < 8; i++) {
      await chain.mine(1);
      await first.watcher.poll();
    }
    const cursor = first.store.getCursor()!;
    const known = first.store.blockHashesFrom(0).map((b) => b.block);
    expect(known.at(-1)).toBe(cursor.block);
    expect(known[0]).toBeGreaterThanOrEqual(cursor.block - reorgWindow);
    expect(first.store.rentalUndosFrom(0)).toEqual([]);
    await shutdown(first);

    const second = await boot(path, opts);
    await chain.rpc('anvil_reorg', [12, []]);
    await second.watcher.poll();

    expect(second.seen.alarm).toHaveLength(1);
    expect(second.watcher.isHalted).toBe(true);
    expect(second.store.getCursor()).toEqual(cursor);
  });
});
