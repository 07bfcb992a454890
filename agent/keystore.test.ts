import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { decryptKeystoreJsonSync, encryptKeystoreJson, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptKeystore,
  decryptPreviousKeys,
  KeystoreError,
  type KeystoreProblem,
  parseKeystore,
  readPreviousKeystores,
} from './keystore.js';

const PASSWORD = 'correct horse battery';
const wallet = new Wallet(`0x${'4c'.repeat(31)}01`);
let cheap: string;

beforeAll(async () => {
  cheap = await encryptKeystoreJson(wallet, PASSWORD, { scrypt: { N: 1 << 10 } });
});

/** The KeystoreError `run` throws; fails the test if it throws nothing or something else. */
function refusal(run: () => unknown): KeystoreError {
  try {
    run();
  } catch (e) {
    if (e instanceof KeystoreError) return e;
    throw e;
  }
  throw new Error('expected a KeystoreError');
}

function expectRefused(run: () => unknown, problem: KeystoreProblem, message: RegExp): void {
  const e = refusal(run);
  expect(e.code).toBe('CONFIG_INVALID');
  expect(e.problem).toBe(problem);
  expect(e.message).toMatch(message);
  expect(e.message).not.toContain(PASSWORD);
  expect(e.message.toLowerCase()).not.toContain(wallet.privateKey.slice(2));
}

interface Keyfile {
  version: unknown;
  address: string;
  crypto: Keyfile['Crypto'];
  Crypto: {
    cipher: string;
    cipherparams: { iv: string };
    ciphertext: string;
    kdf: string;
    kdfparams: Record<string, unknown>;
    mac: string;
  };
}

/** The keystore JSON with the field at dotted `path` set to `value`. */
function withField(json: string, path: string, value: unknown): string {
  return edited(json, (o) => {
    const keys = path.split('.');
    const last = keys.pop() as string;
    let at: Record<string, unknown> = o as unknown as Record<string, unknown>;
    for (const k of keys) at = at[k] as Record<string, unknown>;
    at[last] = value;
  });
}

/** The keystore JSON with `edit` applied to its parsed object. */
function edited(json: string, edit: (o: Keyfile) => void): string {
  const o = JSON.parse(json) as Keyfile;
  edit(o);
  return JSON.stringify(o);
}

/** A pbkdf2 keystore, which ethers can read but not write. */
function pbkdf2Keystore(privateKey: string, password: string, c: number): string {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const derived = pbkdf2Sync(password, salt, c, 32, 'sha256');
  const cipher = createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(privateKey.slice(2), 'hex')), cipher.final()]);
  const mac = keccak_256(Buffer.concat([derived.subarray(16, 32), ciphertext]));
  return JSON.stringify({
    version: 3,
    id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: iv.toString('hex') },
      ciphertext: ciphertext.toString('hex'),
      kdf: 'pbkdf2',
      kdfparams: { c, dklen: 32, prf: 'hmac-sha256', salt: salt.toString('hex') },
      mac: Buffer.from(mac).toString('hex'),
    },
  });
}

describe('decryptKeystore', () => {
  it('decrypts a keystore ethers wrote to the same key and address', () => {
    const k = decryptKeystore(cheap, PASSWORD);
    expect(k.privateKey).toBe(wallet.privateKey);
    expect(k.address).toBe(wallet.address.toLowerCase());
    expect(decryptKeystore(parseKeystore(cheap), PASSWORD)).toEqual(k);
  });

  it("decrypts ethers' default scrypt cost (N = 2^17, r = 8: above Node's default maxmem)", async () => {
    const json = await encryptKeystoreJson(wallet, PASSWORD);
    expect(parseKeystore(json).kdf).toMatchObject({ kdf: 'scrypt', n: 2 ** 17, r: 8, p: 1 });
    expect(decryptKeystore(json, PASSWORD).privateKey).toBe(wallet.privateKey);
  }, 60_000);

  it('decrypts a pbkdf2 keystore', () => {
    const json = pbkdf2Keystore(wallet.privateKey, PASSWORD, 1000);
    // the fixture is a standard keystore: ethers reads it too
    expect(decryptKeystoreJsonSync(json, PASSWORD).privateKey).toBe(wallet.privateKey);
    expect(decryptKeystore(json, PASSWORD)).toEqual({
      privateKey: wallet.privateKey,
      address: wallet.address.toLowerCase(),
    });
  });

  it("decrypts the Web3 Secret Storage definition's pbkdf2 test vector", () => {
    const vector = JSON.stringify({
      crypto: {
        cipher: 'aes-128-ctr',
        cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
        ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
        kdf: 'pbkdf2',
        kdfparams: {
          c: 262144,
          dklen: 32,
          prf: 'hmac-sha256',
          salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd',
        },
        mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
      },
      id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
      version: 3,
    });
    expect(decryptKeystore(vector, 'testpassword').privateKey).toBe(
      '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d',
    );
  });

  it('refuses a wrong password', () => {
    expectRefused(
      () => decryptKeystore(cheap, 'not it'),
      'password',
      /^wrong password, or the keystore is damaged/,
    );
  });

  it('refuses a file with one ciphertext byte flipped (MAC mismatch)', () => {
    const flipped = edited(cheap, (o) => {
      const hex: string = o.Crypto.ciphertext;
      o.Crypto.ciphertext = `${hex.slice(0, 10)}${(Number.parseInt(hex.slice(10, 12), 16) ^ 1).toString(16).padStart(2, '0')}${hex.slice(12)}`;
    });
    expectRefused(() => decryptKeystore(flipped, PASSWORD), 'password', /MAC mismatch/);
  });

  it('refuses a key that is not for the address in the file', () => {
    const other = new Wallet(`0x${'5d'.repeat(32)}`).address;
    const moved = edited(cheap, (o) => {
      o.address = other.slice(2).toLowerCase();
    });
    expectRefused(
      () => decryptKeystore(moved, PASSWORD),
      'address',
      new RegExp(`not for its address ${other.toLowerCase()}`),
    );
  });

  it('says what is wrong with a file it cannot use, before deriving anything', () => {
    expectRefused(() => parseKeystore('hello'), 'json', /is not JSON/);
    expectRefused(() => parseKeystore('[3]'), 'json', /expected a JSON object/);
    const pbkdf2 = pbkdf2Keystore(wallet.privateKey, PASSWORD, 1);
    const broken: [string, string, unknown, KeystoreProblem, RegExp][] = [
      [cheap, 'version', 1, 'version', /not a version 3 keystore \(version 1\)/],
      [cheap, 'Crypto.kdf', 'argon2id', 'kdf', /unsupported key derivation "argon2id"/],
      [cheap, 'Crypto.cipher', 'aes-128-cbc', 'cipher', /unsupported cipher "aes-128-cbc"/],
      [cheap, 'Crypto.kdfparams.n', 1000, 'params', /n must be a power of 2/],
      [cheap, 'Crypto.kdfparams.n', 2 ** 24, 'params', /needs more than 1024 MiB/],
      [cheap, 'Crypto.kdfparams.dklen', 16, 'params', /dklen must be an integer in \[32, 1024\]/],
      [cheap, 'Crypto.mac', 'zz', 'params', /mac is not hex/],
      [cheap, 'Crypto.cipherparams.iv', '00', 'params', /iv has 1 bytes, expected 16/],
      [pbkdf2, 'crypto.kdfparams.prf', 'hmac-sha1', 'kdf', /unsupported pbkdf2 prf "hmac-sha1"/],
    ];
    for (const [json, path, value, problem, message] of broken)
      expectRefused(() => parseKeystore(withField(json, path, value)), problem, message);
  });

  it('refuses scrypt parameters OpenSSL refuses (RFC 7914: n < 2^(16 r)) with a clear message', () => {
    const r1 = edited(cheap, (o) => {
      o.Crypto.kdfparams.r = 1;
      o.Crypto.kdfparams.n = 2 ** 16;
    });
    expectRefused(() => parseKeystore(r1), 'kdf', /n = 2\^16 needs r ≥ 2, got 1/);
  });
});

describe('previous gateway keys (gatewayPreviousKeystores)', () => {
  const older = new Wallet(`0x${'5d'.repeat(31)}02`);
  const oldest = new Wallet(`0x${'6e'.repeat(31)}03`);
  let dir: string;
  const file = (name: string, text: string, mode = 0o600): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    chmodSync(path, mode);
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-keys-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads each keystore, decrypts it with the gateway password, in the order given', async () => {
    const a = file('older.json', await encryptKeystoreJson(older, PASSWORD, { scrypt: { N: 1 << 10 } }));
    const b = file('oldest.json', await encryptKeystoreJson(oldest, PASSWORD, { scrypt: { N: 1 << 10 } }));
    const read = readPreviousKeystores([a, b]);
    expect(read.problems).toEqual([]);
    expect(read.keystores.map((k) => k.file)).toEqual([a, b]);
    const { keys, problems } = decryptPreviousKeys(read.keystores, PASSWORD, wallet.privateKey);
    expect(problems).toEqual([]);
    expect(keys).toEqual([older.privateKey, oldest.privateKey]);
    expect(readPreviousKeystores(undefined)).toEqual({ keystores: [], problems: [] });
  });

  it('applies the same checks as to the current keystore: owner-only, readable, a v3 keystore', async () => {
    const open = file(
      'open.json',
      await encryptKeystoreJson(older, PASSWORD, { scrypt: { N: 1 << 10 } }),
      0o644,
    );
    const junk = file('junk.json', '{"version": 2}');
    const missing = join(dir, 'missing.json');
    const { keystores, problems } = readPreviousKeystores([open, junk, missing]);
    expect(keystores).toEqual([]);
    expect(problems).toEqual([
      `gatewayPreviousKeystores: ${open} is readable by others (mode 0644); run: chmod 600 ${open}`,
      `gatewayPreviousKeystores: ${junk}: not a version 3 keystore (version 2)`,
      `gatewayPreviousKeystores: cannot read ${missing} (ENOENT)`,
    ]);
    expect(readPreviousKeystores('one.json').problems).toEqual([
      'gatewayPreviousKeystores: expected a list of keystore file paths',
    ]);
  });

  it('refuses a wrong password, the current key again and a key listed twice, never echoing a secret', async () => {
    const a = file('a.json', await encryptKeystoreJson(older, PASSWORD, { scrypt: { N: 1 << 10 } }));
    const again = file('again.json', await encryptKeystoreJson(older, PASSWORD, { scrypt: { N: 1 << 10 } }));
    const current = file('current.json', cheap);
    const other = file(
      'other.json',
      await encryptKeystoreJson(oldest, 'another one', { scrypt: { N: 1 << 10 } }),
    );
    const { keystores } = readPreviousKeystores([a, again, current, other]);
    const { keys, problems } = decryptPreviousKeys(keystores, PASSWORD, wallet.privateKey);
    expect(keys).toEqual([older.privateKey]);
    expect(problems).toEqual([
      `gatewayPreviousKeystores: ${again}: key ${older.address.toLowerCase()} is the current key or listed twice`,
      `gatewayPreviousKeystores: ${current}: key ${wallet.address.toLowerCase()} is the current key or listed twice`,
      `gatewayPreviousKeystores: ${other}: wrong password, or the keystore is damaged (MAC mismatch)`,
    ]);
    for (const p of problems) {
      expect(p).not.toContain(PASSWORD);
      expect(p.toLowerCase()).not.toContain(older.privateKey.slice(2));
    }
  });
});
