// Access tokens for the unlock benchmark, signed ahead of the timed loops (signing is the phone's cost,
// not the agent's) with the same digest and low-s signature a wallet's eth_signTypedData_v4 produces.

import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { accessDigest, bytesToHex, sessionDigest, signDigest } from '../../contracts/eip712.js';
import { type Access, type Action, deviceOf } from '../../contracts/typedData.js';
import type { WireToken } from '../../guest/client.js';

/** A token as the benchmark sends it: wallet-signed (signature) or session-key-signed (sessionSignature). */
export type BenchToken = Omit<WireToken, 'signature'> &
  ({ signature: string } | { sessionSignature: string });

/** A session key as a guest page's WebCrypto holds it: P-256, its public point as 0x04 ‖ x ‖ y. */
export interface BenchSessionKey {
  publicKey: `0x${string}`;
  privateKey: KeyObject;
}

export function sessionKeyPair(): BenchSessionKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x as string, 'base64url'),
    Buffer.from(jwk.y as string, 'base64url'),
  ]);
  return { publicKey: bytesToHex(point), privateKey };
}

/** The wallet's one signature per rental: a Session grant for `key`, until `end`, in wire form. */
export function signGrant(
  separator: Uint8Array,
  walletKey: Uint8Array,
  rentalId: bigint,
  end: bigint,
  key: BenchSessionKey,
): Record<string, unknown> {
  const session = { rentalId, deviceId: deviceOf(rentalId), sessionKey: key.publicKey, validUntil: end };
  return {
    session: {
      ...session,
      rentalId: rentalId.toString(),
      deviceId: session.deviceId.toString(),
      validUntil: Number(end),
    },
    signature: bytesToHex(signDigest(sessionDigest(separator, session), walletKey)),
  };
}

/** Signs one token with the session key (P-256 / SHA-256 over its EIP-712 digest, r ‖ s), as WebCrypto does. */
export function signSessionToken(
  separator: Uint8Array,
  key: BenchSessionKey,
  t: TokenFields,
  id = requestId(),
): BenchToken {
  const access = accessOf(t);
  const sig = sign('sha256', accessDigest(separator, access), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return { access: wireAccess(t, access), sessionSignature: bytesToHex(sig), id };
}

/** `count` unlock/lock pairs signed by a session key. */
export function sessionPairs(
  separator: Uint8Array,
  key: BenchSessionKey,
  rentalId: bigint,
  validUntil: number,
  count: number,
): [BenchToken, BenchToken][] {
  return Array.from({ length: count }, () => [
    signSessionToken(separator, key, { rentalId, action: 'unlock', nonce: randomNonce(), validUntil }),
    signSessionToken(separator, key, { rentalId, action: 'lock', nonce: randomNonce(), validUntil }),
  ]);
}

function accessOf(t: TokenFields): Access {
  return {
    rentalId: t.rentalId,
    deviceId: deviceOf(t.rentalId),
    action: t.action,
    nonce: t.nonce,
    validUntil: BigInt(t.validUntil),
  };
}

function wireAccess(t: TokenFields, access: Access): WireToken['access'] {
  return {
    rentalId: access.rentalId.toString(),
    deviceId: access.deviceId.toString(),
    action: t.action,
    nonce: t.nonce.toString(),
    validUntil: t.validUntil,
  };
}

/** A fresh request id: its own reply topic, and with it its own rate-limit source at the agent. */
export function requestId(): string {
  return randomBytes(8).toString('hex');
}

export function randomNonce(): bigint {
  return BigInt(`0x${randomBytes(16).toString('hex')}`);
}

export interface TokenFields {
  rentalId: bigint;
  action: Action;
  nonce: bigint;
  /** Unix seconds. */
  validUntil: number;
}

/** Signs one access token with `key` and returns it in the wire shape guests send. */
export function signToken(
  separator: Uint8Array,
  key: Uint8Array,
  t: TokenFields,
  id = requestId(),
): WireToken {
  const access = accessOf(t);
  const signature = bytesToHex(signDigest(accessDigest(separator, access), key));
  return { access: wireAccess(t, access), signature, id };
}

/** `count` unlock/lock pairs for one rental, valid until `validUntil`, each token with its own source. */
export function unlockLockPairs(
  separator: Uint8Array,
  key: Uint8Array,
  rentalId: bigint,
  validUntil: number,
  count: number,
): [WireToken, WireToken][] {
  const pairs: [WireToken, WireToken][] = [];
  for (let i = 0; i < count; i++) {
    pairs.push([
      signToken(separator, key, { rentalId, action: 'unlock', nonce: randomNonce(), validUntil }),
      signToken(separator, key, { rentalId, action: 'lock', nonce: randomNonce(), validUntil }),
    ]);
  }
  return pairs;
}
