import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { type Chain, record, storeFor, useChain, watcherOptions } from './test/chain.js';
import { deadUrl, RpcProxy } from './test/proxy.js';
import { ChainWatcher, type ChainWatcherOptions } from './watcher.js';

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

function storeForTest(): Store {
  return storeFor(cleanups).store;
}

async function proxy(): Promise<RpcProxy> {
  const p = await new RpcProxy(chain.anvil.url).start();
  cleanups.push(() => p.stop());
  return p;
}

async function watcherFor(store: Store, over: Partial<ChainWatcherOptions>): Promise<ChainWatcher> {
  const watcher = new ChainWatcher({
    ...(await watcherOptions(chain, { confirmations: 1, ...over })),
    store,
  });
  cleanups.push(() => watcher.stop());
  return watcher;
}

/** A rental, confirmed one block deep. */
async function confirmedRental(): Promise<bigint> {
  const { rental } = await chain.rent();
  await chain.mine(1);
  return rental.id;
}

describe('ChainWatcher RPC faults (RELIABILITY 11-13)', () => {
  it('uses the next RPC URL when the first is a closed port', async () => {
    const store = storeForTest();
    const watcher = await watcherFor(store, { rpcUrls: [await deadUrl(), chain.anvil.url] });
    const seen = record(watcher);
    const id = await confirmedRental();
    await watcher.start();
    expect(store.getRental(id)?.status).toBe('open');
    expect(seen.unavailable).toEqual([]);
  });

  it('uses the next RPC URL when the first answers HTTP 429, a rate-limit error, or hangs past the timeout', async () => {
    const limited = await proxy();
    limited.mode = '429';
    const rpcLimited = await proxy();
    rpcLimited.mode = 'rpc-limit';
    const hanging = await proxy();
    hanging.mode = 'hang';
    const store = storeForTest();
    const watcher = await watcherFor(store, {
      rpcUrls: [limited.url, rpcLimited.url, hanging.url, chain.anvil.url],
      rpcTimeoutMs: 1_500, // long enough for anvil under load; the hanging proxy still times out
    });
    const seen = record(watcher);
    const id = await confirmedRental();
    await watcher.start();
    expect(store.getRental(id)?.status).toBe('open');
    for (const p of [limited, rpcLimited, hanging]) expect(p.requests.length).toBeGreaterThan(0);
    expect(seen.unavailable).toEqual([]);
  });

  it('reports unavailable once when every RPC fails, keeps cached rentals, and recovers', async () => {
    const a = await proxy();
    const b = await proxy();
    const store = storeForTest();
    const watcher = await watcherFor(store, { rpcUrls: [a.url, b.url] });
    const seen = record(watcher);
    const cached = await confirmedRental();
    await watcher.start();
    expect(store.getRental(cached)?.status).toBe('open');

    a.mode = '429';
    b.mode = '429';
    const missed = await confirmedRental();
    await watcher.poll();
    await watcher.poll();
    expect(seen.unavailable).toHaveLength(1);
    expect(seen.unavailable[0]?.message).toMatch(/every RPC endpoint failed/);
    expect(store.getRental(cached)?.status).toBe('open');
    expect(store.getRental(missed)).toBeUndefined();

    b.mode = 'pass';
    await watcher.poll();
    expect(seen.available).toBe(1);
    expect(store.getRental(missed)?.status).toBe('open');
  });

  it('never moves the processed height back for a node that lags behind it', async () => {
    const lagging = await proxy();
    const store = storeForTest();
    const watcher = await watcherFor(store, { rpcUrls: [lagging.url] });
    const seen = record(watcher);
    const first = await confirmedRental();
    await watcher.start();
    const processed = store.getCursor()!.block;
    expect(store.getRental(first)?.status).toBe('open');

    lagging.headCap = (real) => real - 10;
    const second = await confirmedRental();
    for (let i = 0; i < 3; i++) {
      await watcher.poll();
      expect(store.getCursor()!.block).toBe(processed);
    }
    expect(store.getRental(first)?.status).toBe('open');
    expect(store.getRental(second)).toBeUndefined();
    expect(seen.revoked).toEqual([]);

    lagging.headCap = undefined;
    await watcher.poll();
    expect(store.getRental(second)?.status).toBe('open');
    const heads = seen.head.map((h) => h.number);
    expect([...heads].sort((x, y) => x - y)).toEqual(heads);
  });

  it('switches away from a node whose head stops advancing while it still answers', async () => {
    const stuck = await proxy();
    const frozenAt = await chain.head();
    stuck.headCap = () => frozenAt;
    const store = storeForTest();
    const watcher = await watcherFor(store, { rpcUrls: [stuck.url, chain.anvil.url], staleHeadMs: 50 });
    await watcher.start();
    const id = await confirmedRental();
    await sleep(60);
    await watcher.poll(); // still on the stuck node: notices the head has not moved, switches
    expect(store.getRental(id)).toBeUndefined();
    await watcher.poll();
    expect(store.getRental(id)?.status).toBe('open');
  });

  it('shrinks the eth_getLogs range when a node refuses a wide one', async () => {
    const strict = await proxy();
    strict.maxLogRange = 3;
    const store = storeForTest();
    const watcher = await watcherFor(store, { rpcUrls: [strict.url], chunkSize: 50 });
    const seen = record(watcher);
    const ids = (await chain.rentMany(10)).map((r) => r.rental.id);
    await chain.mine(1);
    await watcher.start();
    expect(seen.rental.map((r) => r.id)).toEqual(ids);
    const sizes = strict.logRanges().map((r) => r.to - r.from + 1);
    const firstAccepted = sizes.findIndex((n) => n <= 3);
    expect(firstAccepted).toBeGreaterThan(0);
    expect(sizes.slice(firstAccepted).every((n) => n <= 3)).toBe(true);
  });
});
