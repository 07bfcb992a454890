// An ethers provider over the rotating RpcClient, for what ethers does well on the sending side (nonce,
// fee data, gas estimation with decoded reverts); reads that decide correctness use RpcClient directly.

import {
  JsonRpcApiProvider,
  type JsonRpcError,
  type JsonRpcPayload,
  type JsonRpcResult,
  Network,
} from 'ethers';
import type { RpcClient } from './rpc.js';

export class RpcClientProvider extends JsonRpcApiProvider {
  constructor(
    private readonly client: RpcClient,
    chainId: bigint,
  ) {
    const network = Network.from(chainId);
    // A static network: no eth_chainId before every call, no start-up retry loop when nodes are down.
    super(network, { staticNetwork: network, batchMaxCount: 1, cacheTimeout: -1 });
  }

  override async _send(
    payload: JsonRpcPayload | JsonRpcPayload[],
  ): Promise<(JsonRpcResult | JsonRpcError)[]> {
    const requests = Array.isArray(payload) ? payload : [payload];
    return Promise.all(
      requests.map(async (p): Promise<JsonRpcResult | JsonRpcError> => {
        const reply = await this.client.request(p.method, p.params);
        return 'error' in reply ? { id: p.id, error: reply.error } : { id: p.id, result: reply.result };
      }),
    );
  }
}
