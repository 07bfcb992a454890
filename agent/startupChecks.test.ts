// The start-up checks against a real anvil chain: each setup mistake gives its warning.

import { parseEther, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from '../contracts/anvil.js';
import { deployLatchkey, registerDevice } from '../contracts/deploy.js';
import { RpcClient } from './chain/rpc.js';
import { silentLogger } from './log.js';
import { startupWarnings } from './startupChecks.js';

let anvil: Anvil;
let contract: string;
let lock: bigint;
let socket: bigint;
const gateway = Wallet.createRandom();
const other = Wallet.createRandom().address;

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  const d = await deployLatchkey(new Wallet(anvil.accounts[0]?.privateKey as string, anvil.provider));
  contract = d.address;
  lock = (await registerDevice(d.contract, { signer: gateway.address, kind: 'lock', pricePerSecond: 1000n }))
    .deviceId;
  socket = (await registerDevice(d.contract, { signer: other, kind: 'socket', pricePerSecond: 1000n }))
    .deviceId;
});
afterAll(() => anvil?.stop());

const device = (id: bigint, kind: 'lock' | 'socket') => ({
  id,
  kind,
  pulseSeconds: 5,
  relay: { driver: 'sim' as const },
});

describe('startupWarnings', () => {
  it('names unknown devices, wrong kinds, foreign signers and an unfunded key', async () => {
    const rpc = new RpcClient({ urls: [anvil.url], timeoutMs: 5_000, log: silentLogger });
    const w = await startupWarnings(rpc, contract, gateway.address.toLowerCase(), [
      device(lock, 'socket'),
      device(socket, 'socket'),
      device(99n, 'lock'),
    ]);
    expect(w).toEqual([
      expect.stringMatching(
        new RegExp(
          `^the gateway key ${gateway.address.toLowerCase()} holds 0 wei, less than one checkout costs`,
        ),
      ),
      `device ${lock} is registered as a lock, but the config says socket`,
      `device ${socket} has receipt signer ${other.toLowerCase()}, not this gateway's key ${gateway.address.toLowerCase()}`,
      `device 99 is not registered on contract ${contract}`,
    ]);
    const funder = new Wallet(anvil.accounts[1]?.privateKey as string, anvil.provider);
    await (await funder.sendTransaction({ to: gateway.address, value: parseEther('1') })).wait();
    expect(await startupWarnings(rpc, contract, gateway.address, [device(lock, 'lock')])).toEqual([]);
  });
});
