// The flags and the start every on-chain host command shares: the RPC, the contract (checked to be
// there), where its logs begin, and the host key when the command sends transactions.

import type { JsonRpcProvider, Wallet } from 'ethers';
import { DEFAULT_CHUNK_BLOCKS } from './chain/logs.js';
import { address, httpUrl, integer } from './checks.js';
import { type CliIo, UsageError } from './command.js';
import { checkHostKey, loadHostKey } from './hostKey.js';
import { connect } from './rpc.js';

export const CHAIN_FLAGS = {
  rpc: {
    type: 'string',
    required: true,
    value: '<url>',
    help: 'JSON-RPC URL of the chain (http:// or https://)',
  },
  contract: { type: 'string', required: true, value: '<address>', help: 'the Latchkey contract' },
  'from-block': {
    type: 'string',
    value: '<n>',
    help: "first block to read logs from: the contract's deployment block (default 0)",
  },
  'chunk-blocks': {
    type: 'string',
    value: '<n>',
    help: `most blocks per eth_getLogs call, halved when the node refuses (default ${DEFAULT_CHUNK_BLOCKS})`,
  },
} as const;

export const HOST_KEYSTORE_FLAG = {
  'host-keystore': { type: 'string', value: '<file>', help: 'JSON keystore of the host key' },
} as const;

export const JSON_FLAG = {
  json: { type: 'boolean', help: 'print JSON (for scripts) instead of lines' },
} as const;

export interface ChainArgs {
  rpc: string;
  contract: string;
  fromBlock: number;
  chunkBlocks: number;
}

/** --from-block and --chunk-blocks, checked (problems added). */
export function logRangeArgs(
  values: { 'from-block'?: string; 'chunk-blocks'?: string },
  problems: string[],
): { fromBlock: number; chunkBlocks: number } {
  const fromBlock = integer(
    values['from-block'] ?? '0',
    '--from-block',
    0,
    Number.MAX_SAFE_INTEGER,
    problems,
  );
  const chunk = values['chunk-blocks'] ?? String(DEFAULT_CHUNK_BLOCKS);
  const chunkBlocks = integer(chunk, '--chunk-blocks', 1, 1_000_000, problems);
  return { fromBlock: fromBlock ?? 0, chunkBlocks: chunkBlocks ?? DEFAULT_CHUNK_BLOCKS };
}

/** Checks the shared chain flags, adding problems; the result is valid once `problems` is empty. */
export function chainArgs(
  values: { rpc?: string; contract?: string; 'from-block'?: string; 'chunk-blocks'?: string },
  problems: string[],
): ChainArgs {
  const rpc = httpUrl(values.rpc, '--rpc', problems);
  const contract = address(values.contract, '--contract', problems);
  return { rpc: rpc ?? '', contract: contract ?? '', ...logRangeArgs(values, problems) };
}

/** Connects and refuses an address with no contract code, naming the chain. */
export async function openChain(args: ChainArgs): Promise<JsonRpcProvider> {
  const provider = await connect(args.rpc);
  try {
    if ((await provider.getCode(args.contract)) === '0x') {
      const { chainId } = await provider.getNetwork();
      throw new Error(`no contract at ${args.contract} on chain ${chainId} (${args.rpc})`);
    }
  } catch (e) {
    provider.destroy();
    throw e;
  }
  return provider;
}

/** The host key for a command that sends; checkHostKey has already reported what is missing. */
export async function requireHostKey(io: CliIo, keystore: string | undefined): Promise<Wallet> {
  const host = await loadHostKey(io, keystore);
  if (!host) throw new UsageError(['no host key']);
  return host;
}

export { checkHostKey };

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}
