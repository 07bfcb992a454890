// Shared access-test helpers: a domain, keys, rentals, and tokens signed by three independent
// implementations (ethers, @metamask/eth-sig-util, the agent's own noble signer).

import { randomBytes } from 'node:crypto';
import { SignTypedDataVersion, signTypedData } from '@metamask/eth-sig-util';
import { Wallet } from 'ethers';
import {
  accessDigest,
  bytesToHex,
  domainSeparator,
  hexToBytes,
  signDigest,
} from '../../../contracts/eip712.js';
import {
  ACCESS_TYPES,
  type Access,
  type Domain,
  domain,
  EIP712_DOMAIN_TYPE,
} from '../../../contracts/typedData.js';
import type { StoredRental } from '../../store/store.js';
import type { VerifyContext } from '../verify.js';

export const CHAIN_ID = 31337n;
export const CONTRACT = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
export const DOMAIN = domain(CHAIN_ID, CONTRACT);
export const SEPARATOR = domainSeparator(DOMAIN);

// anvil's well-known dev keys #1 and #2: the renter and somebody else.
export const GUEST_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
export const OTHER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';
export const guest = new Wallet(GUEST_KEY);

export const LOCK = 1n;
export const SOCKET = 2n;
/** The test's "now" in unix seconds. */
export const NOW = 1_800_000_000;

export function rentalOf(deviceId: bigint, over: Partial<StoredRental> = {}): StoredRental {
  return {
    id: (deviceId << 64n) | 1n,
    guest: guest.address,
    start: BigInt(NOW - 600),
    end: BigInt(NOW + 3600),
    deposit: 8_400_000_000_000_000n,
    pricePerSecond: 1_000_000_000_000n,
    pricePerWh: 0n,
    signer: '0x00000000000000000000000000000000005e1e57',
    maxWatts: 0n,
    cancelWindow: 0n,
    deviceId,
    status: 'open',
    blockNumber: 10,
    blockHash: `0x${'ab'.repeat(32)}`,
    ...over,
  };
}

export function accessFor(deviceId: bigint, over: Partial<Access> = {}): Access {
  return {
    rentalId: (deviceId << 64n) | 1n,
    deviceId,
    action: deviceId === SOCKET ? 'on' : 'unlock',
    nonce: BigInt(bytesToHex(randomBytes(32))),
    validUntil: BigInt(NOW + 120),
    ...over,
  };
}

export function signEthers(a: Access, d: Domain = DOMAIN, key = GUEST_KEY): Promise<string> {
  return new Wallet(key).signTypedData(d, { Access: [...ACCESS_TYPES.Access] }, a);
}

/** eth_signTypedData_v4 as MetaMask does it: the full typed-data object, numbers as decimal strings. */
export function signEthSigUtil(a: Access, d: Domain = DOMAIN, key = GUEST_KEY): string {
  return signTypedData({
    privateKey: Buffer.from(hexToBytes(key)),
    version: SignTypedDataVersion.V4,
    data: {
      types: {
        EIP712Domain: EIP712_DOMAIN_TYPE.map((f) => ({ ...f })),
        Access: ACCESS_TYPES.Access.map((f) => ({ ...f })),
      },
      primaryType: 'Access',
      domain: {
        name: d.name,
        version: d.version,
        chainId: Number(d.chainId),
        verifyingContract: d.verifyingContract,
      },
      message: {
        rentalId: a.rentalId.toString(),
        deviceId: a.deviceId.toString(),
        action: a.action,
        nonce: a.nonce.toString(),
        validUntil: a.validUntil.toString(),
      },
    },
  });
}

export function signNoble(a: Access, separator = SEPARATOR, key = GUEST_KEY): string {
  return bytesToHex(signDigest(accessDigest(separator, a), hexToBytes(key)));
}

/** The token as it travels (JSON-able object). */
export function wire(a: Access, signature: string, id?: string): Record<string, unknown> {
  const token: Record<string, unknown> = {
    access: {
      rentalId: a.rentalId.toString(),
      deviceId: a.deviceId.toString(),
      action: a.action,
      nonce: a.nonce.toString(),
      validUntil: Number(a.validUntil),
    },
    signature,
  };
  if (id !== undefined) token.id = id;
  return token;
}

/** A verification context over an in-memory rental map and used-digest set, counting lookups. */
export function memoryContext(
  deviceId: bigint,
  rentals: StoredRental[],
  over: Partial<VerifyContext> = {},
): VerifyContext & { used: Set<string>; calls: { rental: number; nonceUsed: number } } {
  const byId = new Map(rentals.map((r) => [r.id, r]));
  const used = new Set<string>();
  const calls = { rental: 0, nonceUsed: 0 };
  return {
    now: NOW,
    deviceId,
    kind: deviceId === SOCKET ? 'socket' : 'lock',
    separator: SEPARATOR,
    maxValiditySeconds: 300,
    rental: (id) => {
      calls.rental++;
      return byId.get(id);
    },
    nonceUsed: (d) => {
      calls.nonceUsed++;
      return used.has(d);
    },
    used,
    calls,
    ...over,
  };
}

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The malleable twin of a 65-byte signature: s → n − s, v flipped. */
export function highS(sig: string): string {
  const b = hexToBytes(sig);
  const s = BigInt(bytesToHex(b.subarray(32, 64)));
  b.set(hexToBytes((N - s).toString(16).padStart(64, '0')), 32);
  b[64] = b[64] === 27 ? 28 : 27;
  return bytesToHex(b);
}

/** EIP-2098 compact form: r ‖ (yParity << 255 | s), 64 bytes. */
export function compact(sig: string): string {
  const b = hexToBytes(sig);
  const out = b.slice(0, 64);
  if (b[64] === 28) out[32] = (out[32] as number) | 0x80;
  return bytesToHex(out);
}

/** v as 0/1 instead of 27/28. */
export function vZeroOne(sig: string): string {
  const b = hexToBytes(sig);
  b[64] = (b[64] as number) - 27;
  return bytesToHex(b);
}
