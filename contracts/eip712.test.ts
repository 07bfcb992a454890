import { TypedDataEncoder, verifyTypedData, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  accessDigest,
  addressOfPrivateKey,
  bytesToHex,
  domainSeparator,
  hexToBytes,
  receiptDigest,
  recoverAddress,
  sessionDigest,
  signDigest,
} from './eip712.js';
import {
  ACCESS_TYPES,
  type Access,
  domain,
  RECEIPT_TYPES,
  type Receipt,
  SESSION_TYPES,
  type Session,
} from './typedData.js';

const d = domain(31337n, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
const sep = domainSeparator(d);
const key = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const wallet = new Wallet(key);
const access: Access = {
  rentalId: (1n << 64n) | 3n,
  deviceId: 1n,
  action: 'unlock',
  nonce: 42n,
  validUntil: 1_900_000_000n,
};
const session: Session = {
  rentalId: (1n << 64n) | 3n,
  deviceId: 1n,
  sessionKey: `0x04${'11'.repeat(32)}${'22'.repeat(32)}`,
  validUntil: 1_900_003_600n,
};
const receipt: Receipt = { rentalId: (2n << 64n) | 1n, secondsUsed: 3600n, energyWh: 120n };

describe('eip712 digests', () => {
  it('match ethers TypedDataEncoder for Access and Receipt', () => {
    expect(bytesToHex(sep)).toBe(TypedDataEncoder.hashDomain(d));
    expect(bytesToHex(accessDigest(sep, access))).toBe(TypedDataEncoder.hash(d, ACCESS_TYPES, access));
    expect(bytesToHex(receiptDigest(sep, receipt))).toBe(TypedDataEncoder.hash(d, RECEIPT_TYPES, receipt));
  });

  it('match ethers TypedDataEncoder for a Session grant (bytes hashed as EIP-712 says)', () => {
    expect(bytesToHex(sessionDigest(sep, session))).toBe(TypedDataEncoder.hash(d, SESSION_TYPES, session));
    const other = { ...session, sessionKey: `0x04${'11'.repeat(32)}${'23'.repeat(32)}` as const };
    expect(bytesToHex(sessionDigest(sep, other))).toBe(TypedDataEncoder.hash(d, SESSION_TYPES, other));
    expect(bytesToHex(sessionDigest(sep, other))).not.toBe(bytesToHex(sessionDigest(sep, session)));
  });

  it('a different chain or contract gives a different digest', () => {
    const other = domainSeparator(domain(1n, d.verifyingContract));
    expect(bytesToHex(accessDigest(other, access))).not.toBe(bytesToHex(accessDigest(sep, access)));
  });

  it('rejects values that do not fit their Solidity types', () => {
    expect(() => accessDigest(sep, { ...access, validUntil: 1n << 64n })).toThrow(RangeError);
    expect(() => receiptDigest(sep, { ...receipt, rentalId: -1n })).toThrow(RangeError);
  });
});

describe('signatures', () => {
  it('noble signatures verify in ethers and ethers signatures recover with noble', async () => {
    const sig = signDigest(receiptDigest(sep, receipt), hexToBytes(key));
    expect(verifyTypedData(d, RECEIPT_TYPES, receipt, bytesToHex(sig))).toBe(wallet.address);
    const ethersSig = hexToBytes(await wallet.signTypedData(d, ACCESS_TYPES, access));
    const rec = recoverAddress(accessDigest(sep, access), ethersSig);
    expect(rec).toEqual({ ok: true, address: wallet.address.toLowerCase() });
    expect(addressOfPrivateKey(hexToBytes(key))).toBe(wallet.address.toLowerCase());
  });

  it('refuses malleable and mis-sized encodings of a valid signature', () => {
    const digest = accessDigest(sep, access);
    const sig = signDigest(digest, hexToBytes(key));
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const high = sig.slice();
    high.set(hexToBytes((n - BigInt(bytesToHex(sig.subarray(32, 64)))).toString(16).padStart(64, '0')), 32);
    high[64] = sig[64] === 27 ? 28 : 27;
    expect(recoverAddress(digest, high)).toEqual({ ok: false, problem: 'high-s' });
    expect(recoverAddress(digest, sig.subarray(0, 64))).toEqual({ ok: false, problem: 'length' });
    expect(recoverAddress(digest, new Uint8Array([...sig, 0]))).toEqual({ ok: false, problem: 'length' });
    const v0 = sig.slice();
    v0[64] = (sig[64] as number) - 27;
    expect(recoverAddress(digest, v0)).toEqual({ ok: false, problem: 'v' });
  });
});
