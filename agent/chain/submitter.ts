// Sends the queued usage receipts to the contract's checkout from the gateway's wallet, one transaction
// at a time, until each rental is settled on chain — by us, by the guest, or by anyone after the grace.
// The transaction hash is stored before broadcasting, so a crash at any point is resolved from the chain.

import { EventEmitter } from 'node:events';
import { keccak_256 } from '@noble/hashes/sha3.js';
import type { Interface, Wallet } from 'ethers';
import { bytesToHex, hexToBytes } from '../../contracts/eip712.js';
import { latchkeyAbi } from '../../contracts/generated/latchkey.js';
import { committedRental, type Rental } from '../../contracts/typedData.js';
import { LatchkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store, StoredReceipt, StoredRental } from '../store/store.js';
import { TOPICS, uintTopic } from './decode.js';
import type { RpcClientProvider } from './provider.js';
import { RpcClient, RpcError } from './rpc.js';

export interface ReceiptSubmitterOptions {
  rpcUrls: string[];
  contract: string;
  /** The gateway's transaction key (it pays the gas of checkout), 0x + 64 hex. */
  privateKey: string;
  store: Store;
  log: Logger;
  rpcTimeoutMs?: number;
  /** Blocks deep a successful checkout must be before its receipt counts as settled; default 1. */
  confirmations?: number;
  /** First retry delay after a failed attempt, doubled per failure up to retryMaxMs; default 5 s / 10 min. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long flush() waits for a sent checkout to be mined before leaving it for the next flush; default 60 s. */
  mineTimeoutMs?: number;
  /** Interval of transaction-receipt polls while waiting; default 1 s. */
  receiptPollMs?: number;
  /**
   * A checkout still waiting in the node's pool this long is replaced: same nonce and call, fees raised
   * by 1/8 (above the 10% nodes require of a replacement) or to the current fee when that is higher;
   * default 3 min.
   */
  replaceAfterMs?: number;
  /** Wall-clock milliseconds for backoffs and timeouts; Date.now by default (tests move it). */
  nowMs?: () => number;
}

export type ReceiptSubmitterEvents = {
  /** The rental is settled on chain; the tx that did it when known (ours or someone else's). */
  settled: [bigint, string | undefined];
  /** An attempt failed; it will be retried after a backoff. */
  failed: [bigint, string];
};

type Outcome = 'done' | 'retry' | 'in-flight' | 'waiting';

interface TxReceipt {
  status: string;
  blockNumber: string;
}

/** The fields of eth_getTransactionByHash a replacement needs (quantities are 0x hex). */
interface PendingTx {
  blockNumber: string | null;
  from: string;
  to: string;
  input: string;
  nonce: string;
  gas: string;
  type?: string;
  gasPrice?: string;
  maxFeePerGas?: string;
  maxPriorityFeePerGas?: string;
}

/** A checkout transaction as signed: what a replacement at the same nonce repeats. */
interface SignedCheckout {
  hash: string;
  to: string;
  data: string;
  nonce: number;
  gasLimit: bigint;
  /** Legacy (type 0) fee, or the EIP-1559 pair. */
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
}

function fromPending(hash: string, tx: PendingTx): SignedCheckout {
  const out: SignedCheckout = {
    hash,
    to: tx.to,
    data: tx.input,
    nonce: Number(tx.nonce),
    gasLimit: BigInt(tx.gas),
  };
  if (tx.maxFeePerGas === undefined) out.gasPrice = BigInt(tx.gasPrice ?? 0);
  else {
    out.maxFeePerGas = BigInt(tx.maxFeePerGas);
    out.maxPriorityFeePerGas = BigInt(tx.maxPriorityFeePerGas ?? 0);
  }
  return out;
}

/** Raises a fee by 1/8, rounding up: more than the 10% a node requires to accept a replacement. */
export function bumped(fee: bigint): bigint {
  return fee + (fee + 7n) / 8n;
}

// ethers (~10 MB resident) is loaded with the first receipt to send, not when the gateway starts.
let iface: Interface | undefined;
async function abi(): Promise<Interface> {
  if (!iface) {
    const { Interface } = await import('ethers');
    iface = new Interface(latchkeyAbi);
  }
  return iface;
}

export class ReceiptSubmitter extends EventEmitter<ReceiptSubmitterEvents> {
  private readonly opts: Required<ReceiptSubmitterOptions>;
  private readonly rpc: RpcClient;
  private readonly log: Logger;
  private readonly address: string;
  private wallet: Wallet | undefined;
  private provider: RpcClientProvider | undefined;
  private readonly failures = new Map<bigint, number>();
  private readonly notBefore = new Map<bigint, number>();
  /** When the current transaction of each rental was sent (or first seen pending after a restart). */
  private readonly pendingSince = new Map<bigint, number>();
  /**
   * The last checkout signed for each rental (its hash is the one recorded). In memory: after a restart
   * the recorded hash is still looked up first, and only this tells the nonce of a hash the node lost.
   */
  private readonly lastSigned = new Map<bigint, SignedCheckout>();
  private flushing: Promise<void> | undefined;
  /** flush() was called during a pass: run another one when it ends. */
  private again = false;
  private stopping = false;

  constructor(opts: ReceiptSubmitterOptions) {
    super();
    if (!/^0x[0-9a-fA-F]{40}$/.test(opts.contract))
      throw new LatchkeyError(
        'CONFIG_INVALID',
        `receipt submitter: contract is not an address: ${opts.contract}`,
      );
    if (!/^0x[0-9a-fA-F]{64}$/.test(opts.privateKey))
      throw new LatchkeyError(
        'CONFIG_INVALID',
        'receipt submitter: the gateway key must be 0x + 64 hex digits',
      );
    this.opts = {
      rpcTimeoutMs: 10_000,
      confirmations: 1,
      retryBaseMs: 5_000,
      retryMaxMs: 600_000,
      mineTimeoutMs: 60_000,
      receiptPollMs: 1_000,
      replaceAfterMs: 180_000,
      nowMs: Date.now,
      ...opts,
    };
    this.log = opts.log.child('receipts');
    this.rpc = new RpcClient({ urls: opts.rpcUrls, timeoutMs: this.opts.rpcTimeoutMs, log: this.log });
    this.address = opts.contract.toLowerCase();
  }

  /** Sends what a previous run left queued (in the background); later sends come from flush(). */
  start(): void {
    this.stopping = false;
    void this.flush();
  }

  /** Waits for an attempt in progress; a sent transaction stays recorded and is followed up on restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.flushing;
    this.provider?.destroy();
    this.provider = undefined;
    this.wallet = undefined;
  }

  /**
   * One pass over the queue. A call while a pass runs asks for one more pass after it (the running pass
   * read the queue before the caller's receipt was added) and resolves when that is done. Never throws:
   * failures are logged and retried later.
   */
  flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = this.flushUntilCaughtUp().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushUntilCaughtUp(): Promise<void> {
    do {
      this.again = false;
      await this.flushOnce();
    } while (this.again && !this.stopping);
  }

  private async flushOnce(): Promise<void> {
    let queue: StoredReceipt[];
    try {
      queue = this.opts.store.pendingReceipts();
    } catch (e) {
      this.log.error('cannot read the receipt queue', { error: e });
      return;
    }
    for (const r of queue) {
      if (this.stopping) return;
      if (this.opts.nowMs() < (this.notBefore.get(r.rentalId) ?? 0)) continue;
      let outcome: Outcome;
      try {
        outcome = await this.settle(r);
      } catch (e) {
        if (e instanceof LatchkeyError && e.code === 'CHAIN_UNAVAILABLE') {
          this.log.warn('chain unavailable; receipts stay queued', { error: e.message });
          return;
        }
        outcome = this.retry(r, describe(e));
      }
      if (outcome === 'done' || outcome === 'waiting') this.failures.delete(r.rentalId);
      // One transaction at a time: a checkout still in the mempool holds the queue.
      if (outcome === 'in-flight') return;
    }
  }

  private async settle(r: StoredReceipt): Promise<Outcome> {
    const rental = this.opts.store.getRental(r.rentalId);
    if (!rental) return this.retry(r, 'rental is not in the store (not confirmed yet?)', false);
    if (rental.status === 'settled' || rental.status === 'cancelled') return this.done(r, undefined);
    if (rental.status === 'revoked') return this.retry(r, 'rental was revoked by a reorg', false);

    if (r.txHash) {
      const mined = await this.rpc.call<TxReceipt | null>('eth_getTransactionReceipt', [r.txHash]);
      if (mined) {
        if (mined.status === '0x1') return this.minedOk(r, r.txHash, mined);
        // Reverted: most likely settled by someone else first; the checks below tell.
      } else {
        const pending = await this.rpc.call<PendingTx | null>('eth_getTransactionByHash', [r.txHash]);
        // The hash recorded may be another sender's settling transaction (see done()) that a reorg
        // put back in the pool: only our own is waited for or replaced.
        if (pending && (await this.ours(pending))) {
          if (!this.stuck(r)) return 'in-flight';
          return this.replace(r, fromPending(r.txHash, pending), 'checkout pending too long');
        }
      }
      // Unknown to the node: never broadcast (a crash right after recording it, a broadcast lost on
      // the network) or dropped.
    }

    const struct = committedRental(rental);
    if (!(await this.isOpen(struct))) {
      const closedBy = await this.closingTx(rental);
      if (closedBy !== undefined) return this.done(r, closedBy);
      return this.retry(r, 'rental is not open on chain as stored; waiting for the watcher', false);
    }
    const last = this.lastSigned.get(r.rentalId);
    if (last && last.hash === r.txHash && (await this.nonceUnused(last.nonce))) {
      // An earlier transaction of ours may still hold that nonce in the pool (the one a lost replacement
      // was to replace): a send at a fresh nonce would queue behind it and never be mined first, so the
      // same checkout is signed again at the same nonce, with fees that replace whatever holds it.
      const data = (await abi()).encodeFunctionData('checkout', [struct, r.receipt, r.signature]);
      return this.replace(r, { ...last, data }, 'checkout unknown to the node');
    }
    return this.send(r, struct);
  }

  private async ours(tx: PendingTx): Promise<boolean> {
    const wallet = await this.connect();
    return typeof tx.from === 'string' && tx.from.toLowerCase() === wallet.address.toLowerCase();
  }

  /** Whether no transaction of the gateway's with this nonce is mined yet. */
  private async nonceUnused(nonce: number): Promise<boolean> {
    const wallet = await this.connect();
    const count = await this.rpc.call<string>('eth_getTransactionCount', [wallet.address, 'latest']);
    return Number(count) <= nonce;
  }

  private async send(r: StoredReceipt, rental: Rental): Promise<Outcome> {
    const wallet = await this.connect();
    const data = (await abi()).encodeFunctionData('checkout', [rental, r.receipt, r.signature]);
    const attempts = r.attempts + 1;
    let signed: string;
    try {
      // Estimation runs the call: a bad signature or a settled rental reverts here, before any gas is spent.
      const tx = await wallet.populateTransaction({ to: this.address, data });
      signed = await wallet.signTransaction(tx);
    } catch (e) {
      this.opts.store.updateReceipt(r.rentalId, { attempts });
      return this.retry(r, describe(e));
    }
    const txHash = bytesToHex(keccak_256(hexToBytes(signed)));
    // Recorded before it leaves: after a crash the hash tells whether it was sent.
    this.opts.store.updateReceipt(r.rentalId, { status: 'submitted', txHash, attempts });
    this.lastSigned.set(r.rentalId, await signedCheckout(signed, txHash));
    this.log.info('sending checkout', { rentalId: r.rentalId, txHash, attempt: attempts });
    try {
      await this.rpc.call('eth_sendRawTransaction', [signed]);
    } catch (e) {
      if (!(e instanceof RpcError && /already known|known transaction/i.test(e.message))) {
        return this.retry({ ...r, txHash }, describe(e));
      }
    }
    this.pendingSince.set(r.rentalId, this.opts.nowMs());
    return this.waitMined({ ...r, txHash, attempts, status: 'submitted' }, txHash);
  }

  /** Whether the rental's transaction has waited in the pool longer than replaceAfterMs. */
  private stuck(r: StoredReceipt): boolean {
    const since = this.pendingSince.get(r.rentalId);
    if (since === undefined) {
      this.pendingSince.set(r.rentalId, this.opts.nowMs()); // after a restart: counted from now
      return false;
    }
    return this.opts.nowMs() - since >= this.opts.replaceAfterMs;
  }

  /**
   * Sends the same checkout again with the same nonce and higher fees. Whichever of the two is mined,
   * the other is dropped; if the old one wins, the new hash is unknown to the node and settle() finds
   * the settling transaction in the logs.
   */
  private async replace(r: StoredReceipt, old: SignedCheckout, why: string): Promise<Outcome> {
    const wallet = await this.connect();
    const fees = await wallet.provider?.getFeeData();
    const higher = (was: bigint | undefined, now: bigint | null | undefined) => {
      const raised = bumped(was ?? 0n);
      return now != null && now > raised ? now : raised;
    };
    const legacy = old.maxFeePerGas === undefined;
    const feeFields = legacy
      ? { type: 0, gasPrice: higher(old.gasPrice, fees?.gasPrice) }
      : {
          type: 2,
          maxFeePerGas: higher(old.maxFeePerGas, fees?.maxFeePerGas),
          maxPriorityFeePerGas: higher(old.maxPriorityFeePerGas, fees?.maxPriorityFeePerGas),
        };
    const attempts = r.attempts + 1;
    let signed: string;
    try {
      const tx = await wallet.populateTransaction({
        to: old.to,
        data: old.data,
        nonce: old.nonce,
        gasLimit: old.gasLimit,
        ...feeFields,
      });
      signed = await wallet.signTransaction(tx);
    } catch (e) {
      return this.retry(r, `could not replace the pending checkout: ${describe(e)}`);
    }
    const txHash = bytesToHex(keccak_256(hexToBytes(signed)));
    this.opts.store.updateReceipt(r.rentalId, { txHash, attempts });
    this.lastSigned.set(r.rentalId, await signedCheckout(signed, txHash));
    this.log.warn(`${why}; sending it again at the same nonce with higher fees`, {
      rentalId: r.rentalId,
      replaced: r.txHash ?? null,
      txHash,
      nonce: old.nonce,
      ...('gasPrice' in feeFields
        ? { gasPrice: feeFields.gasPrice }
        : { maxFeePerGas: feeFields.maxFeePerGas, maxPriorityFeePerGas: feeFields.maxPriorityFeePerGas }),
    });
    try {
      await this.rpc.call('eth_sendRawTransaction', [signed]);
    } catch (e) {
      if (e instanceof RpcError && !/already known|known transaction/i.test(e.message)) {
        // The node refused it: the old transaction is still the one in the pool.
        if (r.txHash) this.opts.store.updateReceipt(r.rentalId, { txHash: r.txHash });
        this.lastSigned.set(r.rentalId, old);
        return this.retry(r, `replacement refused: ${describe(e)}`);
      }
      // No answer (or "already known"): the node may hold it, so the new hash stays recorded; if it
      // does not, settle() signs it again at the same nonce (lastSigned).
      if (!(e instanceof RpcError)) throw e;
    }
    this.pendingSince.set(r.rentalId, this.opts.nowMs());
    return this.waitMined({ ...r, txHash, attempts }, txHash);
  }

  private async waitMined(r: StoredReceipt, txHash: string): Promise<Outcome> {
    const deadline = this.opts.nowMs() + this.opts.mineTimeoutMs;
    for (;;) {
      const mined = await this.rpc.call<TxReceipt | null>('eth_getTransactionReceipt', [txHash]);
      if (mined) {
        if (mined.status === '0x1') return this.minedOk(r, txHash, mined);
        return this.retry(r, 'checkout reverted');
      }
      if (this.stopping || this.opts.nowMs() >= deadline) return 'in-flight';
      await new Promise((resolve) => setTimeout(resolve, this.opts.receiptPollMs));
    }
  }

  private async minedOk(r: StoredReceipt, txHash: string, mined: TxReceipt): Promise<Outcome> {
    const head = Number(await this.rpc.call<string>('eth_blockNumber', []));
    if (head - Number(mined.blockNumber) + 1 < this.opts.confirmations) return 'waiting';
    return this.done(r, txHash);
  }

  private done(r: StoredReceipt, txHash: string | undefined): Outcome {
    this.opts.store.updateReceipt(r.rentalId, txHash ? { status: 'settled', txHash } : { status: 'settled' });
    this.failures.delete(r.rentalId);
    this.notBefore.delete(r.rentalId);
    this.pendingSince.delete(r.rentalId);
    this.lastSigned.delete(r.rentalId);
    this.log.info('receipt settled', {
      rentalId: r.rentalId,
      txHash: txHash ?? null,
      ours: txHash === r.txHash,
    });
    this.emit('settled', r.rentalId, txHash);
    return 'done';
  }

  /** Records why this attempt did not settle and when to try again. */
  private retry(r: StoredReceipt, reason: string, warn = true): Outcome {
    const failures = (this.failures.get(r.rentalId) ?? 0) + 1;
    this.failures.set(r.rentalId, failures);
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** Math.min(failures - 1, 30));
    this.notBefore.set(r.rentalId, this.opts.nowMs() + delay);
    this.opts.store.updateReceipt(r.rentalId, { lastError: reason });
    if (warn)
      this.log.warn('checkout not settled; will retry', { rentalId: r.rentalId, reason, retryInMs: delay });
    this.emit('failed', r.rentalId, reason);
    return 'retry';
  }

  private async isOpen(rental: Rental): Promise<boolean> {
    const contract = await abi();
    const data = contract.encodeFunctionData('isOpen', [rental]);
    const result = await this.rpc.call<string>('eth_call', [{ to: this.address, data }, 'latest']);
    return contract.decodeFunctionResult('isOpen', result)[0] === true;
  }

  /** The transaction that settled or cancelled the rental, if its log is on chain. */
  private async closingTx(rental: StoredRental): Promise<string | undefined> {
    const logs = await this.rpc.call<{ transactionHash: string }[]>('eth_getLogs', [
      {
        address: this.address,
        topics: [[TOPICS.Settled, TOPICS.Cancelled], uintTopic(rental.id)],
        fromBlock: `0x${rental.blockNumber.toString(16)}`,
        toBlock: 'latest',
      },
    ]);
    return logs[0]?.transactionHash.toLowerCase();
  }

  private async connect(): Promise<Wallet> {
    if (this.wallet) return this.wallet;
    const chainId = BigInt(await this.rpc.call<string>('eth_chainId', []));
    const [{ RpcClientProvider }, { Wallet }] = await Promise.all([
      import('./provider.js'),
      import('ethers'),
    ]);
    this.provider = new RpcClientProvider(this.rpc, chainId);
    this.wallet = new Wallet(this.opts.privateKey, this.provider);
    return this.wallet;
  }
}

/** The fields of a signed checkout a later replacement repeats. */
async function signedCheckout(signed: string, hash: string): Promise<SignedCheckout> {
  const { Transaction } = await import('ethers');
  const tx = Transaction.from(signed);
  const out: SignedCheckout = {
    hash,
    to: tx.to ?? '',
    data: tx.data,
    nonce: tx.nonce,
    gasLimit: tx.gasLimit,
  };
  if (tx.type === 2) {
    out.maxFeePerGas = tx.maxFeePerGas ?? 0n;
    out.maxPriorityFeePerGas = tx.maxPriorityFeePerGas ?? 0n;
  } else out.gasPrice = tx.gasPrice ?? 0n;
  return out;
}

/** A short reason: the contract's custom error when the revert data has one. */
function describe(e: unknown): string {
  const err = e as { data?: unknown; shortMessage?: unknown; message?: unknown };
  if (typeof err?.data === 'string' && err.data.startsWith('0x') && err.data.length >= 10) {
    const parsed = iface?.parseError(err.data);
    if (parsed) return `reverted: ${parsed.name}(${parsed.args.join(', ')})`;
  }
  if (e instanceof RpcError && typeof e.data === 'string' && e.data.startsWith('0x')) {
    const parsed = iface?.parseError(e.data);
    if (parsed) return `reverted: ${parsed.name}`;
  }
  if (typeof err?.shortMessage === 'string') return err.shortMessage;
  return e instanceof Error ? e.message : String(e);
}
