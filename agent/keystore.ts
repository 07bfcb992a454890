// Decrypts the gateway key from a Web3 Secret Storage v3 JSON keystore (what `latchkey keygen`, geth and
// `cast wallet` write) with node:crypto, not ethers' decryptKeystoreJson: ethers' scrypt is pure JS
// (seconds on a Raspberry Pi at N = 2^17) and the agent loads ethers lazily to keep its memory down,
// while node:crypto's scrypt is OpenSSL's, native.

import { createDecipheriv, pbkdf2Sync, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { addressOfPrivateKey, bytesToHex } from '../contracts/eip712.js';
import { LatchkeyError } from './errors.js';

/** Why a keystore was refused; lets a caller word its own message for a wrong password. */
export type KeystoreProblem = 'json' | 'version' | 'kdf' | 'cipher' | 'params' | 'password' | 'address';

/** A keystore that could not be used. Never carries the password or any part of the key. */
export class KeystoreError extends LatchkeyError {
  readonly problem: KeystoreProblem;

  constructor(problem: KeystoreProblem, message: string) {
    super('CONFIG_INVALID', message);
    this.problem = problem;
  }
}

type KdfParams =
  | { kdf: 'scrypt'; salt: Buffer; dklen: number; n: number; r: number; p: number }
  | { kdf: 'pbkdf2'; salt: Buffer; dklen: number; c: number };

/** The parts of a v3 keystore needed to decrypt it, checked for shape but not yet for the password. */
export interface Keystore {
  kdf: KdfParams;
  iv: Buffer;
  ciphertext: Buffer;
  mac: Buffer;
  /** Lower-case 0x address the file claims, when it has one. */
  address: string | undefined;
}

// The bounds keep a damaged or hostile file from asking for more memory or time than a gateway has:
// geth's "standard" scrypt (N = 2^18, r = 8) needs 256 MiB; 1 GiB is the most accepted.
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;
const MAX_SCRYPT_P = 16;
const MAX_PBKDF2_ROUNDS = 10_000_000;
// the first 16 bytes of the derived key are the AES key, the next 16 go into the MAC; the spec allows more
const MIN_DKLEN = 32;
const MAX_DKLEN = 1024;
const KEY_LENGTH = 32;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function params(problem: string): KeystoreError {
  return new KeystoreError('params', `damaged keystore: ${problem}`);
}

function hexField(v: unknown, name: string, length?: number): Buffer {
  const hex = typeof v === 'string' ? v.replace(/^0x/i, '') : undefined;
  if (hex === undefined || hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
    throw params(`${name} is not hex`);
  const bytes = Buffer.from(hex, 'hex');
  if (length !== undefined && bytes.length !== length)
    throw params(`${name} has ${bytes.length} bytes, expected ${length}`);
  return bytes;
}

function intField(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw params(`${name} must be an integer in [${min}, ${max}]`);
  return v;
}

function readKdf(kdf: unknown, p: unknown): KdfParams {
  if (kdf !== 'scrypt' && kdf !== 'pbkdf2')
    throw new KeystoreError('kdf', `unsupported key derivation ${JSON.stringify(kdf)} (scrypt or pbkdf2)`);
  if (!isObject(p)) throw params('no kdfparams');
  const salt = hexField(p.salt, 'kdfparams.salt');
  const dklen = intField(p.dklen, 'kdfparams.dklen', MIN_DKLEN, MAX_DKLEN);
  if (kdf === 'pbkdf2') {
    if (p.prf !== 'hmac-sha256')
      throw new KeystoreError('kdf', `unsupported pbkdf2 prf ${JSON.stringify(p.prf)} (hmac-sha256)`);
    return { kdf, salt, dklen, c: intField(p.c, 'kdfparams.c', 1, MAX_PBKDF2_ROUNDS) };
  }
  const n = intField(p.n, 'kdfparams.n', 2, 2 ** 30);
  if ((n & (n - 1)) !== 0) throw params('kdfparams.n must be a power of 2');
  const r = intField(p.r, 'kdfparams.r', 1, 1024);
  // RFC 7914 asks n < 2^(16 r); OpenSSL (and ethers) refuse more, e.g. the v3 definition's own r = 1 example
  if (16 * r < 31 && n >= 2 ** (16 * r))
    throw new KeystoreError(
      'kdf',
      `unsupported scrypt parameters: n = 2^${Math.log2(n)} needs r ≥ ${Math.floor(Math.log2(n) / 16) + 1}, got ${r} (RFC 7914: n < 2^(16 r))`,
    );
  if (scryptMemory(n, r, 1) > MAX_SCRYPT_MEMORY)
    throw params(`scrypt n × r needs more than ${MAX_SCRYPT_MEMORY / 2 ** 20} MiB`);
  return { kdf, salt, dklen, n, r, p: intField(p.p, 'kdfparams.p', 1, MAX_SCRYPT_P) };
}

/** What OpenSSL's scrypt allocates (its V and B arrays), which Node compares with `maxmem`. */
function scryptMemory(n: number, r: number, p: number): number {
  return 128 * r * (n + 2) + 128 * r * p;
}

/** Checks the shape of a keystore's JSON text; throws a KeystoreError naming what is wrong. */
export function parseKeystore(text: string): Keystore {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KeystoreError('json', 'not a JSON keystore: the file is not JSON');
  }
  if (!isObject(data)) throw new KeystoreError('json', 'not a JSON keystore: expected a JSON object');
  if (data.version !== 3)
    throw new KeystoreError(
      'version',
      `not a version 3 keystore (version ${JSON.stringify(data.version) ?? 'missing'})`,
    );
  // geth's older files spell it "Crypto"
  const c = data.crypto ?? data.Crypto;
  if (!isObject(c)) throw params('no crypto section');
  if (c.cipher !== 'aes-128-ctr')
    throw new KeystoreError('cipher', `unsupported cipher ${JSON.stringify(c.cipher)} (aes-128-ctr)`);
  const kdf = readKdf(c.kdf, c.kdfparams);
  const iv = hexField(isObject(c.cipherparams) ? c.cipherparams.iv : undefined, 'cipherparams.iv', 16);
  const ciphertext = hexField(c.ciphertext, 'ciphertext', KEY_LENGTH);
  const mac = hexField(c.mac, 'mac', 32);
  let address: string | undefined;
  if (data.address !== undefined) {
    if (typeof data.address !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(data.address))
      throw params('address is not a 20-byte hex address');
    address = `0x${data.address.replace(/^0x/i, '').toLowerCase()}`;
  }
  return { kdf, iv, ciphertext, mac, address };
}

function deriveKey(kdf: KdfParams, password: Buffer): Buffer {
  if (kdf.kdf === 'pbkdf2') return pbkdf2Sync(password, kdf.salt, kdf.c, kdf.dklen, 'sha256');
  // Node's default maxmem (32 MiB) refuses ethers' default N = 2^17, r = 8 (128 MiB).
  const maxmem = scryptMemory(kdf.n, kdf.r, kdf.p) + 1024 * 1024;
  return scryptSync(password, kdf.salt, kdf.dklen, { N: kdf.n, r: kdf.r, p: kdf.p, maxmem });
}

/**
 * The private key in a v3 keystore (JSON text or parsed) and its address, both lower-case 0x hex.
 * Throws a KeystoreError for a malformed file, a wrong password or a damaged file (MAC mismatch),
 * or a key whose address is not the one the file claims. Runs the key derivation once, synchronously.
 */
export function decryptKeystore(
  keystore: string | Keystore,
  password: string,
): { privateKey: `0x${string}`; address: string } {
  const ks = typeof keystore === 'string' ? parseKeystore(keystore) : keystore;
  // ethers and geth derive from the UTF-8 bytes; ethers normalizes to NFKC first, so do the same
  const derived = deriveKey(ks.kdf, Buffer.from(password.normalize('NFKC'), 'utf8'));
  try {
    const mac = keccak_256(Buffer.concat([derived.subarray(16, 32), ks.ciphertext]));
    if (!timingSafeEqual(mac, ks.mac))
      throw new KeystoreError('password', 'wrong password, or the keystore is damaged (MAC mismatch)');
    const decipher = createDecipheriv('aes-128-ctr', derived.subarray(0, 16), ks.iv);
    const key = Buffer.concat([decipher.update(ks.ciphertext), decipher.final()]);
    try {
      let address: string;
      try {
        address = addressOfPrivateKey(key);
      } catch {
        throw params('the decrypted key is not a valid secp256k1 private key');
      }
      if (ks.address !== undefined && ks.address !== address)
        throw new KeystoreError(
          'address',
          `the keystore's key is not for its address ${ks.address} (damaged or edited file)`,
        );
      return { privateKey: bytesToHex(key), address };
    } finally {
      key.fill(0);
    }
  } finally {
    derived.fill(0);
  }
}

/**
 * Why a file holding a secret (a keystore, its password) must not be used as it is: readable or
 * writable by its group or by others. Undefined when only its owner has access (or it is gone: the
 * read that follows reports that).
 */
export function secretFileProblem(path: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  const who = mode & 0o007 ? 'others' : 'its group';
  return `${path} is readable by ${who} (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`;
}

/**
 * Reads a keystore file for use as a gateway key: only its owner may read it (secretFileProblem), it
 * must be readable and a well-formed v3 keystore. Returns the parsed keystore, or every problem found,
 * each starting with `field`.
 */
export function readKeystoreFile(path: string, field: string): { keystore?: Keystore; problems: string[] } {
  const problems: string[] = [];
  const open = secretFileProblem(path);
  if (open) problems.push(`${field}: ${open}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    problems.push(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return { problems };
  }
  try {
    return { keystore: parseKeystore(text), problems };
  } catch (e) {
    if (!(e instanceof KeystoreError)) throw e;
    problems.push(`${field}: ${path}: ${e.message}`);
    return { problems };
  }
}

/** One of the gateway's previous keys, kept after a rotation: a v3 keystore under the same rules as the current one. */
export interface PreviousKeystore {
  file: string;
  keystore: Keystore;
}

/**
 * Reads `gatewayPreviousKeystores`: a list of keystore files, each under the rules of
 * readKeystoreFile (mode 600, readable, v3) and encrypted with the current keystore's password.
 * A key rotated away is kept this way so receipts of rentals made under it can still be signed.
 */
export function readPreviousKeystores(
  paths: unknown,
  field = 'gatewayPreviousKeystores',
): { keystores: PreviousKeystore[]; problems: string[] } {
  if (paths === undefined) return { keystores: [], problems: [] };
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p !== ''))
    return { keystores: [], problems: [`${field}: expected a list of keystore file paths`] };
  const keystores: PreviousKeystore[] = [];
  const problems: string[] = [];
  for (const file of new Set(paths as string[])) {
    const read = readKeystoreFile(file, field);
    problems.push(...read.problems);
    if (read.keystore && read.problems.length === 0) keystores.push({ file, keystore: read.keystore });
  }
  return { keystores, problems };
}

/**
 * Decrypts the previous keystores with `password`; each key must differ from `currentKey` and from the
 * others. Returns the private keys (0x hex), in the order given, or the problems.
 */
export function decryptPreviousKeys(
  keystores: readonly PreviousKeystore[],
  password: string,
  currentKey: string,
  field = 'gatewayPreviousKeystores',
): { keys: `0x${string}`[]; problems: string[] } {
  const seen = new Set<string>();
  try {
    seen.add(addressOfPrivateKey(Buffer.from(currentKey.replace(/^0x/i, ''), 'hex')));
  } catch {
    // the current key's own problem is reported where it is read
  }
  const keys: `0x${string}`[] = [];
  const problems: string[] = [];
  for (const { file, keystore } of keystores) {
    try {
      const { privateKey, address } = decryptKeystore(keystore, password);
      if (seen.has(address))
        problems.push(`${field}: ${file}: key ${address} is the current key or listed twice`);
      else {
        seen.add(address);
        keys.push(privateKey);
      }
    } catch (e) {
      if (!(e instanceof KeystoreError)) throw e;
      problems.push(`${field}: ${file}: ${e.message}`);
    }
  }
  return { keys, problems };
}
