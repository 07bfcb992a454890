import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extendRental } from '../../contracts/rental.js';
import type { Store } from '../store/store.js';
import { sampleReceipt } from '../store/test/fixtures.js';
import { type Chain, record, storeFor, tempStore, useChain, watcherOptions } from './test/chain.js';
import { RpcProxy } from './test/proxy.js';
import { ChainWatcher, type ChainWatcherOptions } from './watcher.js';

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

function storeForTest(): Store {
  return storeFor(cleanups).store;
}

async function watcherFor(store: Store, over: Partial<ChainWatcherOptions> = {}): Promise<ChainWatcher> {
  const watcher = new ChainWatcher({ ...(await watcherOptions(chain, over)), store });
  cleanups.push(() => watcher.stop());
  return watcher;
}

/** A started watcher whose node is reached through an RpcProxy the test can make misbehave. */
async function startedBehindProxy() {
  const store = storeForTest();
  const proxy = await new RpcProxy(chain.anvil.url).start();
  cleanups.push(() => proxy.stop());
  const watcher = await watcherFor(store, { rpcUrls: [proxy.url] });
  const seen = record(watcher);
  await watcher.start();
  return { store, proxy, watcher, seen };
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

describe('ChainWatcher', () => {
  it('applies a Rented log only after N confirmations, and reports increasing heads', async () => {
    const store = storeForTest();
    const watcher = await watcherFor(store);
    const seen = record(watcher);
    await watcher.start();

    const { rental, block } = await chain.rent();
    await watcher.poll();
    expect(store.getRental(rental.id)).toBeUndefined();
    await chain.mine(1);
    await watcher.poll();
    expect(store.getRental(rental.id)).toBeUndefined();
    expect(seen.rental).toHaveLength(0);

    await chain.mine(1);
    await watcher.poll();
    expect(store.getRental(rental.id)).toMatchObject({
      ...rental,
      guest: rental.guest.toLowerCase(),
      signer: rental.signer.toLowerCase(),
      deviceId: chain.deviceId,
      status: 'open',
      blockNumber: block,
    });
    expect(seen.rental.map((r) => r.id)).toEqual([rental.id]);
    expect(store.getCursor()?.block).toBe(block);

    const heads = seen.head.map((h) => h.number);
    expect(heads.at(-1)).toBe(block);
    expect([...heads].sort((a, b) => a - b)).toEqual(heads);
    expect(new Set(heads).size).toBe(heads.length);
    const confirmed = await chain.anvil.provider.getBlock(block);
    expect(seen.head.at(-1)?.timestamp).toBe(confirmed!.timestamp);
    // The clock is fed the latest block, two ahead of the confirmed head here.
    const latest = await chain.anvil.provider.getBlock('latest');
    expect(seen.latest.at(-1)).toEqual({ number: latest!.number, timestamp: latest!.timestamp });
    expect(latest!.number).toBe(block + 2);
  });

  it('follows Extended, Settled and Cancelled, and marks a settled rental’s receipt settled', async () => {
    await freeDevice();
    const store = storeForTest();
    const watcher = await watcherFor(store);
    const seen = record(watcher);
    await watcher.start();

    const { rental } = await chain.rent();
    const { rental: extended } = await extendRental(chain.asGuest, rental, 600);
    await chain.mine(2);
    await watcher.poll();
    expect(store.getRental(rental.id)).toMatchObject({ end: rental.end + 600n, deposit: extended.deposit });
    expect(extended.deposit).toBeGreaterThan(rental.deposit);
    expect(seen.rental.map((r) => r.end)).toEqual([rental.end, rental.end + 600n]);

    store.putReceipt(sampleReceipt(rental.id)); // its content does not matter here
    await (await chain.asGuest.checkoutByTime(extended)).wait();
    const later = BigInt((await chain.anvil.provider.getBlock('latest'))!.timestamp) + 3600n;
    const { rental: future } = await chain.rent({ start: later });
    expect(future.start).toBeGreaterThan(BigInt((await chain.anvil.provider.getBlock('latest'))!.timestamp));
    await (await chain.asGuest.cancel(future)).wait();
    await chain.mine(2);
    await watcher.poll();

    expect(store.getRental(rental.id)?.status).toBe('settled');
    expect(store.getReceipt(rental.id)?.status).toBe('settled');
    expect(store.getRental(future.id)?.status).toBe('cancelled');
    expect(seen.closed).toEqual([
      [rental.id, 'settled'],
      [future.id, 'cancelled'],
    ]);
    expect(store.openRentals(chain.deviceId)).toEqual([]);
  });

  it('ignores rentals of devices that are not this gateway’s', async () => {
    const store = storeForTest();
    const watcher = await watcherFor(store);
    const seen = record(watcher);
    await watcher.start();
    const { rental } = await chain.rent({ deviceId: chain.otherDeviceId });
    await chain.mine(2);
    await watcher.poll();
    expect(store.getRental(rental.id)).toBeUndefined();
    expect(seen.rental).toEqual([]);
  });

  it('applies a log delivered twice only once', async () => {
    const store = storeForTest();
    const startBlock = (await chain.head()) + 1;
    const first = await watcherFor(store, { startBlock });
    await first.start();
    const { rental } = await chain.rent();
    const { rental: extended } = await extendRental(chain.asGuest, rental, 120);
    await chain.mine(2);
    await first.poll();
    await first.stop();
    expect(store.getRental(rental.id)?.end).toBe(extended.end);

    // The same logs again, as a node that re-serves a range would deliver them: the Rented log must
    // not roll the extension back, and nothing is announced twice.
    store.setCursor(startBlock - 1, (await chain.anvil.provider.getBlock(startBlock - 1))!.hash!);
    const second = await watcherFor(store, { startBlock });
    const seen = record(second);
    await second.start();
    expect(store.getRental(rental.id)).toMatchObject({
      end: extended.end,
      deposit: extended.deposit,
      status: 'open',
    });
    expect(seen.rental).toEqual([]);
  });

  it('revokes a rental whose Rented log a real reorg removed (RELIABILITY 9)', async () => {
    const store = storeForTest();
    const watcher = await watcherFor(store);
    const seen = record(watcher);
    await watcher.start();
    const { rental, block } = await chain.rent();
    const tx = await txOf(block);
    await chain.mine(2);
    await watcher.poll();
    expect(store.getRental(rental.id)?.status).toBe('open');

    // Replace the rent block and the two after it with empty blocks: the rent transaction is gone.
    const depth = (await chain.head()) - block + 1;
    await chain.rpc('anvil_reorg', [depth, []]);
    expect(await chain.rpc('eth_getTransactionReceipt', [tx])).toBeNull();
    await watcher.poll();

    expect(store.getRental(rental.id)?.status).toBe('revoked');
    expect(seen.revoked).toEqual([rental.id]);
    expect(store.openRentals(chain.deviceId).map((r) => r.id)).not.toContain(rental.id);
    expect(store.getCursor()?.block).toBe((await chain.head()) - 2);

    await chain.mine(3);
    await watcher.poll();
    expect(store.getRental(rental.id)?.status).toBe('revoked');
    expect(seen.rental.map((r) => r.id)).toEqual([rental.id]);
  });

  it('keeps a rental whose Rented transaction the reorg mined again in the replacing block', async () => {
    const store = storeForTest();
    const watcher = await watcherFor(store);
    const seen = record(watcher);
    await watcher.start();
    const { rental, block } = await chain.rent();
    const raw = await chain.rpc<string>('eth_getRawTransactionByHash', [await txOf(block)]);
    await chain.mine(2);
    await watcher.poll();
    const before = store.getRental(rental.id)!;

    await chain.rpc('anvil_reorg', [3, [[raw, 0]]]);
    await watcher.poll();

    const after = store.getRental(rental.id)!;
    expect(after.status).toBe('open');
    expect(after.blockNumber).toBe(block);
    expect(after.blockHash).not.toBe(before.blockHash);
    expect(after.blockHash).toBe((await chain.anvil.provider.getBlock(block))!.hash);
    expect(seen.revoked).toEqual([]);
  });

  it('backfills 50 rentals after downtime in bounded chunks, each applied once (RELIABILITY 10)', async () => {
    const store = storeForTest();
    const first = await watcherFor(store);
    await chain.mine(3);
    await first.start();
    const stoppedAt = store.getCursor()!.block;
    await first.stop();

    const ids = (await chain.rentMany(50)).map((r) => r.rental.id);
    await chain.mine(2);

    const proxy = await new RpcProxy(chain.anvil.url).start();
    cleanups.push(() => proxy.stop());
    const second = await watcherFor(store, { rpcUrls: [proxy.url], chunkSize: 5 });
    const seen = record(second);
    await second.start();

    expect(seen.rental.map((r) => r.id)).toEqual(ids);
    expect(store.openRentals(chain.deviceId).map((r) => r.id)).toEqual(expect.arrayContaining(ids));
    const ranges = proxy.logRanges();
    expect(ranges.length).toBeGreaterThanOrEqual(10);
    expect(ranges[0]?.from).toBe(stoppedAt + 1);
    for (const [i, r] of ranges.entries()) {
      expect(r.to - r.from + 1).toBeLessThanOrEqual(5);
      if (i > 0) expect(r.from).toBe(ranges[i - 1]!.to + 1);
    }
    expect(ranges.at(-1)?.to).toBe((await chain.head()) - 2);

    await second.poll();
    expect(seen.rental).toHaveLength(50);
  });

  it('keeps the store consistent when killed with SIGKILL mid-backfill, and finishes once on restart', async () => {
    const { store, path, cleanup } = tempStore();
    cleanups.push(cleanup);
    const startBlock = (await chain.head()) + 1;
    const rented = (await chain.rentMany(40)).map((r) => ({ id: r.rental.id, block: r.block }));
    await chain.mine(1);
    const proxy = await new RpcProxy(chain.anvil.url).start();
    cleanups.push(() => proxy.stop());
    proxy.delayMs = 10;

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./test/watch-child.ts', import.meta.url)),
        proxy.url,
        chain.address,
        String(chain.deviceId),
        path,
        '1',
        String(startBlock),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    while ((store.getCursor()?.block ?? 0) < startBlock + 10) await sleep(5);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;

    // Every rental up to the persisted cursor is there, none beyond it: no half-applied batch.
    const cursor = store.getCursor()!.block;
    expect(cursor).toBeLessThan(rented.at(-1)!.block);
    const before = rented.filter((r) => r.block <= cursor).map((r) => r.id);
    expect(store.rentalsFromBlock(0).map((r) => r.id)).toEqual(before);

    const watcher = await watcherFor(store, { startBlock, confirmations: 1 });
    const seen = record(watcher);
    await watcher.start();
    expect(seen.rental.map((r) => r.id)).toEqual(rented.filter((r) => r.block > cursor).map((r) => r.id));
    expect(store.rentalsFromBlock(0).map((r) => r.id)).toEqual(rented.map((r) => r.id));
  });

  it('applies nothing from a chunk whose logs below its end are from another fork, and applies them once when the node agrees again', async () => {
    const { store, proxy, watcher, seen } = await startedBehindProxy();
    const { rental, block } = await chain.rent();
    await chain.mine(3); // the chunk ends at block + 1: the rent block is below its end
    const otherFork = `0x${'ab'.repeat(32)}`;
    proxy.rewrite.set('eth_getLogs', (logs) =>
      (logs as { blockHash: string }[]).map((l) => ({ ...l, blockHash: otherFork })),
    );

    await watcher.poll();

    const range = proxy.logRanges().at(-1)!;
    expect(range.from).toBeLessThanOrEqual(block);
    expect(range.to).toBe(block + 1);
    expect(store.getRental(rental.id)).toBeUndefined();
    expect(store.getCursor()?.block ?? 0).toBeLessThan(block);
    expect(seen.rental).toEqual([]);

    proxy.rewrite.clear();
    await watcher.poll();
    await watcher.poll();

    expect(store.getRental(rental.id)).toMatchObject({
      status: 'open',
      blockNumber: block,
      blockHash: (await chain.anvil.provider.getBlock(block))!.hash,
    });
    expect(seen.rental.map((r) => r.id)).toEqual([rental.id]);
  });

  it('does nothing when polled after stop()', async () => {
    const { store, proxy, watcher, seen } = await startedBehindProxy();
    const cursor = store.getCursor();
    await watcher.stop();
    const { rental } = await chain.rent();
    await chain.mine(2);
    const requests = proxy.requests.length;

    await watcher.poll();

    expect(proxy.requests.length).toBe(requests);
    expect(store.getRental(rental.id)).toBeUndefined();
    expect(store.getCursor()).toEqual(cursor);
    expect(seen.rental).toEqual([]);
  });

  it('raises an alarm and stops on a reorg deeper than its window (RELIABILITY 14)', async () => {
    const store = storeForTest();
    const watcher = await watcherFor(store, { confirmations: 1, reorgWindow: 4 });
    const seen = record(watcher);
    await watcher.start();
    for (let i = 0; i < 6; i++) {
      await chain.mine(1);
      await watcher.poll();
    }
    const cursor = store.getCursor()!;
    await chain.rpc('anvil_reorg', [12, []]);
    await watcher.poll();

    expect(seen.alarm).toHaveLength(1);
    expect(watcher.isHalted).toBe(true);
    expect(store.getCursor()).toEqual(cursor);
    await chain.mine(2);
    await watcher.poll();
    expect(store.getCursor()).toEqual(cursor);
    expect(seen.alarm).toHaveLength(1);
  });
});

/** The hash of the first transaction in `block`. */
async function txOf(block: number): Promise<string> {
  const b = await chain.anvil.provider.getBlock(block);
  const hash = b?.transactions[0];
  if (!hash) throw new Error(`block ${block} has no transaction`);
  return hash;
}
