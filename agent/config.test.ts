import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync as write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptKeystoreJson, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { isError } from './errors.js';

/** Secret files as `latchkey keygen` writes them: readable by their owner only. */
const writeFileSync = (file: string, data: string) => write(file, data, { mode: 0o600 });

const KEY = `0x${'11'.repeat(32)}`;
const CONTRACT = `0x${'22'.repeat(20)}`;
const minimal = {
  gatewayKey: KEY,
  chain: { rpcUrls: ['http://127.0.0.1:8545'], contract: CONTRACT },
  devices: [{ id: '1', kind: 'lock' }],
};

describe('parseConfig', () => {
  it('fills defaults around a minimal file', () => {
    const c = parseConfig(minimal);
    expect(c.gatewayId).toBe('gateway-1');
    expect(c.chain.confirmations).toBe(2);
    expect(c.mqtt.url).toBe('mqtt://127.0.0.1:1883');
    expect(c.devices).toEqual([{ id: 1n, kind: 'lock', pulseSeconds: 5, relay: { driver: 'sim' } }]);
  });

  it('lets the environment override the file', () => {
    const c = parseConfig(minimal, {
      LATCHKEY_RPC_URLS: 'http://a:1, http://b:2',
      LATCHKEY_HTTP_PORT: '9000',
      LATCHKEY_CONFIRMATIONS: '0',
    });
    expect(c.chain.rpcUrls).toEqual(['http://a:1', 'http://b:2']);
    expect(c.http.port).toBe(9000);
    expect(c.chain.confirmations).toBe(0);
  });

  it('lists every problem at once', () => {
    let caught: unknown;
    try {
      parseConfig({
        gatewayId: 'bad/id',
        gatewayKey: '0x1234',
        chain: { rpcUrls: ['ftp://x'], contract: 'nope', confirmations: -1 },
        http: { port: 70000 },
        devices: [
          { id: '1', kind: 'door', relay: { driver: 'laser' } },
          { id: '1', kind: 'socket' },
        ],
      });
    } catch (e) {
      caught = e;
    }
    expect(isError(caught, 'CONFIG_INVALID')).toBe(true);
    const text = (caught as Error).message;
    for (const field of [
      'gatewayId',
      'gatewayKey',
      'chain.rpcUrls[0]',
      'chain.contract',
      'chain.confirmations',
      'http.port',
      'devices[0].kind',
      'devices[0].relay.driver',
      'devices[1].id: device 1 is listed twice',
    ]) {
      expect(text).toContain(field);
    }
    expect(text).toMatch(/invalid configuration \(9 problems\)/);
  });

  it('refuses a gateway with no devices', () => {
    expect(() => parseConfig({ ...minimal, devices: [] })).toThrow(/at least one/);
  });
});

describe('parseConfig with a JSON keystore', () => {
  const PASSWORD = 'correct horse battery';
  const wallet = new Wallet(`0x${'4c'.repeat(31)}01`);
  let dir: string;
  let keystore: string;
  const withKeystore = (extra: Record<string, unknown> = {}) => {
    const { gatewayKey: _, ...rest } = minimal;
    return { ...rest, gatewayKeystore: keystore, ...extra };
  };
  /** The problems parseConfig lists for `file` and `env` (fails the test if it accepts them). */
  const problemsOf = (file: unknown, env: NodeJS.ProcessEnv): string[] => {
    try {
      parseConfig(file, env);
    } catch (e) {
      if (!isError(e, 'CONFIG_INVALID')) throw e;
      return (e.details ?? '').split('\n').map((l) => l.replace(/^ {2}- /, ''));
    }
    throw new Error('parseConfig accepted the config');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-config-'));
    keystore = join(dir, 'gateway.json');
    writeFileSync(keystore, await encryptKeystoreJson(wallet, PASSWORD, { scrypt: { N: 1 << 10 } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const readKeystore = () => readFileSync(keystore, 'utf8');

  it('decrypts gatewayKeystore with LATCHKEY_KEY_PASSWORD into gatewayKey', () => {
    const c = parseConfig(withKeystore(), { LATCHKEY_KEY_PASSWORD: PASSWORD });
    expect(c.gatewayKey).toBe(wallet.privateKey);
  });

  it('reads previous keys from gatewayPreviousKeystores with the same password and checks', async () => {
    const older = new Wallet(`0x${'5d'.repeat(31)}02`);
    const previous = join(dir, 'previous.json');
    writeFileSync(previous, await encryptKeystoreJson(older, PASSWORD, { scrypt: { N: 1 << 10 } }));
    const c = parseConfig(withKeystore({ gatewayPreviousKeystores: [previous] }), {
      LATCHKEY_KEY_PASSWORD: PASSWORD,
    });
    expect(c.gatewayKey).toBe(wallet.privateKey);
    expect(c.previousGatewayKeys).toEqual([older.privateKey]);
    expect(
      parseConfig(withKeystore(), { LATCHKEY_KEY_PASSWORD: PASSWORD }).previousGatewayKeys,
    ).toBeUndefined();
    chmodSync(previous, 0o640);
    expect(
      problemsOf(withKeystore({ gatewayPreviousKeystores: [previous] }), { LATCHKEY_KEY_PASSWORD: PASSWORD }),
    ).toEqual([
      `gatewayPreviousKeystores: ${previous} is readable by its group (mode 0640); run: chmod 600 ${previous}`,
    ]);
  });

  it('takes the keystore from LATCHKEY_GATEWAY_KEYSTORE and the password from a file', () => {
    const passwordFile = join(dir, 'password');
    // as `echo "$password" > file` writes it: the one trailing newline is not part of the password
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    const { gatewayKey: _, ...noKey } = minimal;
    const c = parseConfig(noKey, {
      LATCHKEY_GATEWAY_KEYSTORE: keystore,
      LATCHKEY_KEY_PASSWORD_FILE: passwordFile,
    });
    expect(c.gatewayKey).toBe(wallet.privateKey);
    const fromFile = parseConfig(withKeystore({ gatewayKeyPasswordFile: passwordFile }), {});
    expect(fromFile.gatewayKey).toBe(wallet.privateKey);
  });

  it('says so when the password is wrong, without the password in the message', () => {
    expect(problemsOf(withKeystore(), { LATCHKEY_KEY_PASSWORD: 'not it' })).toEqual([
      `gatewayKeystore: ${keystore}: wrong password, or the keystore is damaged (MAC mismatch)`,
    ]);
    const passwordFile = join(dir, 'two-newlines');
    writeFileSync(passwordFile, `${PASSWORD}\n\n`);
    expect(problemsOf(withKeystore({ gatewayKeyPasswordFile: passwordFile }), {})).toEqual([
      `gatewayKeystore: ${keystore}: wrong password, or the keystore is damaged (MAC mismatch)`,
    ]);
  });

  it('wants the key one way: gatewayKey or gatewayKeystore, not both, not neither', () => {
    expect(
      problemsOf({ ...minimal, gatewayKeystore: keystore }, { LATCHKEY_KEY_PASSWORD: PASSWORD }),
    ).toEqual([
      'gatewayKey, gatewayKeystore: give the key one way, not both (LATCHKEY_GATEWAY_KEY, LATCHKEY_GATEWAY_KEYSTORE)',
    ]);
    expect(problemsOf(minimal, { LATCHKEY_GATEWAY_KEYSTORE: keystore })).toHaveLength(1);
    const { gatewayKey: _, ...noKey } = minimal;
    expect(problemsOf(noKey, {})).toEqual([
      'gatewayKey: no gateway key: give gatewayKey, 0x + 64 hex digits (LATCHKEY_GATEWAY_KEY), ' +
        'or gatewayKeystore, a JSON keystore file (LATCHKEY_GATEWAY_KEYSTORE)',
    ]);
  });

  it('wants the password one way, from a file it can read', () => {
    const passwordFile = join(dir, 'password-once');
    writeFileSync(passwordFile, PASSWORD);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(problemsOf(withKeystore(), {})).toEqual([
      'gatewayKeystore: no password for the keystore: set LATCHKEY_KEY_PASSWORD, or gatewayKeyPasswordFile ' +
        '(LATCHKEY_KEY_PASSWORD_FILE) to a file holding it',
    ]);
    expect(
      problemsOf(withKeystore({ gatewayKeyPasswordFile: passwordFile }), { LATCHKEY_KEY_PASSWORD: PASSWORD }),
    ).toEqual([
      'gatewayKeyPasswordFile: the keystore password is given twice, in LATCHKEY_KEY_PASSWORD and in a file; give one',
    ]);
    expect(problemsOf(withKeystore(), { LATCHKEY_KEY_PASSWORD_FILE: join(dir, 'missing') })).toEqual([
      `gatewayKeyPasswordFile: cannot read ${join(dir, 'missing')} (ENOENT)`,
    ]);
    expect(problemsOf(withKeystore({ gatewayKeyPasswordFile: empty }), {})).toEqual([
      `gatewayKeyPasswordFile: ${empty} is empty`,
    ]);
  });

  it('refuses a keystore or password file that group or others may read, with the chmod fix', () => {
    const open = join(dir, 'open-keystore.json');
    const openPassword = join(dir, 'open-password');
    writeFileSync(open, readKeystore());
    writeFileSync(openPassword, PASSWORD);
    chmodSync(open, 0o644);
    chmodSync(openPassword, 0o640);
    expect(
      problemsOf(withKeystore({ gatewayKeystore: open, gatewayKeyPasswordFile: openPassword }), {}),
    ).toEqual([
      `gatewayKeyPasswordFile: ${openPassword} is readable by its group (mode 0640); run: chmod 600 ${openPassword}`,
      `gatewayKeystore: ${open} is readable by others (mode 0644); run: chmod 600 ${open}`,
    ]);
    chmodSync(open, 0o600);
    chmodSync(openPassword, 0o400);
    expect(
      parseConfig(withKeystore({ gatewayKeystore: open, gatewayKeyPasswordFile: openPassword }), {})
        .gatewayKey,
    ).toBe(wallet.privateKey);
  });

  it('reads the MQTT password from mqtt.passwordFile (LATCHKEY_MQTT_PASSWORD_FILE), once, from a 0600 file', () => {
    const file = join(dir, 'mqtt-password');
    writeFileSync(file, 'broker-secret\n');
    expect(parseConfig({ ...minimal, mqtt: { username: 'gw', passwordFile: file } }).mqtt.password).toBe(
      'broker-secret',
    );
    expect(parseConfig(minimal, { LATCHKEY_MQTT_PASSWORD_FILE: file }).mqtt.password).toBe('broker-secret');
    expect(problemsOf({ ...minimal, mqtt: { password: 'x', passwordFile: file } }, {})).toEqual([
      'mqtt.passwordFile: the MQTT password is given twice, in mqtt.password (LATCHKEY_MQTT_PASSWORD) and in a file; give one',
    ]);
    chmodSync(file, 0o644);
    expect(problemsOf(minimal, { LATCHKEY_MQTT_PASSWORD_FILE: file })).toEqual([
      `mqtt.passwordFile: ${file} is readable by others (mode 0644); run: chmod 600 ${file}`,
    ]);
  });

  it('lists an unreadable or malformed keystore with the other problems', () => {
    const notKeystore = join(dir, 'not-a-keystore.json');
    writeFileSync(notKeystore, '{"version":1}');
    expect(
      problemsOf(withKeystore({ gatewayKeystore: join(dir, 'missing.json'), gatewayId: 'a/b' }), {
        LATCHKEY_KEY_PASSWORD: PASSWORD,
      }),
    ).toEqual([
      `gatewayKeystore: cannot read ${join(dir, 'missing.json')} (ENOENT)`,
      'gatewayId: expected letters, digits, _ . - (1-64), got "a/b"',
    ]);
    expect(
      problemsOf(withKeystore({ gatewayKeystore: notKeystore }), { LATCHKEY_KEY_PASSWORD: PASSWORD }),
    ).toEqual([`gatewayKeystore: ${notKeystore}: not a version 3 keystore (version 1)`]);
  });

  it('decrypts only a config that is otherwise fine', () => {
    // a wrong password is found only by decrypting; with another problem, it is not looked for
    expect(problemsOf(withKeystore({ http: { port: -1 } }), { LATCHKEY_KEY_PASSWORD: 'not it' })).toEqual([
      'http.port: expected an integer in [0, 65535], got -1',
    ]);
    expect(problemsOf(withKeystore({ devices: [] }), { LATCHKEY_KEY_PASSWORD: 'not it' })).toEqual([
      'devices: the gateway drives no device; list at least one',
    ]);
  });

  it('never echoes a malformed hex key', () => {
    const typo = `0x${'ab'.repeat(31)}zz`;
    const problems = problemsOf({ ...minimal, gatewayKey: typo }, {});
    expect(problems).toEqual([
      'gatewayKey: expected 0x + 64 hex digits (LATCHKEY_GATEWAY_KEY), got 66 characters',
    ]);
  });
});
