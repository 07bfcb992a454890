// The watcher follows the contract's key logs on a real chain (anvil): SignerRevoked of the gateway's
// keys and SignerChanged of its devices go into the store, a revocation counts only for the devices
// of the host who made it, others' logs are not kept, and a reorg that removes a revocation takes it
// back out of the store (the rescan brings back what the chain still has).

import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { latchkeyAt } from '../../contracts/deploy.js';
import { type Chain, registerSocket, storeFor, useChain, watcherOptions } from './test/chain.js';
import type { SignerNotice } from './watcher.js';
import { ChainWatcher } from './watcher.js';

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

describe('key logs', () => {
  it("records revocations of the gateway's keys and its devices' signer changes, and undoes them in a reorg", async () => {
    const mine = Wallet.createRandom().address.toLowerCase();
    const next = Wallet.createRandom().address.toLowerCase();
    const stranger = Wallet.createRandom().address.toLowerCase();
    const deviceId = await registerSocket(chain, mine);
    const notOurs = await registerSocket(chain, stranger);
    const { store } = storeFor(cleanups);
    store.putDeviceSigner(deviceId, chain.host.address, mine); // as the agent's start-up check does
    const watcher = new ChainWatcher({
      ...(await watcherOptions(chain, { deviceIds: [deviceId], confirmations: 0 })),
      signerKeys: [mine, next],
      store,
    });
    cleanups.push(() => watcher.stop());
    const seen: SignerNotice[] = [];
    watcher.on('signer', (s) => seen.push(s));
    await watcher.start();
    expect(store.deviceSigner(deviceId)).toEqual({
      host: chain.host.address.toLowerCase(),
      signer: mine,
      revoked: false,
    });

    // Someone else "revokes" our key for their own devices, the host revokes a key that is not ours,
    // and changes the signer of a device this gateway does not serve: none of it concerns us.
    const asGuest = latchkeyAt(chain.address, chain.guest);
    await (await asGuest.revokeSigner(mine)).wait();
    await (await chain.asHost.revokeSigner(stranger)).wait();
    await (await chain.asHost.setSigner(notOurs, next)).wait();
    await watcher.poll();
    expect(seen.map((s) => s.kind)).toEqual(['revoked']); // the guest's, kept as a fact
    expect(store.deviceSigner(deviceId)?.revoked).toBe(false);
    expect(store.signerRevoked(deviceId, mine)).toBe(false);

    // The host revokes our key: the device's signer is revoked, until the host names another.
    const revokeBlock = (await (await chain.asHost.revokeSigner(mine)).wait())?.blockNumber ?? 0;
    await watcher.poll();
    expect(seen.at(-1)).toMatchObject({
      kind: 'revoked',
      host: chain.host.address.toLowerCase(),
      signer: mine,
      blockNumber: revokeBlock,
    });
    expect(store.deviceSigner(deviceId)).toMatchObject({ signer: mine, revoked: true });

    await (await chain.asHost.setSigner(deviceId, next)).wait();
    await watcher.poll();
    expect(seen.at(-1)).toMatchObject({ kind: 'changed', deviceId, signer: next });
    expect(store.deviceSigner(deviceId)).toMatchObject({ signer: next, revoked: false });
    expect(store.signerRevoked(deviceId, mine)).toBe(true);

    // A reorg removes the revocation and the signer change: both leave the store.
    await chain.rpc('anvil_reorg', [(await chain.head()) - revokeBlock + 1, []]);
    await watcher.poll();
    expect(seen.at(-1)).toEqual({ kind: 'undone', fromBlock: expect.any(Number) });
    expect(store.deviceSigner(deviceId)).toEqual({
      host: chain.host.address.toLowerCase(),
      signer: mine,
      revoked: false,
    });
    expect(store.signerRevoked(deviceId, mine)).toBe(false);

    // The revocation mined again after the reorg is applied again.
    await (await chain.asHost.revokeSigner(mine)).wait();
    await watcher.poll();
    expect(store.deviceSigner(deviceId)).toMatchObject({ signer: mine, revoked: true });
  });
});
