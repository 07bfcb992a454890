import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { domainSeparator, hexToBytes } from '../../contracts/eip712.js';
import { findLatchkeyEvent } from '../../contracts/events.js';
import type { Rental } from '../../contracts/typedData.js';
import { domain } from '../../contracts/typedData.js';
import { ReceiptSigner } from '../devices/receipts.js';
import { silentLogger } from '../log.js';
import type { Store } from '../store/store.js';
import { TOPICS, uintTopic } from './decode.js';
import { bumped, ReceiptSubmitter, type ReceiptSubmitterOptions } from './submitter.js';
import { type Chain, PRICE_PER_SECOND, storeFor, useChain, watcherOptions } from './test/chain.js';
import { RpcProxy } from './test/proxy.js';
import { ChainWatcher } from './watcher.js';

let chain: Chain;
let signer: ReceiptSigner;
const cleanups = useChain((c) => {
  chain = c;
  signer = new ReceiptSigner(hexToBytes(c.deviceKey), domainSeparator(domain(c.anvil.chainId, c.address)));
});

function storeForTest(): { store: Store; path: string } {
  return storeFor(cleanups);
}

/**
 * Runs a submitter in a child process on the store at `path`, through an RPC proxy that never answers
 * `hang`, and SIGKILLs it as soon as it makes that call.
 */
async function killSubmitterAt(hang: string, path: string): Promise<void> {
  const proxy = await new RpcProxy(chain.anvil.url).start();
  cleanups.push(() => proxy.stop());
  proxy.hangMethods.add(hang);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./test/submit-child.ts', import.meta.url)),
      proxy.url,
      chain.address,
      chain.gateway.privateKey,
      path,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  while (!proxy.requests.some((r) => r.method === hang)) await sleep(20);
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

function submitterFor(store: Store, over: Partial<ReceiptSubmitterOptions> = {}): ReceiptSubmitter {
  const submitter = new ReceiptSubmitter({
    rpcUrls: [chain.anvil.url],
    contract: chain.address,
    privateKey: chain.gateway.privateKey,
    store,
    log: silentLogger,
    receiptPollMs: 20,
    ...over,
  });
  cleanups.push(() => submitter.stop());
  return submitter;
}

/** Rents, caches the rental as the watcher would, and queues a receipt for `secondsUsed`. */
async function rentedWithReceipt(store: Store, secondsUsed: bigint, sign = signer): Promise<Rental> {
  const { rental, block } = await chain.rent();
  const header = await chain.anvil.provider.getBlock(block);
  store.putRental({
    ...rental,
    deviceId: chain.deviceId,
    status: 'open',
    blockNumber: block,
    blockHash: header!.hash!,
  });
  const receipt = { rentalId: rental.id, secondsUsed, energyWh: 0n };
  store.putReceipt({
    rentalId: rental.id,
    deviceId: chain.deviceId,
    receipt,
    signature: sign.sign(receipt),
    status: 'pending',
    attempts: 0,
    createdAt: Math.floor(Date.now() / 1000),
  });
  return rental;
}

function gatewayNonce(tag: 'latest' | 'pending' = 'latest'): Promise<number> {
  return chain.anvil.provider.getTransactionCount(chain.gateway.address, tag);
}

/** The Settled logs of a rental on the current chain. */
function settledLogs(rentalId: bigint): Promise<{ transactionHash: string }[]> {
  return chain.rpc('eth_getLogs', [
    {
      address: chain.address,
      topics: [TOPICS.Settled, uintTopic(rentalId)],
      fromBlock: '0x0',
      toBlock: 'latest',
    },
  ]);
}

describe('ReceiptSubmitter', () => {
  it('settles a receipt on chain: the host is credited the metered charge, the guest refunded the rest', async () => {
    const { store } = storeForTest();
    const rental = await rentedWithReceipt(store, 100n);
    const guestBefore = await chain.anvil.provider.getBalance(chain.guest.address);
    const creditBefore = await chain.asHost.credit(chain.host.address);
    const submitter = submitterFor(store);
    const settled: [bigint, string | undefined][] = [];
    submitter.on('settled', (id, tx) => settled.push([id, tx]));

    await submitter.flush();

    const stored = store.getReceipt(rental.id)!;
    expect(stored).toMatchObject({ status: 'settled', attempts: 1 });
    expect(settled).toEqual([[rental.id, stored.txHash]]);
    const charge = 100n * PRICE_PER_SECOND;
    expect((await chain.asHost.credit(chain.host.address)) - creditBefore).toBe(charge);
    expect((await chain.anvil.provider.getBalance(chain.guest.address)) - guestBefore).toBe(
      rental.deposit - charge,
    );
    expect(await chain.asHost.isOpen(rental)).toBe(false);
    const tx = await chain.anvil.provider.getTransactionReceipt(stored.txHash!);
    expect(tx?.from).toBe(chain.gateway.address);
    expect(findLatchkeyEvent(tx!, 'Settled')?.args).toMatchObject({
      rentalId: rental.id,
      charge,
      byReceipt: true,
    });
  });

  it('does not send a receipt again once its checkout went through', async () => {
    const { store } = storeForTest();
    const rental = await rentedWithReceipt(store, 5n);
    const submitter = submitterFor(store);
    await submitter.flush();
    const first = store.getReceipt(rental.id)!;
    expect(first.status).toBe('settled');

    // As if a crash had lost everything after the send: back to 'pending', hash forgotten.
    const other = storeForTest().store;
    other.putRental(store.getRental(rental.id)!);
    const { txHash: _, ...unsent } = first;
    other.putReceipt({ ...unsent, status: 'pending', attempts: 0 });
    const nonce = await gatewayNonce();
    await submitterFor(other).flush();
    await submitter.flush();

    expect(await gatewayNonce()).toBe(nonce);
    expect(other.getReceipt(rental.id)).toMatchObject({
      status: 'settled',
      txHash: first.txHash,
      attempts: 0,
    });
    expect(store.getReceipt(rental.id)).toMatchObject({ status: 'settled', attempts: 1 });
  });

  it('marks a receipt settled without a transaction when the guest settled by time first', async () => {
    const { store } = storeForTest();
    const rental = await rentedWithReceipt(store, 30n);
    const gap = Number(rental.start) - (await chain.anvil.provider.getBlock('latest'))!.timestamp;
    if (gap > 0) await chain.rpc('evm_increaseTime', [gap]);
    const byTime = await (await chain.asGuest.checkoutByTime(rental)).wait();
    const nonce = await gatewayNonce();
    const submitter = submitterFor(store);
    const failed: string[] = [];
    submitter.on('failed', (_id, reason) => failed.push(reason));

    await submitter.flush();

    expect(store.getReceipt(rental.id)).toMatchObject({
      status: 'settled',
      attempts: 0,
      txHash: byTime!.hash,
    });
    expect(await gatewayNonce()).toBe(nonce);
    expect(failed).toEqual([]);
  });

  it('sends a receipt queued while a pass is running in the same flush, not at the next sweep', async () => {
    const { store } = storeForTest();
    const slow = await new RpcProxy(chain.anvil.url).start();
    cleanups.push(() => slow.stop());
    slow.delayMs = 50;
    const first = await rentedWithReceipt(store, 10n);
    const submitter = submitterFor(store, { rpcUrls: [slow.url] });
    let firstPassDone = false;
    const running = submitter.flush().then(() => {
      firstPassDone = true;
    });
    while (slow.requests.length === 0) await sleep(5);

    // The running pass has read the queue already; this receipt arrives after it.
    const second = await rentedWithReceipt(store, 20n);
    expect(firstPassDone).toBe(false);
    const joined = submitter.flush();
    await running;
    await joined;

    expect(store.getReceipt(first.id)?.status).toBe('settled');
    expect(store.getReceipt(second.id)?.status).toBe('settled');
    expect(await chain.asHost.isOpen(second)).toBe(false);
  });

  it('replaces a checkout left pending too long with the same nonce and higher fees; the replacement settles it once', async () => {
    const { store } = storeForTest();
    const rental = await rentedWithReceipt(store, 40n);
    const nonce = await gatewayNonce();
    // A node that stops mining: the checkout waits in its pool.
    await chain.rpc('evm_setAutomine', [false]);
    cleanups.push(() => chain.rpc('evm_setAutomine', [true]));
    let later = 0; // the test moves the submitter's clock instead of waiting
    const submitter = submitterFor(store, { mineTimeoutMs: 50, nowMs: () => Date.now() + later });

    await submitter.flush();
    const first = store.getReceipt(rental.id)!;
    expect(first).toMatchObject({ status: 'submitted', attempts: 1 });
    const firstTx = await chain.anvil.provider.getTransaction(first.txHash!);
    expect(firstTx?.blockNumber).toBeNull();
    later += 179_000;
    await submitter.flush(); // not stuck yet (the default is 3 min): left alone
    expect(store.getReceipt(rental.id)?.txHash).toBe(first.txHash);
    later += 2_000;
    await submitter.flush();

    const second = store.getReceipt(rental.id)!;
    expect(second).toMatchObject({ status: 'submitted', attempts: 2 });
    expect(second.txHash).not.toBe(first.txHash);
    const [was, now] = await Promise.all([
      chain.anvil.provider.getTransaction(first.txHash!),
      chain.anvil.provider.getTransaction(second.txHash!),
    ]);
    expect(was).toBeNull(); // the node dropped it for its replacement
    expect(now?.nonce).toBe(nonce);
    expect(now?.blockNumber).toBeNull();
    expect(now?.data).toBe(firstTx?.data);
    expect(now!.maxFeePerGas!).toBeGreaterThanOrEqual(bumped(firstTx!.maxFeePerGas!));
    expect(now!.maxPriorityFeePerGas!).toBeGreaterThanOrEqual(bumped(firstTx!.maxPriorityFeePerGas!));

    await chain.rpc('evm_setAutomine', [true]);
    await chain.mine(1);
    await submitter.flush();

    expect(store.getReceipt(rental.id)).toMatchObject({ status: 'settled', txHash: second.txHash });
    expect(await gatewayNonce()).toBe(nonce + 1);
    expect(await chain.asHost.isOpen(rental)).toBe(false);
  });

  it('signs a replacement whose broadcast was lost on the network again at the same nonce, not at the next one', async () => {
    const { store } = storeForTest();
    const rental = await rentedWithReceipt(store, 45n);
    const nonce = await gatewayNonce();
    await chain.rpc('evm_setAutomine', [false]);
    cleanups.push(() => chain.rpc('evm_setAutomine', [true]));
    const proxy = await new RpcProxy(chain.anvil.url).start();
    cleanups.push(() => proxy.stop());
    let later = 0;
    const submitter = submitterFor(store, {
      rpcUrls: [proxy.url],
      rpcTimeoutMs: 1_500, // ends the hung broadcast; long enough for anvil's answers under load
      mineTimeoutMs: 50,
      nowMs: () => Date.now() + later,
    });

    await submitter.flush();
    const first = store.getReceipt(rental.id)!;
    expect(first.status).toBe('submitted');
    later += 181_000;
    // The replacement is recorded, then its broadcast never reaches the node.
    proxy.hangMethods.add('eth_sendRawTransaction');
    await submitter.flush();
    const lost = store.getReceipt(rental.id)!;
    expect(lost.txHash).not.toBe(first.txHash);
    expect(await chain.anvil.provider.getTransaction(lost.txHash!)).toBeNull();
    expect((await chain.anvil.provider.getTransaction(first.txHash!))?.blockNumber).toBeNull();

    proxy.hangMethods.clear();
    await submitter.flush();
    const again = store.getReceipt(rental.id)!;
    const resent = await chain.anvil.provider.getTransaction(again.txHash!);
    expect(resent?.nonce).toBe(nonce);
    expect(await gatewayNonce('pending')).toBe(nonce + 1); // it replaced the first: nothing at nonce + 1

    await chain.rpc('evm_setAutomine', [true]);
    await chain.mine(1);
    await submitter.flush();

    expect(store.getReceipt(rental.id)).toMatchObject({ status: 'settled', txHash: again.txHash });
    expect(await gatewayNonce()).toBe(nonce + 1);
    expect(await gatewayNonce('pending')).toBe(nonce + 1);
    expect((await settledLogs(rental.id)).map((l) => l.transactionHash)).toEqual([again.txHash]);
  });

  it('sends a receipt again when a reorg removes the Settled log of its checkout after the watcher applied it', async () => {
    const { store } = storeForTest();
    const watcher = new ChainWatcher({ ...(await watcherOptions(chain, { confirmations: 1 })), store });
    cleanups.push(() => watcher.stop());
    await watcher.start();
    const { rental } = await chain.rent();
    await chain.mine(1);
    await watcher.poll();
    expect(store.getRental(rental.id)?.status).toBe('open');
    const receipt = { rentalId: rental.id, secondsUsed: 50n, energyWh: 0n };
    store.putReceipt({
      rentalId: rental.id,
      deviceId: chain.deviceId,
      receipt,
      signature: signer.sign(receipt),
      status: 'pending',
      attempts: 0,
      createdAt: Math.floor(Date.now() / 1000),
    });
    const submitter = submitterFor(store);

    // The submitter marks it settled as soon as its checkout is mined; the watcher applies the log after.
    await submitter.flush();
    const first = store.getReceipt(rental.id)!;
    expect(first.status).toBe('settled');
    const checkoutBlock = (await chain.anvil.provider.getTransactionReceipt(first.txHash!))!.blockNumber;
    await chain.mine(1);
    await watcher.poll();
    expect(store.getRental(rental.id)?.status).toBe('settled');

    await chain.rpc('anvil_reorg', [(await chain.head()) - checkoutBlock + 1, []]);
    expect(await settledLogs(rental.id)).toEqual([]);
    await watcher.poll();

    expect(store.getRental(rental.id)?.status).toBe('open');
    expect(store.pendingReceipts().map((r) => r.rentalId)).toContain(rental.id);
    await submitter.flush();
    await chain.mine(1);
    await watcher.poll();

    const final = store.getReceipt(rental.id)!;
    expect(final.status).toBe('settled');
    expect(store.getRental(rental.id)?.status).toBe('settled');
    expect(await chain.asHost.isOpen(rental)).toBe(false);
    expect((await settledLogs(rental.id)).map((l) => l.transactionHash)).toEqual([final.txHash]);
  });

  it('raises a fee by an eighth, rounding up, so a node accepts the replacement', () => {
    expect(bumped(8n)).toBe(9n);
    expect(bumped(1n)).toBe(2n);
    expect(bumped(1_000_000_000n)).toBe(1_125_000_000n);
    expect(bumped(1_000_000_001n) * 10n).toBeGreaterThan(1_000_000_001n * 11n);
  });

  it('keeps a receipt the contract rejects queued with the reason, sends nothing and backs off', async () => {
    const { store } = storeForTest();
    const wrongKey = new ReceiptSigner(
      hexToBytes(Wallet.createRandom().privateKey),
      domainSeparator(domain(chain.anvil.chainId, chain.address)),
    );
    const rental = await rentedWithReceipt(store, 10n, wrongKey);
    const nonce = await gatewayNonce();
    const submitter = submitterFor(store, { retryBaseMs: 3_600_000 });

    await submitter.flush();
    await submitter.flush();

    expect(store.getReceipt(rental.id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(store.getReceipt(rental.id)?.lastError).toMatch(/InvalidReceiptSignature/);
    expect(await gatewayNonce()).toBe(nonce);
    expect(await chain.asHost.isOpen(rental)).toBe(true);
  });

  it('finishes a checkout after kill -9 between recording the signed transaction and sending it (RELIABILITY 25)', async () => {
    const { store, path } = storeForTest();
    const rental = await rentedWithReceipt(store, 60n);
    const nonce = await gatewayNonce();
    await killSubmitterAt('eth_sendRawTransaction', path);

    const recorded = store.getReceipt(rental.id)!;
    expect(recorded.status).toBe('submitted');
    expect(recorded.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await chain.anvil.provider.getTransaction(recorded.txHash!)).toBeNull();

    await submitterFor(store).flush();

    const after = store.getReceipt(rental.id)!;
    expect(after.status).toBe('settled');
    expect(after.attempts).toBe(2);
    expect(await gatewayNonce()).toBe(nonce + 1);
    expect(await chain.asHost.isOpen(rental)).toBe(false);
  });

  it('finishes after kill -9 once the checkout was sent but before it was marked settled', async () => {
    const { store, path } = storeForTest();
    const rental = await rentedWithReceipt(store, 60n);
    const nonce = await gatewayNonce();
    await killSubmitterAt('eth_getTransactionReceipt', path);
    expect(store.getReceipt(rental.id)?.status).toBe('submitted');
    expect(await gatewayNonce()).toBe(nonce + 1);

    await submitterFor(store).flush();

    expect(store.getReceipt(rental.id)).toMatchObject({ status: 'settled', attempts: 1 });
    expect(await gatewayNonce()).toBe(nonce + 1);
  });
});
