// What the gateway key pays to send one checkout: the gas of the costliest checkout (a host's very first
// credit, ≈75,000 in bench/results/gas.json, with headroom) at the node's current fee.

import type { Provider } from 'ethers';

export const CHECKOUT_GAS = 100_000n;

export async function checkoutCost(provider: Provider): Promise<bigint> {
  const fee = await provider.getFeeData();
  const perGas = fee.maxFeePerGas ?? fee.gasPrice ?? 0n;
  return CHECKOUT_GAS * perGas;
}
