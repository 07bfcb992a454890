// Access tokens for the unlock benchmark, signed ahead of the timed loops (signing is the phone's cost,
// not the agent's) with the same digest and low-s signature a wallet's eth_signTypedData_v4 produces.

import { randomBytes } from 'node:crypto';
import { accessDigest, bytesToHex, signDigest } from '../../contracts/eip712.js';
import { type Access, type Action, deviceOf } from '../../contracts/typedData.js';
import type { WireToken } from '../../guest/client.js';

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
  const access: Access = {
    rentalId: t.rentalId,
    deviceId: deviceOf(t.rentalId),
    action: t.action,
    nonce: t.nonce,
    validUntil: BigInt(t.validUntil),
  };
  const signature = bytesToHex(signDigest(accessDigest(separator, access), key));
  return {
    access: {
      rentalId: access.rentalId.toString(),
      deviceId: access.deviceId.toString(),
      action: t.action,
      nonce: t.nonce.toString(),
      validUntil: t.validUntil,
    },
    signature,
    id,
  };
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
