// Session-key signatures: ECDSA P-256 over SHA-256, checked natively by node:crypto (OpenSSL, no addon).
// The key is the 65-byte SEC1 point a browser's WebCrypto exports; the signature its raw r ‖ s (P1363).

import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { hexToBytes } from '../../contracts/eip712.js';

/** Parsed keys kept at most (a key per live rental; parsing costs more than a verify's setup). */
const MAX_CACHED_KEYS = 1024;
const keys = new Map<string, KeyObject | null>();

/**
 * The KeyObject of an uncompressed P-256 point (0x04 ‖ x ‖ y hex), or undefined when it is not a
 * point on the curve. Cached: the same rental's key is parsed once.
 */
export function p256Key(publicKeyHex: string): KeyObject | undefined {
  const hex = publicKeyHex.toLowerCase();
  let key = keys.get(hex);
  if (key === undefined) {
    key = parse(hex);
    if (keys.size >= MAX_CACHED_KEYS) {
      const oldest = keys.keys().next();
      if (!oldest.done) keys.delete(oldest.value);
    }
    keys.set(hex, key);
  }
  return key ?? undefined;
}

function parse(hex: string): KeyObject | null {
  if (!/^0x04[0-9a-f]{128}$/.test(hex)) return null;
  const point = Buffer.from(hexToBytes(hex));
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33, 65).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    return null; // not on the curve
  }
}

/**
 * True when `signature` (64 bytes r ‖ s) is the key's ECDSA P-256 / SHA-256 signature of `message`.
 * Both s and n − s verify (ECDSA's own malleability; WebCrypto emits either): callers key
 * single use on the message, never on the signature bytes.
 */
export function verifyP256(publicKeyHex: string, message: Uint8Array, signature: Uint8Array): boolean {
  const key = p256Key(publicKeyHex);
  if (!key || signature.length !== 64) return false;
  try {
    return verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
