import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hexToBytes, receiptDigest, recoverAddress } from '../../contracts/eip712.js';
import { SimRelay } from '../../hardware/sim.js';
import type { StoredReceipt } from '../store/store.js';
import { committedSigner, ReceiptKeys, receiptKeyFor } from './receiptKeys.js';
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

  it('by default a rental is signed for by the key it committed to; a row without one by the current key', () => {
    const old = previous[0] as ReceiptSigner;
    expect(receiptKeyFor(keys, committedSigner, { ...rental, signer: old.address }).key).toBe(old);
    // A store from before migration 5 reads the zero address for the signer.
    const before5 = { ...rental, signer: `0x${'00'.repeat(20)}` };
    expect(committedSigner(before5)).toBeUndefined();
    expect(receiptKeyFor(keys, committedSigner, before5)).toMatchObject({ key: current, matched: true });
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

describe('a revoked signer', () => {
  let env: ReturnType<typeof tempStore>;
  beforeEach(() => {
    env = tempStore();
  });
  afterEach(() => env.cleanup());

  const HOST = `0x${'a1'.repeat(20)}`;
  const revocation = (host: string, signerAddress: string, block: number) => ({
    kind: 'revoked' as const,
    host,
    signer: signerAddress,
    key: `0x${block.toString(16).padStart(64, '0')}:0`,
    blockNumber: block,
    logIndex: 0,
  });

  it('signs no receipt under it, drops its queued receipts, and the state says so until setSigner', async () => {
    const old = key('55');
    const keys = new ReceiptKeys(signer(), [old]);
    const store = env.store;
    const now = unixNow();
    store.putDeviceSigner(1n, HOST, old.address);
    const queued = rentalOf(1n, 1n, now - 600, now - 60, { signer: old.address });
    const live = rentalOf(1n, 2n, now - 60, now + 3600, { signer: old.address });
    const underCurrent = rentalOf(1n, 3n, now - 600, now - 60, { signer: signer().address });
    for (const r of [queued, live, underCurrent]) store.putRental(r);
    for (const r of [queued, underCurrent]) {
      const receipt = { rentalId: r.id, secondsUsed: 60n, energyWh: 0n };
      const by = r === queued ? old : signer();
      store.putReceipt({
        rentalId: r.id,
        deviceId: 1n,
        receipt,
        signature: by.sign(receipt),
        status: 'pending',
        attempts: 0,
        createdAt: now,
      });
    }
    const ctl = testController(new SimRelay(), store, { keys });
    await ctl.start();
    try {
      await ctl.apply({ rental: live, action: 'on' });
      expect(ctl.state().signerRevoked).toBeUndefined();
      expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual([queued.id, underCurrent.id]);

      // Another host revoking the same key changes nothing for this device.
      store.putSignerLog(revocation(`0x${'b2'.repeat(20)}`, old.address, 10));
      expect(store.signerRevoked(1n, old.address)).toBe(false);
      expect(store.pendingReceipts()).toHaveLength(2);

      store.putSignerLog(revocation(HOST, old.address, 11));
      expect(await ctl.signerRevoked(old.address)).toEqual([queued.id, live.id]);
      expect(ctl.state().signerRevoked).toBe(old.address);
      expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual([underCurrent.id]);
      const audit = store.auditTail(10, 1n).filter((a) => a.action === 'signer-revoked');
      expect(audit.map((a) => [a.rentalId, a.reason])).toEqual([
        [queued.id, expect.stringMatching(/receipt pending dropped from the submit queue/)],
        [live.id, expect.stringMatching(/open; no receipt will be signed; the rental settles by time/)],
      ]);

      // The guest checks out: the relay opens, and no receipt is signed under the revoked key.
      const out = await ctl.apply({ rental: live, action: 'checkout' });
      expect(out.receipt).toBeUndefined();
      expect(out.state.relay).toBe('open');
      expect(store.getReceipt(live.id)).toBeUndefined();
      expect(store.auditTail(1, 1n)[0]?.reason).toMatch(
        /no receipt \(signer 0x[0-9a-f]{40} revoked; settles by time\)/,
      );
      // The expiry sweep asks again: nothing is written.
      const entries = store.auditTail(100, 1n).length;
      expect(await ctl.endRental(live.id, 'ended')).toBeUndefined();
      expect(store.auditTail(100, 1n)).toHaveLength(entries);

      // The host names another key: the device's signer is not revoked any more; the old rentals stay.
      store.putSignerLog({
        kind: 'changed',
        deviceId: 1n,
        signer: signer().address,
        key: `0x${'0c'.padStart(64, '0')}:1`,
        blockNumber: 12,
        logIndex: 1,
      });
      await ctl.signerChanged();
      expect(ctl.state().signerRevoked).toBeUndefined();
      expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual([underCurrent.id]);

      // A reorg removes the revocation: the queued receipt is back in the queue, untouched.
      expect(store.forgetSignerLogsFrom(11)).toBe(2);
      expect(store.pendingReceipts().map((r) => r.rentalId)).toEqual([queued.id, underCurrent.id]);
      expect(signedBy(store.getReceipt(queued.id) as StoredReceipt)).toBe(old.address);
    } finally {
      await ctl.stop();
    }
  });
});
