import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config.js';
import { cli, FAST_ENV, PASSWORD, problems, tempDir } from '../testCli.js';

const CONTRACT = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
let tmp: ReturnType<typeof tempDir>;
let keystore: string;
let gatewayAddress: string;

beforeEach(async () => {
  tmp = tempDir();
  keystore = tmp.path('gateway.json');
  const r = await cli(['keygen', '--out', keystore], FAST_ENV);
  expect(r.code, r.stderr).toBe(0);
  gatewayAddress = r.fields.address as string;
});
afterEach(() => tmp.remove());

const args = (out: string) => [
  'config',
  '--rpc',
  'https://rpc-1.example',
  '--rpc',
  'http://10.0.0.2:8545',
  '--contract',
  CONTRACT,
  '--gateway-id',
  'front-door',
  '--keystore',
  keystore,
  '--device',
  '7:lock',
  '--device',
  '12:socket:sim',
  '--out',
  out,
];

describe('latchkey config', () => {
  it('writes a config the agent accepts, naming the keystore and the devices as given, mode 0600', async () => {
    const out = tmp.path('config.json');
    const r = await cli(
      [...args(out), '--start-block', '42', '--chain-id', '100', '--mqtt-url', 'mqtts://broker:8883'],
      FAST_ENV,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.fields.gateway).toBe(gatewayAddress);
    expect(r.fields.keystore).toBe(keystore);
    expect(r.stderr).toMatch(/the agent decrypts .* at start: give it the password in LATCHKEY_KEY_PASSWORD/);
    expect(r.stderr).not.toMatch(/in the clear/);
    expect(r.stderr).toMatch(/device 7 drives a simulated relay/);
    expect(statSync(out).mode & 0o777).toBe(0o600);

    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.gatewayKey).toBeUndefined();
    expect(written.gatewayKeystore).toBe(keystore);
    expect(() => parseConfig(written)).toThrow(/no password for the keystore/);
    const c = parseConfig(written, { LATCHKEY_KEY_PASSWORD: PASSWORD });
    expect(new Wallet(c.gatewayKey).address).toBe(gatewayAddress);
    expect(c.gatewayId).toBe('front-door');
    expect(c.chain).toMatchObject({
      rpcUrls: ['https://rpc-1.example', 'http://10.0.0.2:8545'],
      contract: CONTRACT,
      chainId: 100,
      startBlock: 42,
    });
    expect(c.mqtt.url).toBe('mqtts://broker:8883');
    expect(c.devices).toEqual([
      { id: 7n, kind: 'lock', pulseSeconds: 5, relay: { driver: 'sim' } },
      { id: 12n, kind: 'socket', pulseSeconds: 5, relay: { driver: 'sim' } },
    ]);
  });

  it('writes real relay drivers and fail modes as given, checked by the driver registry', async () => {
    const out = tmp.path('config.json');
    const shelly = { driver: 'shelly', url: 'mqtt://127.0.0.1:1883', prefix: 'shellyplusplugs-a1' };
    const firmata = { driver: 'firmata', serial: '/dev/ttyACM0', pin: 7 };
    const r = await cli(
      args(out).flatMap((a) =>
        a === '7:lock'
          ? [`7:lock:${JSON.stringify(firmata)}@fail-safe`]
          : a === '12:socket:sim'
            ? [`12:socket:${JSON.stringify(shelly)}`]
            : [a],
      ),
      FAST_ENV,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/simulated relay/);
    const c = parseConfig(JSON.parse(readFileSync(out, 'utf8')), { LATCHKEY_KEY_PASSWORD: PASSWORD });
    expect(c.devices).toEqual([
      {
        id: 7n,
        kind: 'lock',
        pulseSeconds: 5,
        failMode: 'fail-safe',
        relay: { driver: 'firmata', link: { serial: '/dev/ttyACM0' }, pin: 7 },
      },
      { id: 12n, kind: 'socket', pulseSeconds: 5, relay: shelly },
    ]);
  });

  it('names the keystore by its absolute path when given a relative one', async () => {
    const out = tmp.path('config.json');
    const cwd = process.cwd();
    process.chdir(tmp.dir);
    try {
      const r = await cli(
        args(out).map((a) => (a === keystore ? 'gateway.json' : a)),
        FAST_ENV,
      );
      expect(r.code, r.stderr).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    expect(JSON.parse(readFileSync(out, 'utf8')).gatewayKeystore).toBe(keystore);
  });

  it('with --insecure-write-key, writes the decrypted key as hex and warns', async () => {
    const out = tmp.path('config.json');
    const r = await cli([...args(out), '--insecure-write-key'], FAST_ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(r.fields.gateway).toBe(gatewayAddress);
    expect(r.fields.keystore).toBeUndefined();
    expect(r.stderr).toMatch(/holds the gateway's private key in the clear/);
    expect(statSync(out).mode & 0o777).toBe(0o600);

    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.gatewayKeystore).toBeUndefined();
    const c = parseConfig(written);
    expect(new Wallet(c.gatewayKey).address).toBe(gatewayAddress);
    expect(c.devices).toHaveLength(2);
  });

  it('refuses to overwrite unless --force, which replaces the file', async () => {
    const out = tmp.path('config.json');
    writeFileSync(out, '{}', { mode: 0o644 });
    const r = await cli(args(out), FAST_ENV);
    expect(problems(r.stderr)).toEqual([`--out: ${out} already exists; refusing to overwrite it`]);
    expect(readFileSync(out, 'utf8')).toBe('{}');

    const forced = await cli([...args(out), '--force'], FAST_ENV);
    expect(forced.code, forced.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(parseConfig(JSON.parse(readFileSync(out, 'utf8')), FAST_ENV).devices).toHaveLength(2);
  });

  it('says so when the keystore password is wrong, and writes nothing', async () => {
    const out = tmp.path('config.json');
    const r = await cli(args(out), { LATCHKEY_KEY_PASSWORD: 'not it' });
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([`wrong password for keystore ${keystore}`]);
    expect(() => statSync(out)).toThrow();
  });

  it("lists every problem at once, its own and the agent's, each naming its flag", async () => {
    const notKeystore = tmp.path('plain.txt');
    writeFileSync(notKeystore, 'hello');
    const r = await cli(
      [
        'config',
        '--rpc',
        'ftp://x',
        '--contract',
        '0x123',
        '--gateway-id',
        'front door',
        '--keystore',
        notKeystore,
        '--device',
        '0:lock',
        '--device',
        '3:door',
        '--device',
        '3:socket',
        '--device',
        '4:lock:gpio',
        '--device',
        '5',
        '--device',
        '6:socket:{"driver":"shelly"',
        '--device',
        '8:socket:{"driver":"tasmota","url":"mqtt://127.0.0.1:1883","relay":9}@fail-safe',
        '--start-block',
        '-1',
      ],
      {},
    );
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      'missing --out',
      `--keystore: ${notKeystore} is not a JSON keystore (version 3)`,
      'no keystore password: set LATCHKEY_KEY_PASSWORD_FILE to a file holding it (or LATCHKEY_KEY_PASSWORD), or run on a terminal to be asked',
      '--device 4:lock:gpio: the relay is sim or a JSON object such as {"driver":"gpio","line":17} (see docs/hardware.md for each driver\'s fields)',
      '--device 5: expected <id>:<lock|socket>[:sim|:<relay JSON>][@fail-secure|@fail-safe], e.g. 1:lock or 2:socket:{"driver":"shelly",...}',
      expect.stringMatching(/^--device 6:socket:\{"driver":"shelly": the relay JSON does not parse: /),
      '--gateway-id: gatewayId: expected letters, digits, _ . - (1-64), got "front door"',
      '--rpc: chain.rpcUrls[0]: expected a http: or https: URL, got ftp://x',
      '--contract: chain.contract: expected a 0x address (LATCHKEY_CONTRACT), got "0x123"',
      '--start-block: chain.startBlock: expected an integer in [0, 9007199254740991], got "-1"',
      '--device 0:lock: id: device ids start at 1',
      '--device 3:door: kind: expected one of lock, socket, got "door"',
      '--device 3:socket: id: device 3 is listed twice',
      expect.stringMatching(/^--device 8:socket:.*: relay\.topic: /),
      expect.stringMatching(/^--device 8:socket:.*: relay\.relay: /),
    ]);
  });

  it('lists every missing flag', async () => {
    const r = await cli(['config'], FAST_ENV);
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      'missing --rpc',
      'missing --contract',
      'missing --gateway-id',
      'missing --keystore',
      'missing --device',
      'missing --out',
    ]);
  });
});
