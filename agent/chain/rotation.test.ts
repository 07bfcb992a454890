// Key rotation on a real chain (anvil): each rental is committed to the device's signer when it is
// made, so a gateway holding its new key and the one before it signs each receipt with the key of the
// rental's own signer; a rental open across the host's setSigner still settles by receipt, and a
// receipt signed before it is never signed again.

import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { domainSeparator, hexToBytes, receiptDigest, recoverAddress } from '../../contracts/eip712.js';
import { domain, type Rental } from '../../contracts/typedData.js';
import { SimRelay } from '../../hardware/sim.js';
import { DeviceController } from '../devices/controller.js';
import { ReceiptKeys } from '../devices/receiptKeys.js';
import { ReceiptSigner } from '../devices/receipts.js';
import { silentLogger } from '../log.js';
import type { StoredReceipt } from '../store/store.js';
import { RpcClient } from './rpc.js';
import { checkSigners } from './signers.js';
import { type Chain, registerSocket, storeFor, useChain } from './test/chain.js';

let chain: Chain;
const cleanups = useChain((c) => {
  chain = c;
});

describe('a rotated gateway key', () => {
  it('settles by receipt a rental made under the old key, and one open across the rotation', async () => {
    const separator = domainSeparator(domain(chain.anvil.chainId, chain.address));
    const old = new ReceiptSigner(hexToBytes(chain.deviceKey), separator); // the device's signer on chain
    const fresh = new ReceiptSigner(hexToBytes(Wallet.createRandom().privateKey), separator);
    const keys = new ReceiptKeys(fresh, [old]);
    const rpc = new RpcClient({ urls: [chain.anvil.url], timeoutMs: 5_000, log: silentLogger });
    const signersNow = async () =>
      (await checkSigners(rpc, chain.address, [chain.deviceId], keys.addresses)).signers;
    const signerNow = async () => (await signersNow()).get(chain.deviceId)?.signer;

    // The host has not rotated on chain yet: the device's signer is the previous key, and accepted.
    const before = await checkSigners(rpc, chain.address, [chain.deviceId], keys.addresses);
    expect(before.onPreviousKey).toEqual([chain.deviceId]);
    expect(before.signers.get(chain.deviceId)).toEqual({
      host: chain.host.address.toLowerCase(),
      signer: old.address,
    });

    const { store } = storeFor(cleanups);
    const ctl = new DeviceController({
      deviceId: chain.deviceId,
      kind: 'socket',
      pulseSeconds: 5,
      relay: new SimRelay(),
      store,
      keys, // each receipt by the key its rental committed to (the default, as the agent wires it)
      now: () => Math.floor(Date.now() / 1000),
      log: silentLogger,
    });
    cleanups.push(() => ctl.stop());
    await ctl.start();

    const use = async (rental: Rental): Promise<void> => {
      store.putRental({
        ...rental,
        deviceId: chain.deviceId,
        status: 'open',
        blockNumber: 1,
        blockHash: `0x${'00'.repeat(32)}`,
      });
      await ctl.apply({ rental: store.getRental(rental.id)!, action: 'on' });
    };
    const checkout = async (rental: Rental): Promise<StoredReceipt> => {
      const { receipt } = await ctl.apply({ rental: store.getRental(rental.id)!, action: 'checkout' });
      if (!receipt) throw new Error('no receipt');
      return receipt;
    };
    const signerOf = (r: StoredReceipt) => {
      const rec = recoverAddress(receiptDigest(separator, r.receipt), hexToBytes(r.signature));
      return rec.ok ? rec.address : undefined;
    };
    const settle = async (rental: Rental, r: StoredReceipt) => {
      await (await chain.asGuest.checkout(rental, r.receipt, r.signature)).wait();
      expect(await chain.asGuest.isOpen(rental)).toBe(false);
    };

    const { rental: a } = await chain.rent();
    await use(a);
    const ra = await checkout(a);
    expect(signerOf(ra)).toBe(old.address);
    await settle(a, ra);

    // A rental open while the host rotates the device to the new key: it was made under the old key,
    // so its receipt is signed by the old key, and settles it; the new key's would not.
    const { rental: b } = await chain.rent();
    await use(b);
    await (await chain.asHost.setSigner(chain.deviceId, fresh.address)).wait();
    expect(await signerNow()).toBe(fresh.address);
    const rb = await checkout(b);
    expect(signerOf(rb)).toBe(old.address);
    const byFresh = { ...rb, signature: fresh.sign(rb.receipt) };
    await expect(chain.asGuest.checkout.estimateGas(b, byFresh.receipt, byFresh.signature)).rejects.toThrow();
    await settle(b, rb);

    // A rental made after the rotation is the new key's.
    const { rental: c } = await chain.rent();
    await use(c);
    const rc = await checkout(c);
    expect(signerOf(rc)).toBe(fresh.address);
    await settle(c, rc);
  });

  it('a receipt signed before the host rotates the signer still settles after it, unchanged', async () => {
    const separator = domainSeparator(domain(chain.anvil.chainId, chain.address));
    const old = new ReceiptSigner(hexToBytes(chain.deviceKey), separator);
    const fresh = new ReceiptSigner(hexToBytes(Wallet.createRandom().privateKey), separator);
    const keys = new ReceiptKeys(fresh, [old]);
    const deviceId = await registerSocket(chain, old.address);
    const { store } = storeFor(cleanups);
    const ctl = new DeviceController({
      deviceId,
      kind: 'socket',
      pulseSeconds: 5,
      relay: new SimRelay(),
      store,
      keys,
      now: () => Math.floor(Date.now() / 1000),
      log: silentLogger,
    });
    cleanups.push(() => ctl.stop());
    await ctl.start();

    const { rental } = await chain.rent({ deviceId });
    store.putRental({
      ...rental,
      deviceId,
      status: 'open',
      blockNumber: 1,
      blockHash: `0x${'00'.repeat(32)}`,
    });
    await ctl.apply({ rental: store.getRental(rental.id)!, action: 'on' });
    const { receipt } = await ctl.apply({ rental: store.getRental(rental.id)!, action: 'checkout' });
    if (!receipt) throw new Error('no receipt');
    expect(receipt.signature).toBe(old.sign(receipt.receipt));

    // The host rotates before the receipt was sent: the rental stays committed to the old key, so
    // the old signature settles it as it was signed.
    await (await chain.asHost.setSigner(deviceId, fresh.address)).wait();
    const kept = store.getReceipt(rental.id)!;
    expect(kept.signature).toBe(receipt.signature);
    await (await chain.asGuest.checkout(rental, kept.receipt, kept.signature)).wait();
    expect(await chain.asGuest.isOpen(rental)).toBe(false);
  });

  it('refuses to serve a device whose signer is none of its keys', async () => {
    const separator = domainSeparator(domain(chain.anvil.chainId, chain.address));
    const other = new ReceiptSigner(hexToBytes(Wallet.createRandom().privateKey), separator);
    const rpc = new RpcClient({ urls: [chain.anvil.url], timeoutMs: 5_000, log: silentLogger });
    await expect(checkSigners(rpc, chain.address, [chain.otherDeviceId], [other.address])).rejects.toThrow(
      /refusing to serve a device of another key/,
    );
  });
});
