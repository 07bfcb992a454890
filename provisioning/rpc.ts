// Connects to the host's chain RPC: one eth_chainId with a timeout first, so a wrong or dead URL fails
// at once with its reason instead of ethers retrying network detection forever.

import { JsonRpcProvider, Network } from 'ethers';

const TIMEOUT_MS = 15_000;

export class RpcUnreachable extends Error {
  override readonly name = 'RpcUnreachable';
}

export async function connect(url: string): Promise<JsonRpcProvider> {
  let chainId: bigint;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
    if (typeof body.result !== 'string')
      throw new Error(body.error?.message ?? `HTTP ${res.status}, no chain id`);
    chainId = BigInt(body.result);
  } catch (e) {
    const reason = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new RpcUnreachable(`cannot reach the RPC at ${url}: ${reason}`);
  }
  return new JsonRpcProvider(url, Network.from(chainId), { staticNetwork: true, pollingInterval: 1000 });
}
