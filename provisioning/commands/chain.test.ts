// deploy and register against a real anvil chain, checked against what the contract then holds.

import { getAddress, parseEther, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from '../../contracts/anvil.js';
import { latchkeyAt, latchkeyInterface } from '../../contracts/deploy.js';
import { DeviceKind } from '../../contracts/typedData.js';
import { cli, FAST_ENV, PASSWORD, problems, tempDir } from '../testCli.js';

let anvil: Anvil;
let hostEnv: NodeJS.ProcessEnv;
let contract: string;
let tmp: ReturnType<typeof tempDir>;
const gateway = Wallet.createRandom().address;

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  hostEnv = { LATCHKEY_HOST_KEY: anvil.accounts[0]?.privateKey };
  tmp = tempDir();
  const r = await cli(['deploy', '--rpc', anvil.url], hostEnv);
  expect(r.code, r.stderr).toBe(0);
  contract = r.fields.contract as string;
});
afterAll(async () => {
  await anvil?.stop();
  tmp?.remove();
});

const base = () => ['register', '--rpc', anvil.url, '--contract', contract, '--signer', gateway];

describe('latchkey deploy', () => {
  it('deploys the contract and prints its address, block and grace period as set', async () => {
    const r = await cli(['deploy', '--rpc', anvil.url, '--grace-hours', '3'], hostEnv);
    expect(r.code, r.stderr).toBe(0);
    const { contract: address, block, tx } = r.fields;
    expect(await anvil.provider.getCode(address as string)).not.toBe('0x');
    const receipt = await anvil.provider.getTransactionReceipt(tx as string);
    expect(receipt?.contractAddress).toBe(address);
    expect(receipt?.blockNumber).toBe(Number(block));
    expect(r.fields['chain id']).toBe('31337');
    expect(r.fields.host).toBe(anvil.accounts[0]?.address);
    // the grace period shows in the constructor argument of the deployment
    const deployTx = await anvil.provider.getTransaction(tx as string);
    expect(BigInt(`0x${deployTx?.data.slice(-64)}`)).toBe(3n * 3600n);
  });

  it('fails with exit code 1 and the reason when the RPC cannot be reached', async () => {
    const r = await cli(['deploy', '--rpc', 'http://127.0.0.1:9'], hostEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^latchkey deploy: failed: cannot reach the RPC at http:\/\/127\.0\.0\.1:9/);
  });

  it('lists every problem of its input', async () => {
    const r = await cli(['deploy', '--rpc', 'ftp://x', '--grace-hours', '-1'], { LATCHKEY_HOST_KEY: '0x12' });
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      '--rpc: expected an http:// or https:// URL, got ftp://x',
      '--grace-hours: expected a whole number from 0 to 8760, got -1',
      'LATCHKEY_HOST_KEY: expected 0x + 64 hex digits',
    ]);
  });
});

describe('latchkey register', () => {
  it('registers a lock with the given signer, kind and prices, to the wei', async () => {
    const r = await cli(
      [...base(), '--kind', 'lock', '--price-per-hour', '0.0036', '--deposit-factor', '150'],
      hostEnv,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/rounded down/);
    const device = await latchkeyAt(contract, anvil.provider).device(BigInt(r.fields.device as string));
    expect(device.host).toBe(anvil.accounts[0]?.address);
    expect(device.signer).toBe(gateway);
    expect(device.kind).toBe(BigInt(DeviceKind.Lock));
    expect(device.pricePerSecond).toBe(1_000_000_000_000n);
    expect(device.pricePerWh).toBe(0n);
    expect(device.depositFactor).toBe(150n);
    expect(device.minDuration).toBe(60n);
    expect(device.maxDuration).toBe(168n * 3600n);
    expect(device.active).toBe(true);
    const receipt = await anvil.provider.getTransactionReceipt(r.fields.tx as string);
    expect(receipt?.blockNumber).toBe(Number(r.fields.block));
  });

  it('registers a metered socket, rounding an uneven hourly price down and saying so', async () => {
    const r = await cli(
      [
        ...base(),
        '--kind',
        'socket',
        '--price-per-hour',
        '1',
        '--price-per-wh',
        '0.0001',
        '--min-minutes',
        '15',
        '--max-hours',
        '24',
      ],
      hostEnv,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'note: 1 ETH/hour is not a whole number of wei per second; rounded down to 277777777777777 wei/second = 0.9999999999999972 ETH/hour',
    );
    expect(r.fields.price).toBe('277777777777777 wei/second = 0.9999999999999972 ETH/hour');
    const device = await latchkeyAt(contract, anvil.provider).device(BigInt(r.fields.device as string));
    expect(device.kind).toBe(BigInt(DeviceKind.Socket));
    expect(device.pricePerSecond).toBe(277_777_777_777_777n);
    expect(device.pricePerWh).toBe(parseEther('0.0001'));
    expect(device.depositFactor).toBe(200n);
    expect(device.minDuration).toBe(15n * 60n);
    expect(device.maxDuration).toBe(24n * 3600n);
  });

  it('sends from a host keystore, read with its password', async () => {
    const keystore = tmp.path('host.json');
    const made = await cli(['keygen', '--out', keystore], FAST_ENV);
    const host = made.fields.address as string;
    const funder = new Wallet(anvil.accounts[1]?.privateKey as string, anvil.provider);
    await (await funder.sendTransaction({ to: host, value: parseEther('1') })).wait();

    const wrong = await cli(
      [...base(), '--kind', 'lock', '--price-per-hour', '1', '--host-keystore', keystore],
      {
        LATCHKEY_KEY_PASSWORD: 'not the password',
      },
    );
    expect(wrong.code).toBe(2);
    expect(problems(wrong.stderr)).toEqual([`wrong password for keystore ${keystore}`]);

    const r = await cli([...base(), '--kind', 'lock', '--price-per-hour', '1', '--host-keystore', keystore], {
      LATCHKEY_KEY_PASSWORD: PASSWORD,
    });
    expect(r.code, r.stderr).toBe(0);
    const device = await latchkeyAt(contract, anvil.provider).device(BigInt(r.fields.device as string));
    expect(device.host).toBe(getAddress(host));
  });

  it('--dry-run prints the exact call and sends nothing', async () => {
    const before = await anvil.provider.getBlockNumber();
    const r = await cli([...base(), '--kind', 'socket', '--price-per-hour', '0.0072', '--dry-run'], {});
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^dry run: nothing sent/);
    expect(r.fields.to).toBe(contract);
    expect(r.fields.from).toBe('(no host key given)');
    const call = latchkeyInterface.decodeFunctionData('registerDevice', r.fields.data as string);
    // defaults: minute slots, cancelling free until 24 hours before the start
    expect([...call]).toEqual([
      gateway,
      1n,
      2_000_000_000_000n,
      0n,
      200n,
      60n,
      168n * 3600n,
      0n,
      60n,
      86_400n,
    ]);
    expect(r.fields.config).toBe('+ devices[] {"id":"<id>","kind":"socket","relay":{"driver":"sim"}}');
    expect(r.fields['config flag']).toBe('latchkey config ... --device <id>:socket[:<relay JSON>]');
    expect(await anvil.provider.getBlockNumber()).toBe(before);

    const calendar = await cli(
      [
        ...base(),
        '--kind',
        'lock',
        '--price-per-hour',
        '1',
        '--slot-minutes',
        '5',
        '--cancel-hours',
        '0',
        '--dry-run',
      ],
      {},
    );
    expect(calendar.code, calendar.stderr).toBe(0);
    const set = latchkeyInterface.decodeFunctionData('registerDevice', calendar.fields.data as string);
    expect([set[8], set[9]]).toEqual([300n, 0n]);
    const tooLong = await cli(
      [...base(), '--kind', 'lock', '--price-per-hour', '1', '--max-hours', '169', '--dry-run'],
      {},
    );
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('--max-hours: a 169-hour rental would span more than 10080 slots');
  });

  it('fails with exit code 1 when no contract is at the address', async () => {
    const r = await cli(
      [
        'register',
        '--rpc',
        anvil.url,
        '--contract',
        gateway,
        '--signer',
        gateway,
        '--kind',
        'lock',
        '--price-per-hour',
        '1',
      ],
      hostEnv,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `latchkey register: failed: no contract at ${gateway} on chain 31337 (${anvil.url})\n`,
    );
  });

  it('lists every problem of a bad command line, with exit code 2 and nothing sent', async () => {
    const before = await anvil.provider.getBlockNumber();
    const r = await cli(
      [
        'register',
        '--rpc',
        'not a url',
        '--signer',
        '0x1234',
        '--kind',
        'door',
        '--price-per-hour',
        '-0.5',
        '--price-per-wh',
        'cheap',
        '--deposit-factor',
        '99',
        '--min-minutes',
        '0',
        '--max-hours',
        '1.5',
      ],
      {},
    );
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      'missing --contract',
      '--rpc: not a URL: not a url',
      '--signer: not an address (0x + 40 hex digits, valid checksum if mixed-case): 0x1234',
      '--kind: expected lock or socket, got door',
      '--price-per-hour: must not be negative, got -0.5',
      '--price-per-wh: expected an amount of ETH like 0.01, got cheap',
      '--deposit-factor: expected a whole number from 100 to 400, got 99',
      '--min-minutes: expected a whole number from 1 to 71582788, got 0',
      '--max-hours: expected a whole number from 1 to 1193046, got 1.5',
      'no host key: set LATCHKEY_HOST_KEY or give --host-keystore <file>',
    ]);
    expect(r.stdout).toBe('');
    expect(await anvil.provider.getBlockNumber()).toBe(before);
  });

  it('refuses prices the contract cannot take and durations that do not fit', async () => {
    const r = await cli(
      [
        ...base(),
        '--kind',
        'lock',
        '--price-per-hour',
        '0.0000000000000035',
        '--price-per-wh',
        '0.1',
        '--min-minutes',
        '120',
        '--max-hours',
        '1',
      ],
      hostEnv,
    );
    expect(problems(r.stderr)).toEqual([
      '--price-per-hour: below 1 wei per second; the least is 0.0000000000000036 ETH/hour',
      '--price-per-wh: a lock meters no energy; only sockets take a price per watt-hour',
      '--min-minutes: 120 minutes is longer than --max-hours 1',
    ]);
    const zero = await cli([...base(), '--kind', 'lock', '--price-per-hour', '0'], hostEnv);
    expect(problems(zero.stderr)).toEqual(['--price-per-hour: must be more than 0']);
    const huge = await cli([...base(), '--kind', 'lock', '--price-per-hour', `${2n ** 110n}`], hostEnv);
    expect(problems(huge.stderr)).toEqual([
      '--price-per-hour: too high: the deposit for a --max-hours rental would not fit 128 bits',
    ]);
  });
});
