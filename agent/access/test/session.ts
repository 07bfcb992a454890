// Session-key test helpers: a P-256 key as a browser's WebCrypto would hold it (signing with node:crypto,
// the same algorithm and encoding), grants signed by a wallet with ethers, and the wire forms.

import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { Wallet } from 'ethers';
import { accessDigest, bytesToHex } from '../../../contracts/eip712.js';
import { type Access, type Domain, SESSION_TYPES, type Session } from '../../../contracts/typedData.js';
import { DOMAIN, GUEST_KEY, SEPARATOR } from './fixtures.js';

/** P-256 group order: s and n − s are both valid ECDSA signatures of the same message. */
export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export interface SessionKey {
  /** 0x04 ‖ x ‖ y, as WebCrypto's exportKey('raw') gives it. */
  publicKey: `0x${string}`;
  privateKey: KeyObject;
  /** Signs an Access as a session token: P-256 / SHA-256 over its EIP-712 digest, r ‖ s. */
  sign(a: Access, separator?: Uint8Array): `0x${string}`;
}

export function newSessionKey(): SessionKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x as string, 'base64url'),
    Buffer.from(jwk.y as string, 'base64url'),
  ]);
  return {
    publicKey: bytesToHex(point),
    privateKey,
    sign: (a, separator = SEPARATOR) =>
      bytesToHex(sign('sha256', accessDigest(separator, a), { key: privateKey, dsaEncoding: 'ieee-p1363' })),
  };
}

/** The same signature with s replaced by n − s (ECDSA's malleable twin). */
export function flipS(sig: `0x${string}`): `0x${string}` {
  const r = sig.slice(2, 66);
  const s = BigInt(`0x${sig.slice(66)}`);
  return `0x${r}${(P256_N - s).toString(16).padStart(64, '0')}`;
}

/** A raw r ‖ s signature re-encoded as ASN.1 DER (what node:crypto and OpenSSL emit by default). */
export function toDer(sig: `0x${string}`): `0x${string}` {
  const int = (hex: string): Buffer => {
    let b = Buffer.from(hex, 'hex');
    while (b.length > 1 && b[0] === 0 && ((b[1] as number) & 0x80) === 0) b = b.subarray(1);
    if (((b[0] as number) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([2, b.length]), b]);
  };
  const body = Buffer.concat([int(sig.slice(2, 66)), int(sig.slice(66))]);
  return bytesToHex(Buffer.concat([Buffer.from([0x30, body.length]), body]));
}

export function sessionFor(rentalId: bigint, key: SessionKey, validUntil: bigint): Session {
  return { rentalId, deviceId: rentalId >> 64n, sessionKey: key.publicKey, validUntil };
}

/** eth_signTypedData_v4 of a Session grant, as a wallet does it. */
export function signGrant(s: Session, privateKey: string = GUEST_KEY, d: Domain = DOMAIN): Promise<string> {
  return new Wallet(privateKey).signTypedData(d, { Session: [...SESSION_TYPES.Session] }, s);
}

export function grantWire(s: Session, signature: string, id?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    session: {
      rentalId: s.rentalId.toString(),
      deviceId: s.deviceId.toString(),
      sessionKey: s.sessionKey,
      validUntil: Number(s.validUntil),
    },
    signature,
  };
  if (id !== undefined) out.id = id;
  return out;
}

export function sessionTokenWire(a: Access, sessionSignature: string, id?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    access: {
      rentalId: a.rentalId.toString(),
      deviceId: a.deviceId.toString(),
      action: a.action,
      nonce: a.nonce.toString(),
      validUntil: Number(a.validUntil),
    },
    sessionSignature,
  };
  if (id !== undefined) out.id = id;
  return out;
}
