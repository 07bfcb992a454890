// Puts a planned backlog on anvil fast: every transaction signed ahead with explicit nonces and fees,
// sent in JSON-RPC batches without waiting for receipts, each batch mined into one block followed by
// a few empty ones, so the events spread over many blocks as on a live chain. Then checks that every
// transaction landed and the chain holds exactly the planned events.

import type { Wallet } from 'ethers';
import { TOPICS, uintTopic } from '../../agent/chain/decode.js';
import { latchkeyInterface } from '../../contracts/deploy.js';
import { bytesToHex, domainSeparator, receiptDigest, signDigest } from '../../contracts/eip712.js';
import { domain } from '../../contracts/typedData.js';
import type { BenchChain } from './chain.js';
import type { Backlog, EventKind, Op } from './plan.js';

const GAS_LIMIT = 300_000n;
const MAX_FEE = 20_000_000_000n; // well above anvil's base fee, which only falls under this load
const PRIORITY_FEE = 1_000_000_000n;
/**
 * The layout of the chain after the deployment: a quiet stretch (the contract deployed long before the
 * gateway's first rental), then blocks of about TXS_PER_BLOCK transactions, each followed by GAP_BLOCKS
 * empty blocks. anvil's cost per block, even an empty one, grows with the contract's storage (about
 * 4 ms per block with 5,000 open rentals here), so the empty blocks come first, while it is small.
 */
export const QUIET_BLOCKS = 30_000;
export const TXS_PER_BLOCK = 20;
export const GAP_BLOCKS = 7;
const MINED_TIMEOUT_MS = 120_000;

export interface SentBacklog {
  transactions: number;
  /** Blocks from the deployment block to the head after the backlog. */
  blocks: number;
  head: number;
  /** Blocks holding the backlog's transactions. */
  eventBlocks: number;
  signSeconds: number;
  sendSeconds: number;
}

type Rpc = <T>(method: string, params: unknown[]) => Promise<T>;

export function rpcOf(url: string): Rpc {
  let id = 0;
  return async <T>(method: string, params: unknown[]): Promise<T> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  };
}

/**
 * One JSON-RPC batch of raw transactions. anvil may take a batch's entries in any order, so a
 * transaction can reach the pool ahead of its nonce; the pool holds it until its turn, and the block
 * mined after the batch takes them all.
 */
async function sendBatch(url: string, raws: string[]): Promise<void> {
  if (raws.length === 0) return;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      raws.map((raw, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_sendRawTransaction', params: [raw] })),
    ),
  });
  const replies = (await res.json()) as { error?: { message: string } }[];
  const failed = replies.filter((r) => r.error);
  if (failed.length > 0)
    throw new Error(`${failed.length} of ${raws.length} transactions refused: ${failed[0]?.error?.message}`);
}

/** Sends the backlog (see QUIET_BLOCKS for the blocks it makes) and checks the chain holds it. */
export async function sendBacklog(chain: BenchChain, backlog: Backlog): Promise<SentBacklog> {
  const rpc = rpcOf(chain.anvil.url);
  const separator = domainSeparator(domain(chain.anvil.chainId, chain.address));

  const signStarted = performance.now();
  const signed: string[][] = [];
  const finalNonces = new Map<string, number>();
  for (const device of backlog.devices) {
    const guest = chain.guests[device.guest];
    if (!guest) throw new Error(`no guest ${device.guest}`);
    const first = Number(await rpc<string>('eth_getTransactionCount', [guest.address, 'latest']));
    const raws: string[] = [];
    for (const [i, op] of device.ops.entries())
      raws.push(await signOp(guest, op, first + i, chain, separator));
    signed.push(raws);
    finalNonces.set(guest.address, first + raws.length);
  }
  const signSeconds = (performance.now() - signStarted) / 1000;

  const sendStarted = performance.now();
  const transactions = signed.reduce((n, raws) => n + raws.length, 0);
  // Blocks are mined on request from here on: a round's transactions go into one block.
  await rpc('evm_setAutomine', [false]);
  await rpc('anvil_mine', [`0x${QUIET_BLOCKS.toString(16)}`]);
  const rounds = Math.ceil(transactions / TXS_PER_BLOCK);
  for (let round = 0; round < rounds; round++) {
    const batch: string[] = [];
    for (const raws of signed) {
      const from = Math.floor((raws.length * round) / rounds);
      batch.push(...raws.slice(from, Math.floor((raws.length * (round + 1)) / rounds)));
    }
    await sendBatch(chain.anvil.url, batch);
    await rpc('anvil_mine', [`0x${(1 + GAP_BLOCKS).toString(16)}`]);
  }
  await waitMined(rpc, finalNonces);
  const head = Number(await rpc<string>('eth_blockNumber', []));
  const sendSeconds = (performance.now() - sendStarted) / 1000;
  await checkEvents(rpc, chain, backlog, chain.deployBlock, head);
  return {
    transactions,
    blocks: head - chain.deployBlock,
    head,
    eventBlocks: rounds,
    signSeconds,
    sendSeconds,
  };
}

async function signOp(
  guest: Wallet,
  op: Op,
  nonce: number,
  chain: BenchChain,
  separator: Uint8Array,
): Promise<string> {
  let data: string;
  let value = 0n;
  switch (op.kind) {
    case 'rent':
      data = latchkeyInterface.encodeFunctionData('rent', [op.deviceId, op.start, op.duration]);
      value = op.deposit;
      break;
    case 'extend':
      data = latchkeyInterface.encodeFunctionData('extend', [op.rental, op.extra]);
      value = op.value;
      break;
    case 'cancel':
      data = latchkeyInterface.encodeFunctionData('cancel', [op.rental]);
      break;
    case 'checkout': {
      // Before the start nothing is charged: the whole deposit goes back, as for a no-show.
      const receipt = { rentalId: op.rental.id, secondsUsed: 0n, energyWh: 0n };
      const signature = bytesToHex(signDigest(receiptDigest(separator, receipt), chain.gatewayKey));
      data = latchkeyInterface.encodeFunctionData('checkout', [op.rental, receipt, signature]);
      break;
    }
  }
  return guest.signTransaction({
    type: 2,
    chainId: chain.anvil.chainId,
    nonce,
    to: chain.address,
    data,
    value,
    gasLimit: GAS_LIMIT,
    maxFeePerGas: MAX_FEE,
    maxPriorityFeePerGas: PRIORITY_FEE,
  });
}

/** Waits until every guest's mined nonce reaches the one after its last planned transaction. */
async function waitMined(rpc: Rpc, finalNonces: Map<string, number>): Promise<void> {
  const deadline = Date.now() + MINED_TIMEOUT_MS;
  for (;;) {
    let behind = 0;
    for (const [address, final] of finalNonces)
      behind += final - Number(await rpc<string>('eth_getTransactionCount', [address, 'latest']));
    if (behind === 0) return;
    if (Date.now() > deadline) {
      const status = await rpc('txpool_status', []);
      throw new Error(
        `${behind} transactions not mined after ${MINED_TIMEOUT_MS} ms: ${JSON.stringify(status)}`,
      );
    }
    // Automine is off: a transaction that reached the pool after its round's block waits for the next.
    await rpc('anvil_mine', ['0x1']);
  }
}

/** A reverted transaction (a plan that drifted from the contract) shows up here as a missing event. */
async function checkEvents(
  rpc: Rpc,
  chain: BenchChain,
  backlog: Backlog,
  from: number,
  to: number,
): Promise<void> {
  const count = async (devices: bigint[]) => {
    const logs = await rpc<{ topics: string[] }[]>('eth_getLogs', [
      {
        address: chain.address,
        fromBlock: `0x${from.toString(16)}`,
        toBlock: `0x${to.toString(16)}`,
        topics: [Object.values(TOPICS), null, devices.map(uintTopic)],
      },
    ]);
    const byKind: Record<EventKind, number> = { Rented: 0, Extended: 0, Cancelled: 0, Settled: 0 };
    for (const log of logs) {
      const kind = (Object.keys(TOPICS) as EventKind[]).find((k) => TOPICS[k] === log.topics[0]);
      if (kind) byKind[kind]++;
    }
    return byKind;
  };
  const ours = await count(chain.deviceIds);
  const foreign = await count(chain.foreignDeviceIds);
  const wrong = (Object.keys(ours) as EventKind[]).filter((k) => ours[k] !== backlog.events[k]);
  if (wrong.length > 0 || foreign.Rented !== backlog.foreignEvents)
    throw new Error(
      `the chain does not hold the planned backlog (a transaction reverted?): planned ${JSON.stringify(backlog.events)} + ${backlog.foreignEvents} foreign, chain ${JSON.stringify(ours)} + ${JSON.stringify(foreign)}`,
    );
}
