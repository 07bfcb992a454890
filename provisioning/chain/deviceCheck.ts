// Checks the devices a gateway config names against the chain: each must exist, be of the kind given
// and have the gateway's key as its receipt signer. An unreachable chain checks nothing (said so).

import { latchkeyAt } from '../../contracts/deploy.js';
import { latchkeyRevert } from '../../contracts/revert.js';
import { connect } from '../rpc.js';

export async function devicesOnChain(
  rpcUrl: string,
  contract: string,
  devices: readonly { id: string; kind: string }[],
  gateway: string,
): Promise<{ problems: string[] } | { unchecked: string }> {
  let provider: Awaited<ReturnType<typeof connect>>;
  try {
    provider = await connect(rpcUrl);
  } catch (e) {
    return { unchecked: (e as Error).message };
  }
  try {
    if ((await provider.getCode(contract)) === '0x') {
      const { chainId } = await provider.getNetwork();
      return { problems: [`--contract: no contract at ${contract} on chain ${chainId} (${rpcUrl})`] };
    }
    const latchkey = latchkeyAt(contract, provider);
    const problems: string[] = [];
    for (const d of devices) {
      try {
        const onChain = await latchkey.device(BigInt(d.id));
        const kind = onChain.kind === 0n ? 'lock' : 'socket';
        if (kind !== d.kind)
          problems.push(`--device ${d.id}:${d.kind}: device ${d.id} is registered as a ${kind}`);
        else if (onChain.signer !== gateway)
          problems.push(
            `--device ${d.id}:${d.kind}: its receipt signer is ${onChain.signer}, not this gateway's key ${gateway}`,
          );
      } catch (e) {
        if (latchkeyRevert(e)?.name !== 'UnknownDevice') throw e;
        problems.push(`--device ${d.id}:${d.kind}: no device ${d.id} on contract ${contract}`);
      }
    }
    return { problems };
  } finally {
    provider.destroy();
  }
}
