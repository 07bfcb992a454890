import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './schema.js';
import { NONCE_RETENTION_SECONDS, Store } from './store.js';
import { digestOf, tempDir } from './test/fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

const RENTAL = (1n << 64n) | 5n;
const KEY_A = `0x04${'aa'.repeat(64)}` as const;
const KEY_B = `0x04${'BB'.repeat(64)}` as const;

function open(dbPath: string): Store {
  const s = new Store(dbPath);
  s.start();
  cleanups.push(() => s.stop());
  return s;
}

describe('session keys in the store', () => {
  it('are migrated as version 4 after the versions before it', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(MIGRATIONS.find((m) => m.description.startsWith('session keys'))?.version).toBe(4);
  });

  it('survive a restart; a newer grant replaces the key; expired ones are pruned after retention', () => {
    const t = tempDir('latchkey-session-');
    cleanups.push(t.cleanup);
    const a = open(t.dbPath);
    a.putSessionKey({
      rentalId: RENTAL,
      publicKey: KEY_A,
      validUntil: 2000,
      grantDigest: digestOf(1),
      grantedAt: 10,
    });
    a.stop();

    const b = open(t.dbPath);
    expect(b.getSessionKey(RENTAL)).toEqual({
      rentalId: RENTAL,
      publicKey: KEY_A,
      validUntil: 2000,
      grantDigest: digestOf(1),
      grantedAt: 10,
    });
    b.putSessionKey({
      rentalId: RENTAL,
      publicKey: KEY_B,
      validUntil: 2500,
      grantDigest: digestOf(2),
      grantedAt: 20,
    });
    expect(b.getSessionKey(RENTAL)?.publicKey).toBe(KEY_B.toLowerCase());
    expect(b.getSessionKey(RENTAL + 1n)).toBeUndefined();

    expect(b.pruneSessionKeys(2500 + NONCE_RETENTION_SECONDS)).toBe(0);
    expect(b.pruneSessionKeys(2501 + NONCE_RETENTION_SECONDS)).toBe(1);
    expect(b.getSessionKey(RENTAL)).toBeUndefined();
  });

  it('refuses a key that is not an uncompressed point', () => {
    const t = tempDir('latchkey-session-');
    cleanups.push(t.cleanup);
    const s = open(t.dbPath);
    const put = (publicKey: `0x${string}`) =>
      s.putSessionKey({ rentalId: RENTAL, publicKey, validUntil: 1, grantDigest: digestOf(1), grantedAt: 0 });
    expect(() => put(`0x02${'aa'.repeat(32)}`)).toThrow(TypeError);
    expect(() => put(`0x04${'aa'.repeat(63)}`)).toThrow(TypeError);
  });
});
