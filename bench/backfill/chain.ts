// The chain of the backfill benchmark: a real anvil with the Latchkey contract, one gateway's devices,
// one device of another gateway and a funded guest account per device.

import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { type Anvil, startAnvil } from '../../contracts/anvil.js';
import { deployLatchkey, registerDevice } from '../../contracts/deploy.js';
import { addressOfPrivateKey, hexToBytes } from '../../contracts/eip712.js';

export const PRICE_PER_SECOND = 1_000_000_000n; // 1 gwei per second
export const DEPOSIT_FACTOR = 200n;

/**
 * anvil's per-block cost grows with the chain under prague (its EIP-2935 block-hash history contract
 * grows the state every block, ~7 ms per block by 5,000 blocks here), and with every historical state
 * kept; cancun with pruned state history mines a block in well under 0.1 ms. The watcher reads logs and
 * headers only, which neither flag changes.
 */
export const ANVIL_ARGS = ['--hardfork', 'cancun', '--prune-history'] as const;

export interface BenchChain {
  anvil: Anvil;
  address: string;
  deployBlock: number;
  /** The gateway's devices (what its watcher follows). */
  deviceIds: bigint[];
  /** A device registered to another gateway on the same contract. */
  foreignDeviceIds: bigint[];
  /** Guest i books device i, then the foreign devices. */
  guests: Wallet[];
  /** The gateway's receipt signing key (the devices' registered signer). */
  gatewayKey: Uint8Array;
  /** The signer address of the foreign devices. */
  otherGateway: string;
}

export async function startBenchChain(devices: number, foreignDevices: number): Promise<BenchChain> {
  const anvil = await startAnvil({
    quiet: true,
    args: [...ANVIL_ARGS, '--accounts', String(1 + devices + foreignDevices)],
  });
  try {
    const [h, ...rest] = anvil.accounts;
    if (!h || rest.length < devices + foreignDevices) throw new Error('anvil reported too few dev accounts');
    const host = new Wallet(h.privateKey, anvil.provider);
    const gatewayKey = hexToBytes(keccak256(toUtf8Bytes('latchkey backfill bench gateway')));
    const otherGateway = addressOfPrivateKey(
      hexToBytes(keccak256(toUtf8Bytes('latchkey bench other gateway'))),
    );
    const deployment = await deployLatchkey(host);
    const register = async (signer: string, i: number) =>
      (
        await registerDevice(deployment.contract, {
          signer,
          kind: i % 2 === 0 ? 'socket' : 'lock',
          pricePerSecond: PRICE_PER_SECOND,
          depositFactor: Number(DEPOSIT_FACTOR),
          minDuration: 60,
        })
      ).deviceId;
    const deviceIds: bigint[] = [];
    for (let i = 0; i < devices; i++) deviceIds.push(await register(addressOfPrivateKey(gatewayKey), i));
    const foreignDeviceIds: bigint[] = [];
    for (let i = 0; i < foreignDevices; i++) foreignDeviceIds.push(await register(otherGateway, i));
    return {
      anvil,
      address: deployment.address,
      deployBlock: deployment.blockNumber,
      deviceIds,
      foreignDeviceIds,
      guests: rest.slice(0, devices + foreignDevices).map((a) => new Wallet(a.privateKey)),
      gatewayKey,
      otherGateway,
    };
  } catch (e) {
    await anvil.stop();
    throw e;
  }
}
