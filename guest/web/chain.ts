// Reading the chain from the page: JSON-RPC over the gateway's public RPC URL (from /api/info) or
// through the wallet, the Latchkey ABI from contracts/generated, and the guest's rentals rebuilt from
// the contract's logs (so a guest who comes back later sees them without any local storage).

import { Interface, type Log, type LogDescription } from 'ethers';
import { latchkeyAbi } from '../../contracts/generated/latchkey.js';
import type { Rental } from '../../contracts/typedData.js';

export const latchkey = new Interface(latchkeyAbi);

export type RpcRequest = (method: string, params: readonly unknown[]) => Promise<unknown>;

/** JSON-RPC over HTTP to `url`. */
export function httpRpc(url: string): RpcRequest {
  let id = 0;
  return async (method, params) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string; data?: unknown } };
    if (body.error) throw Object.assign(new Error(body.error.message), { data: body.error.data });
    return body.result;
  };
}

interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  transactionHash: string;
  logIndex: string;
}

export interface ChainLog {
  event: LogDescription;
  blockNumber: number;
  txHash: string;
}

export interface TxReceipt {
  status: number;
  blockNumber: number;
  gasUsed: bigint;
  effectiveGasPrice: bigint;
  logs: ChainLog[];
}

const hex = (n: bigint | number) => `0x${BigInt(n).toString(16)}`;
const topic32 = (n: bigint) => `0x${n.toString(16).padStart(64, '0')}`;
const addressTopic = (a: string) => `0x${a.slice(2).toLowerCase().padStart(64, '0')}`;

export class Chain {
  constructor(
    readonly request: RpcRequest,
    readonly contract: string,
  ) {}

  /** A view call, at the latest block or at block `at` (so that it sees the time `head()` told). */
  async call(
    fn: string,
    args: readonly unknown[],
    at?: number,
  ): Promise<ReturnType<Interface['decodeFunctionResult']>> {
    const data = latchkey.encodeFunctionData(fn, args);
    const block = at === undefined ? 'latest' : `0x${at.toString(16)}`;
    const out = (await this.request('eth_call', [{ to: this.contract, data }, block])) as string;
    return latchkey.decodeFunctionResult(fn, out);
  }

  async blockNumber(): Promise<number> {
    return Number(BigInt((await this.request('eth_blockNumber', [])) as string));
  }

  /** The latest block: its number and timestamp, the chain's "now" that decides whether a rental has started. */
  async head(): Promise<{ number: number; timestamp: bigint }> {
    const block = (await this.request('eth_getBlockByNumber', ['latest', false])) as {
      number: string;
      timestamp: string;
    };
    return { number: Number(BigInt(block.number)), timestamp: BigInt(block.timestamp) };
  }

  async now(): Promise<bigint> {
    return (await this.head()).timestamp;
  }

  async balance(address: string): Promise<bigint> {
    return BigInt((await this.request('eth_getBalance', [address, 'latest'])) as string);
  }

  async gasPrice(): Promise<bigint> {
    return BigInt((await this.request('eth_gasPrice', [])) as string);
  }

  async estimateGas(tx: { from: string; to: string; data: string; value?: bigint }): Promise<bigint> {
    const value = tx.value !== undefined ? { value: hex(tx.value) } : {};
    return BigInt(
      (await this.request('eth_estimateGas', [
        { from: tx.from, to: tx.to, data: tx.data, ...value },
      ])) as string,
    );
  }

  private parse(raw: RawLog): ChainLog | undefined {
    if (raw.address.toLowerCase() !== this.contract.toLowerCase()) return undefined;
    let event: LogDescription | null = null;
    try {
      event = latchkey.parseLog({ topics: raw.topics, data: raw.data });
    } catch {
      return undefined;
    }
    if (!event) return undefined;
    return { event, blockNumber: Number(BigInt(raw.blockNumber)), txHash: raw.transactionHash };
  }

  /** The receipt of a mined transaction, or undefined while it is pending. */
  async receipt(hash: string): Promise<TxReceipt | undefined> {
    const r = (await this.request('eth_getTransactionReceipt', [hash])) as {
      status: string;
      blockNumber: string;
      gasUsed: string;
      effectiveGasPrice: string;
      logs: RawLog[];
    } | null;
    if (!r) return undefined;
    return {
      status: Number(BigInt(r.status)),
      blockNumber: Number(BigInt(r.blockNumber)),
      gasUsed: BigInt(r.gasUsed),
      effectiveGasPrice: BigInt(r.effectiveGasPrice),
      logs: r.logs.flatMap((l) => this.parse(l) ?? []),
    };
  }

  async logs(topics: (string | null)[], fromBlock = 0): Promise<ChainLog[]> {
    const raw = (await this.request('eth_getLogs', [
      { address: this.contract, topics, fromBlock: hex(fromBlock), toBlock: 'latest' },
    ])) as RawLog[];
    return raw.flatMap((l) => this.parse(l) ?? []);
  }
}

const topicOf = (name: string): string => {
  const e = latchkey.getEvent(name);
  if (!e) throw new Error(`the Latchkey ABI has no event ${name}`);
  return e.topicHash;
};

/** One of the guest's rentals of a device, as its logs tell it. */
export interface GuestRental {
  rental: Rental;
  rentedIn: string;
  rentedAtBlock: number;
  extendedIn: string[];
  settled?: { charge: bigint; refund: bigint; byReceipt: boolean; txHash: string };
  cancelled?: { txHash: string };
}

export function rentalOfRented(args: LogDescription['args']): Rental {
  return {
    id: args.rentalId as bigint,
    guest: args.guest as string,
    start: args.start as bigint,
    end: args.end as bigint,
    deposit: args.deposit as bigint,
    pricePerSecond: args.pricePerSecond as bigint,
    pricePerWh: args.pricePerWh as bigint,
    signer: args.signer as string,
    maxWatts: args.maxWatts as bigint,
    cancelWindow: args.cancelWindow as bigint,
  };
}

/** Every rental `guest` made of `deviceId`, oldest first, with its extensions and how it ended. */
export async function guestRentals(chain: Chain, deviceId: bigint, guest: string): Promise<GuestRental[]> {
  const rented = await chain.logs([topicOf('Rented'), null, topic32(deviceId), addressTopic(guest)]);
  if (rented.length === 0) return [];
  const from = Math.min(...rented.map((l) => l.blockNumber));
  const later = await chain.logs(
    [
      [topicOf('Extended'), topicOf('Settled'), topicOf('Cancelled')] as unknown as string,
      null,
      topic32(deviceId),
    ],
    from,
  );
  return rented.map((l) => {
    const found: GuestRental = {
      rental: rentalOfRented(l.event.args),
      rentedIn: l.txHash,
      rentedAtBlock: l.blockNumber,
      extendedIn: [],
    };
    for (const e of later) {
      if (e.event.args.rentalId !== found.rental.id) continue;
      if (e.event.name === 'Extended') {
        found.rental = { ...found.rental, end: e.event.args.end, deposit: e.event.args.deposit };
        found.extendedIn.push(e.txHash);
      } else if (e.event.name === 'Settled') {
        const { charge, refund, byReceipt } = e.event.args;
        found.settled = { charge, refund, byReceipt, txHash: e.txHash };
      } else if (e.event.name === 'Cancelled') found.cancelled = { txHash: e.txHash };
    }
    return found;
  });
}

/** The Rental a transaction's Rented log commits (and any Extended after it). */
export function rentalOfReceipt(receipt: TxReceipt, previous?: Rental): Rental | undefined {
  let rental = previous;
  for (const l of receipt.logs) {
    if (l.event.name === 'Rented') rental = rentalOfRented(l.event.args);
    else if (l.event.name === 'Extended' && rental)
      rental = { ...rental, end: l.event.args.end, deposit: l.event.args.deposit };
  }
  return rental;
}

/** The fee and refund of a transaction's Cancelled log, if it cancelled a rental. */
export function cancelledOf(receipt: TxReceipt): { fee: bigint; refund: bigint } | undefined {
  for (const l of receipt.logs) {
    if (l.event.name === 'Cancelled') return { fee: l.event.args.fee, refund: l.event.args.refund };
  }
  return undefined;
}

export type { Log };
