// A host's day on a real anvil chain: register (twice, and as a dry run), list, reprice, a guest rents
// and checks out, earnings add up to the chain's Settled logs, and withdraw pays exactly the credit.

import { existsSync, readFileSync } from 'node:fs';
import { parseEther, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from '../../contracts/anvil.js';
import { latchkeyAt, mined } from '../../contracts/deploy.js';
import { findLatchkeyEvent } from '../../contracts/events.js';
import { rentDevice } from '../../contracts/rental.js';
import { nameOfCalldata } from '../chain/nameTag.js';
import { cli, FAST_ENV, problems, tempDir } from '../testCli.js';

let anvil: Anvil;
let hostEnv: NodeJS.ProcessEnv;
let contract: string;
let fromBlock: string;
let gateway: string;
let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  hostEnv = { LATCHKEY_HOST_KEY: anvil.accounts[0]?.privateKey };
  tmp = tempDir();
  const keygen = await cli(['keygen', '--out', tmp.path('gateway.json')], FAST_ENV);
  gateway = keygen.fields.address as string;
  const r = await cli(['deploy', '--rpc', anvil.url], hostEnv);
  expect(r.code, r.stderr).toBe(0);
  contract = r.fields.contract as string;
  fromBlock = r.fields.block as string;
});
afterAll(async () => {
  await anvil?.stop();
  tmp?.remove();
});

const chain = () => ['--rpc', anvil.url, '--contract', contract];
const register = (name: string, kind: string, extra: string[] = []) => [
  'register',
  ...chain(),
  '--signer',
  gateway,
  '--kind',
  kind,
  '--price-per-hour',
  '0.036',
  '--name',
  name,
  '--from-block',
  fromBlock,
  ...extra,
];

async function listJson(extra: string[] = []) {
  const r = await cli(['device', 'list', ...chain(), '--json', ...extra], hostEnv);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>[];
}

describe('host device and money commands', () => {
  it('registers once per signer and name, and a dry run sends nothing', { timeout: 60_000 }, async () => {
    const before = await anvil.provider.getBlockNumber();
    const dry = await cli(register('front door', 'lock', ['--dry-run']), {});
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.fields.name).toBe('front door');
    expect(nameOfCalldata(dry.fields.data as string)).toBe('front door');
    expect(await anvil.provider.getBlockNumber()).toBe(before);

    const first = await cli(register('front door', 'lock'), hostEnv);
    expect(first.code, first.stderr).toBe(0);
    const again = await cli(register('front door', 'lock'), hostEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(again.fields.device).toBe(first.fields.device);
    expect(again.fields['already registered']).toBe('yes');
    const socket = await cli(register('kettle', 'socket'), hostEnv);
    expect(socket.code, socket.stderr).toBe(0);
    expect(socket.fields.device).not.toBe(first.fields.device);

    const list = await listJson();
    expect(list.map((d) => [d.id, d.name, d.kind, d.signer, d.active])).toEqual([
      [first.fields.device, 'front door', 'lock', gateway, true],
      [socket.fields.device, 'kettle', 'socket', gateway, true],
    ]);
    // the contract counts the devices it registered: exactly two
    await expect(latchkeyAt(contract, anvil.provider).device(3n)).rejects.toThrow();
  });

  it('config checks its devices against the chain and takes a broker login', async () => {
    const [lock, socket] = await listJson();
    const config = (out: string, device: string) => [
      'config',
      '--rpc',
      anvil.url,
      '--contract',
      contract,
      '--gateway-id',
      'gw-1',
      '--keystore',
      tmp.path('gateway.json'),
      '--device',
      device,
      '--out',
      tmp.path(out),
    ];
    const env = { ...FAST_ENV, LATCHKEY_MQTT_PASSWORD: 'broker secret' };
    const wrongKind = await cli(config('a.json', `${socket?.id}:lock`), env);
    expect(wrongKind.code).toBe(2);
    expect(problems(wrongKind.stderr)).toEqual([
      `--device ${socket?.id}:lock: device ${socket?.id} is registered as a socket`,
    ]);
    const unknown = await cli(config('a.json', '42:lock'), env);
    expect(problems(unknown.stderr)).toEqual([`--device 42:lock: no device 42 on contract ${contract}`]);
    expect(existsSync(tmp.path('a.json'))).toBe(false);

    const good = await cli([...config('a.json', `${lock?.id}:lock`), '--mqtt-username', 'gw-1'], env);
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(readFileSync(tmp.path('a.json'), 'utf8')).mqtt).toEqual({
      username: 'gw-1',
      password: 'broker secret',
    });
  });

  it("reprices and closes a device, refusing an unknown one or another host's", async () => {
    const [lock] = await listJson();
    const id = String(lock?.id);
    const up = await cli(
      ['device', 'update', ...chain(), '--id', id, '--price-per-hour', '0.072', '--json'],
      hostEnv,
    );
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout).pricePerSecond).toBe(String(parseEther('0.072') / 3600n));
    expect((await latchkeyAt(contract, anvil.provider).device(BigInt(id))).pricePerSecond).toBe(
      parseEther('0.072') / 3600n,
    );

    const lengths = await cli(
      ['device', 'update', ...chain(), '--id', id, '--min-minutes', '10', '--max-hours', '48', '--json'],
      hostEnv,
    );
    expect(lengths.code, lengths.stderr).toBe(0);
    expect(JSON.parse(lengths.stdout)).toMatchObject({ minDuration: '600', maxDuration: String(48 * 3600) });
    const inverted = await cli(
      ['device', 'update', ...chain(), '--id', id, '--min-minutes', '3000'],
      hostEnv,
    );
    expect(inverted.code).toBe(2);
    expect(problems(inverted.stderr)[0]).toMatch(
      /^--min-minutes: the shortest rental \(180000 s\) would be longer/,
    );

    const unknown = await cli(['device', 'close', ...chain(), '--id', '99'], hostEnv);
    expect(unknown.code).toBe(2);
    expect(problems(unknown.stderr)).toEqual([`--id: no device 99 on contract ${contract}`]);
    const other = { LATCHKEY_HOST_KEY: anvil.accounts[2]?.privateKey };
    const notMine = await cli(['device', 'close', ...chain(), '--id', id], other);
    expect(notMine.code).toBe(2);
    expect(problems(notMine.stderr)[0]).toMatch(/belongs to host/);

    const close = await cli(['device', 'close', ...chain(), '--id', id], hostEnv);
    expect(close.code, close.stderr).toBe(0);
    expect((await listJson())[0]?.active).toBe(false);
    const open = await cli(['device', 'update', ...chain(), '--id', id, '--active', 'yes'], hostEnv);
    expect(open.code, open.stderr).toBe(0);
    expect((await listJson())[0]?.active).toBe(true);
  });

  it('counts what rentals brought and withdraws exactly the credit', { timeout: 60_000 }, async () => {
    const [lock, socket] = await listJson();
    const guest = new Wallet(anvil.accounts[3]?.privateKey as string, anvil.provider);
    const asGuest = latchkeyAt(contract, guest);
    const nothing = await cli(['withdraw', ...chain()], hostEnv);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/nothing to withdraw/);

    const settled: { charge: bigint; refund: bigint }[] = [];
    for (const d of [lock, socket, lock]) {
      const { rental } = await rentDevice(asGuest, BigInt(String(d?.id)), 3600);
      const listed = await listJson();
      const open = listed.find((x) => x.id === d?.id)?.openRentals as { id: string }[];
      expect(open.map((r) => r.id)).toEqual([String(rental.id)]);
      await anvil.provider.send('evm_increaseTime', [600]);
      await anvil.provider.send('evm_mine', []);
      const receipt = await mined((await asGuest.checkoutByTime(rental)).wait());
      const event = findLatchkeyEvent(receipt, 'Settled', contract);
      settled.push({ charge: event?.args.charge ?? 0n, refund: event?.args.refund ?? 0n });
    }
    // A booking of the socket cancelled 10 minutes before its start, inside a one-hour cancel window.
    const socketId = BigInt(String(socket?.id));
    const calendar = await cli(
      ['device', 'update', ...chain(), '--id', String(socketId), '--cancel-hours', '1'],
      hostEnv,
    );
    expect(calendar.code, calendar.stderr).toBe(0);
    const head = BigInt((await anvil.provider.getBlock('latest'))?.timestamp ?? 0);
    const { rental: booked } = await rentDevice(asGuest, socketId, 3600, { start: head + 600n });
    expect(booked.cancelWindow).toBe(3600n);
    const cancelled = await mined((await asGuest.cancel(booked)).wait());
    const fee = findLatchkeyEvent(cancelled, 'Cancelled', contract)?.args.fee ?? 0n;
    expect(fee).toBeGreaterThan(0n);
    expect((await listJson()).find((x) => x.id === socket?.id)).toMatchObject({ cancelWindow: 3600 });

    const e = await cli(
      ['earnings', ...chain(), '--from-block', fromBlock, '--chunk-blocks', '3', '--json'],
      hostEnv,
    );
    expect(e.code, e.stderr).toBe(0);
    const got = JSON.parse(e.stdout);
    const sum = (xs: { charge: bigint; refund: bigint }[], k: 'charge' | 'refund') =>
      String(xs.reduce((a, x) => a + x[k], 0n));
    const lockRentals = [settled[0], settled[2]] as { charge: bigint; refund: bigint }[];
    expect(got.devices).toEqual([
      expect.objectContaining({
        device: lock?.id,
        rentals: 2,
        settled: 2,
        open: 0,
        charged: sum(lockRentals, 'charge'),
        refunded: sum(lockRentals, 'refund'),
      }),
      expect.objectContaining({
        device: socket?.id,
        rentals: 2,
        settled: 1,
        cancelled: 1,
        charged: sum([settled[1] as { charge: bigint; refund: bigint }], 'charge'),
        cancelFees: String(fee),
      }),
    ]);
    const credit = await latchkeyAt(contract, anvil.provider).credit(anvil.accounts[0]?.address as string);
    expect(credit).toBeGreaterThan(0n);
    expect(got.charged).toBe(sum(settled, 'charge'));
    expect(got.cancelFees).toBe(String(fee));
    expect(got.credit).toBe(String(credit));
    expect(credit).toBe(BigInt(got.charged) + fee); // everything credited is accounted for

    const w = await cli(['withdraw', ...chain(), '--json'], hostEnv);
    expect(w.code, w.stderr).toBe(0);
    const out = JSON.parse(w.stdout);
    expect(out.amount).toBe(String(credit));
    const receipt = await anvil.provider.getTransactionReceipt(out.tx);
    const host = anvil.accounts[0]?.address as string;
    const delta =
      (await anvil.provider.getBalance(host, receipt?.blockNumber)) -
      (await anvil.provider.getBalance(host, (receipt?.blockNumber ?? 1) - 1));
    expect(delta).toBe(credit - (receipt?.gasUsed ?? 0n) * (receipt?.gasPrice ?? 0n));
    expect(await latchkeyAt(contract, anvil.provider).credit(host)).toBe(0n);
  });
});
