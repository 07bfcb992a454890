// What a newcomer trips over, checked once the chain answers at start and shown in /health: devices
// in the config that the chain does not have (or has as another kind, or signed by another key), and a
// gateway key that cannot pay for the checkout transactions guests' refunds wait on. Raw JSON-RPC,
// so a gateway does not load ethers for it.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '../contracts/eip712.js';
import type { RpcClient } from './chain/rpc.js';
import type { DeviceConfig } from './config.js';

/** Gas of the costliest checkout (a host's first credit, ≈75,000), with headroom. */
export const CHECKOUT_GAS = 100_000n;
const DEVICE_SELECTOR = bytesToHex(keccak_256(new TextEncoder().encode('device(uint256)')).subarray(0, 4));
const KINDS = ['lock', 'socket'] as const;

async function call(rpc: RpcClient, method: string, params: unknown[]): Promise<string | undefined> {
  const reply = await rpc.request(method, params);
  return 'result' in reply && typeof reply.result === 'string' ? reply.result : undefined;
}

/** Problems found, one line each; an unreachable chain finds none (the agent starts offline). */
export async function startupWarnings(
  rpc: RpcClient,
  contract: string,
  gateway: string,
  devices: readonly DeviceConfig[],
): Promise<string[]> {
  const warnings: string[] = [];
  const [balanceHex, gasPriceHex] = await Promise.all([
    call(rpc, 'eth_getBalance', [gateway, 'latest']),
    call(rpc, 'eth_gasPrice', []),
  ]);
  if (balanceHex !== undefined && gasPriceHex !== undefined) {
    const cost = CHECKOUT_GAS * BigInt(gasPriceHex);
    if (BigInt(balanceHex) < cost)
      warnings.push(
        `the gateway key ${gateway} holds ${BigInt(balanceHex)} wei, less than one checkout costs (≈${cost} wei): ` +
          'fund it, or guests wait for their refunds (latchkey fund)',
      );
  }
  for (const d of devices) {
    const data = `${DEVICE_SELECTOR}${d.id.toString(16).padStart(64, '0')}`;
    let out: string | undefined;
    try {
      out = await call(rpc, 'eth_call', [{ to: contract, data }, 'latest']);
    } catch {
      continue;
    }
    if (out === undefined || out.length < 2 + 64 * 7) {
      warnings.push(`device ${d.id} is not registered on contract ${contract}`);
      continue;
    }
    const word = (i: number) => out.slice(2 + 64 * i, 2 + 64 * (i + 1));
    const kind = KINDS[Number(BigInt(`0x${word(4)}`))];
    const signer = `0x${word(6).slice(24)}`;
    if (kind !== d.kind)
      warnings.push(`device ${d.id} is registered as a ${kind}, but the config says ${d.kind}`);
    if (signer.toLowerCase() !== gateway.toLowerCase())
      warnings.push(`device ${d.id} has receipt signer ${signer}, not this gateway's key ${gateway}`);
  }
  return warnings;
}
