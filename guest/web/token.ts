// The Access token the guest's wallet signs: the EIP-712 JSON for eth_signTypedData_v4, built from
// the one definition of the domain and types in contracts/typedData.ts, and its wire form.

import {
  ACCESS_TYPES,
  type Action,
  DOMAIN_NAME,
  DOMAIN_VERSION,
  EIP712_DOMAIN_TYPE,
} from '../../contracts/typedData.js';

export interface WireToken {
  access: { rentalId: string; deviceId: string; action: Action; nonce: string; validUntil: number };
  signature: string;
  id: string;
}

/** A fresh 128-bit random nonce as a decimal string. */
export function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return BigInt(`0x${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`).toString();
}

/** The unsigned access: valid for `validFor` seconds from `now` (the phone's clock). */
export function accessFor(
  rentalId: bigint,
  action: Action,
  now = Math.floor(Date.now() / 1000),
  validFor = 60,
): WireToken['access'] {
  return {
    rentalId: rentalId.toString(),
    deviceId: (rentalId >> 64n).toString(),
    action,
    nonce: randomNonce(),
    validUntil: now + validFor,
  };
}

/** The eth_signTypedData_v4 JSON; `chainId` is the wallet's active chain (checked equal to the gateway's). */
export function typedDataJson(access: WireToken['access'], chainId: bigint, contract: string): string {
  return JSON.stringify({
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...ACCESS_TYPES },
    primaryType: 'Access',
    domain: {
      name: DOMAIN_NAME,
      version: DOMAIN_VERSION,
      chainId: chainId.toString(),
      verifyingContract: contract,
    },
    message: access,
  });
}
