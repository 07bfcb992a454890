import { verifyTypedData, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes, receiptDigest, recoverAddress } from '../../contracts/eip712.js';
import { domain, RECEIPT_TYPES, type Receipt } from '../../contracts/typedData.js';
import { ReceiptSigner } from './receipts.js';
import { DEVICE_KEY, SEPARATOR, signer } from './testkit.js';

const receipt: Receipt = { rentalId: (7n << 64n) | 3n, secondsUsed: 3_600n, energyWh: 250n };

describe('ReceiptSigner', () => {
  it('has the address of its key', () => {
    expect(signer().address).toBe(new Wallet(bytesToHex(DEVICE_KEY)).address.toLowerCase());
  });

  it('signs receipts that recover to its address', () => {
    const s = signer();
    const sig = s.sign(receipt);
    expect(sig).toMatch(/^0x[0-9a-f]{130}$/);
    const rec = recoverAddress(receiptDigest(SEPARATOR, receipt), hexToBytes(sig));
    expect(rec).toEqual({ ok: true, address: s.address });
  });

  it('agrees with ethers verifyTypedData under the same domain', () => {
    const d = domain(31337n, '0x5fbdb2315678afecb367f032d93f642f64180aa3');
    const sig = signer().sign(receipt);
    expect(verifyTypedData(d, RECEIPT_TYPES, receipt, sig).toLowerCase()).toBe(signer().address);
    const other = domain(1n, '0x5fbdb2315678afecb367f032d93f642f64180aa3');
    expect(verifyTypedData(other, RECEIPT_TYPES, receipt, sig).toLowerCase()).not.toBe(signer().address);
  });

  it('refuses keys and separators of the wrong size', () => {
    expect(() => new ReceiptSigner(new Uint8Array(31), SEPARATOR)).toThrow(/32 bytes/);
    expect(() => new ReceiptSigner(DEVICE_KEY, new Uint8Array(16))).toThrow(/separator/);
  });
});
