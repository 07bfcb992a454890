import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hexToBytes, receiptDigest, recoverAddress } from '../../contracts/eip712.js';
import { SimRelay } from '../../hardware/sim.js';
import type { StoredReceipt } from '../store/store.js';
import { ReceiptKeys, receiptKeyFor, resignPendingReceipts } from './receiptKeys.js';
import { ReceiptSigner } from './receipts.js';
import { rentalOf, SEPARATOR, signer, tempStore, testController, unixNow } from './testkit.js';

const key = (byte: string) => new ReceiptSigner(hexToBytes(`0x${byte.repeat(32)}`), SEPARATOR);
const signedBy = (r: StoredReceipt) => {
  const rec = recoverAddress(receiptDigest(SEPARATOR, r.receipt), hexToBytes(r.signature));
  return rec.ok ? rec.address : undefined;
};

describe('ReceiptKeys and receiptKeyFor', () => {
  const current = signer();
  const previous = [key('11'), key('22')];
  const keys = new ReceiptKeys(current, previous);
  const rental = rentalOf(1n, 1n, 1000, 2000);

  it('lists every address, current first, and finds a key by address in any case', () => {
    expect(keys.addresses).toEqual([current.address, previous[0]?.address, previous[1]?.address]);
    expect(keys.forAddress((previous[1] as ReceiptSigner).address.toUpperCase().replace('0X', '0x'))).toBe(
      previous[1],
    );
    expect(keys.forAddress(`0x${'00'.repeat(20)}`)).toBeUndefined();
  });

  it('refuses the same key twice', () => {
    expect(() => new ReceiptKeys(current, [key('11'), key('11')])).toThrow(/given twice/);
    expect(() => new ReceiptKeys(current, [signer()])).toThrow(/given twice/);
  });

  it("chooses the key of the rental's signer; the current key when it is unknown or not ours", () => {
    const old = previous[1] as ReceiptSigner;
    expect(receiptKeyFor(keys, () => old.address, rental)).toEqual({
      key: old,
      signer: old.address,
      matched: true,
    });
    expect(receiptKeyFor(keys, () => undefined, rental)).toEqual({
      key: current,
      signer: undefined,
      matched: true,
    });
    const stranger = `0x${'ee'.repeat(20)}`;
    expect(receiptKeyFor(keys, () => stranger, rental)).toEqual({
      key: current,
      signer: stranger,
      matched: false,
    });
  });
});

describe('a controller with previous keys', () => {
  let env: ReturnType<typeof tempStore>;
  beforeEach(() => {
    env = tempStore();
  });
  afterEach(() => env.cleanup());

  it("signs each rental's receipt with the key its signer names, unused rentals and dormant close-outs too", async () => {
    const old = key('33');
    const keys = new ReceiptKeys(signer(), [old]);
    const now = unixNow();
    const underOld = rentalOf(1n, 1n, now - 60, now + 3600);
    const underNew = rentalOf(1n, 2n, now - 60, now + 3600);
    const unused = rentalOf(1n, 3n, now - 7200, now - 3600);
    const signerOf = new Map([
      [underOld.id, old.address],
      [underNew.id, signer().address],
      [unused.id, old.address],
    ]);
    for (const r of [underOld, underNew, unused]) env.store.putRental(r);
    const ctl = testController(new SimRelay(), env.store, { keys, rentalSigner: (r) => signerOf.get(r.id) });
    await ctl.start();
    try {
      await ctl.apply({ rental: underOld, action: 'on' });
      const a = (await ctl.apply({ rental: underOld, action: 'checkout' })).receipt as StoredReceipt;
      await ctl.apply({ rental: underNew, action: 'on' });
      const b = (await ctl.apply({ rental: underNew, action: 'checkout' })).receipt as StoredReceipt;
      const c = (await ctl.endRental(unused.id, 'ended')) as StoredReceipt;
      expect([a, b, c].map(signedBy)).toEqual([old.address, signer().address, old.address]);
    } finally {
      await ctl.stop();
    }
  });
});

describe('resignPendingReceipts', () => {
  let env: ReturnType<typeof tempStore>;
  beforeEach(() => {
    env = tempStore();
  });
  afterEach(() => env.cleanup());

  it('re-signs only receipts still waiting to be sent, of that device, by the key now chosen', () => {
    const old = key('44');
    const keys = new ReceiptKeys(signer(), [old]);
    const store = env.store;
    const now = unixNow();
    const receiptOf = (r: ReturnType<typeof rentalOf>, status: StoredReceipt['status']): StoredReceipt => {
      const receipt = { rentalId: r.id, secondsUsed: 60n, energyWh: 0n };
      return {
        rentalId: r.id,
        deviceId: r.deviceId,
        receipt,
        signature: old.sign(receipt),
        status,
        attempts: 0,
        createdAt: now,
      };
    };
    const pending = rentalOf(1n, 1n, now - 600, now - 60);
    const submitted = rentalOf(1n, 2n, now - 600, now - 60);
    const otherDevice = rentalOf(2n, 1n, now - 600, now - 60);
    for (const [r, status] of [
      [pending, 'pending'],
      [submitted, 'submitted'],
      [otherDevice, 'pending'],
    ] as const) {
      store.putRental(r);
      store.putReceipt(receiptOf(r, status));
    }
    let onChain = old.address;
    const signerOf = () => onChain;
    expect(resignPendingReceipts(store, keys, signerOf, 1n)).toEqual([]); // signed by the chosen key already
    onChain = signer().address; // the host rotated to the current key
    expect(resignPendingReceipts(store, keys, signerOf, 1n)).toEqual([pending.id]);
    expect(signedBy(store.getReceipt(pending.id) as StoredReceipt)).toBe(signer().address);
    expect(signedBy(store.getReceipt(submitted.id) as StoredReceipt)).toBe(old.address); // its checkout is being sent
    expect(signedBy(store.getReceipt(otherDevice.id) as StoredReceipt)).toBe(old.address);
    expect(store.resignReceipt(submitted.id, signer().sign(receiptOf(submitted, 'submitted').receipt))).toBe(
      false,
    );
    // a signer this gateway does not hold: nothing to sign with, nothing changed
    onChain = `0x${'ee'.repeat(20)}`;
    store.resignReceipt(pending.id, old.sign(receiptOf(pending, 'pending').receipt));
    expect(resignPendingReceipts(store, keys, signerOf, 1n)).toEqual([]);
    expect(signedBy(store.getReceipt(pending.id) as StoredReceipt)).toBe(old.address);
  });
});
