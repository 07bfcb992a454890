import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { decryptKeystoreJson, getAddress } from 'ethers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, FAST_ENV, PASSWORD, problems, tempDir } from '../testCli.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

describe('latchkey keygen', () => {
  it('writes an encrypted keystore, mode 0600, that decrypts with the password to the printed address', async () => {
    const out = tmp.path('gateway.json');
    const r = await cli(['keygen', '--out', out], FAST_ENV);
    expect(r.code, r.stderr).toBe(0);
    const address = r.fields.address as string;
    expect(address).toBe(getAddress(address));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const text = readFileSync(out, 'utf8');
    expect(text).not.toContain(PASSWORD);
    const json = JSON.parse(text);
    expect(json.version).toBe(3);
    expect(json.Crypto.kdf).toBe('scrypt');
    const account = await decryptKeystoreJson(text, PASSWORD);
    expect(account.address).toBe(address);
    expect(text.toLowerCase()).not.toContain(account.privateKey.slice(2).toLowerCase());
    await expect(decryptKeystoreJson(text, 'wrong password')).rejects.toThrow(/incorrect password/);
  });

  it("keeps ethers' default scrypt cost unless the test-only fast mode is set", {
    timeout: 90_000,
  }, async () => {
    const out = tmp.path('real.json');
    const r = await cli(['keygen', '--out', out], { LATCHKEY_KEY_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/tests only/);
    expect(JSON.parse(readFileSync(out, 'utf8')).Crypto.kdfparams.n).toBe(2 ** 17);

    const fast = await cli(['keygen', '--out', tmp.path('fast.json')], FAST_ENV);
    expect(fast.stderr).toMatch(/LATCHKEY_KEYSTORE_FAST=1: weak key derivation, for tests only/);
    expect(JSON.parse(readFileSync(tmp.path('fast.json'), 'utf8')).Crypto.kdfparams.n).toBe(2 ** 10);
  });

  it('reads the password from LATCHKEY_KEY_PASSWORD_FILE, refusing a file others may read', async () => {
    const passwordFile = tmp.path('password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
    const env = { LATCHKEY_KEY_PASSWORD_FILE: passwordFile, LATCHKEY_KEYSTORE_FAST: '1' };
    const open = await cli(['keygen', '--out', tmp.path('open.json')], env);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`run: chmod 600 ${passwordFile}`);
    chmodSync(passwordFile, 0o600);
    const r = await cli(['keygen', '--out', tmp.path('from-file.json')], env);
    expect(r.code, r.stderr).toBe(0);
    const account = await decryptKeystoreJson(readFileSync(tmp.path('from-file.json'), 'utf8'), PASSWORD);
    expect(account.address).toBe(r.fields.address);
  });

  it('makes a new key every time', async () => {
    const a = await cli(['keygen', '--out', tmp.path('a.json')], FAST_ENV);
    const b = await cli(['keygen', '--out', tmp.path('b.json')], FAST_ENV);
    expect(a.fields.address).not.toBe(b.fields.address);
  });

  it('refuses to overwrite an existing file and leaves it as it was', async () => {
    const out = tmp.path('gateway.json');
    writeFileSync(out, 'precious');
    const r = await cli(['keygen', '--out', out], FAST_ENV);
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([`--out: ${out} already exists; refusing to overwrite it`]);
    expect(readFileSync(out, 'utf8')).toBe('precious');
    expect(r.stdout).toBe('');
  });

  it('asks for the password twice on a terminal, and refuses a mismatch', async () => {
    const asked: string[] = [];
    const answers = ['a long password', 'a long password'];
    const ok = await cli(
      ['keygen', '--out', tmp.path('k.json')],
      { LATCHKEY_KEYSTORE_FAST: '1' },
      async (q) => {
        asked.push(q);
        return answers.shift() ?? '';
      },
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(asked).toEqual([`Password for the new keystore ${tmp.path('k.json')}: `, 'Repeat the password: ']);
    const account = await decryptKeystoreJson(readFileSync(tmp.path('k.json'), 'utf8'), 'a long password');
    expect(account.address).toBe(ok.fields.address);

    const mismatch = ['a long password', 'another password'];
    const bad = await cli(['keygen', '--out', tmp.path('m.json')], {}, async () => mismatch.shift() ?? '');
    expect(bad.code).toBe(2);
    expect(problems(bad.stderr)).toEqual(['the passwords do not match']);
  });

  it('lists every problem: no --out, no password without a terminal, unknown flags', async () => {
    const r = await cli(['keygen', '--password', 'x', 'extra'], {});
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      'unknown option --password',
      'unexpected argument "x"',
      'unexpected argument "extra"',
      'missing --out',
      'no keystore password: set LATCHKEY_KEY_PASSWORD_FILE to a file holding it (or LATCHKEY_KEY_PASSWORD), or run on a terminal to be asked',
    ]);
  });

  it('refuses a short password, creating nothing', async () => {
    const r = await cli(['keygen', '--out', tmp.path('nope/k.json')], { LATCHKEY_KEY_PASSWORD: 'short' });
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      'LATCHKEY_KEY_PASSWORD: a keystore password needs at least 8 characters',
    ]);
    expect(existsSync(tmp.path('nope'))).toBe(false);
  });

  it('creates a missing folder for the keystore, readable by this user only', async () => {
    const r = await cli(['keygen', '--out', tmp.path('var/lib/latchkey/gateway.json')], FAST_ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`note: created ${tmp.path('var/lib/latchkey')} (mode 0700)`);
    expect(statSync(tmp.path('var/lib/latchkey')).mode & 0o777).toBe(0o700);
    expect(statSync(tmp.path('var/lib/latchkey/gateway.json')).mode & 0o777).toBe(0o600);
  });
});
