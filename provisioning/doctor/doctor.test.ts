// `latchkey doctor` on a gateway set up for real: anvil, a Mosquitto with the ACL of
// `latchkey mosquitto-acl`, a keystore from `latchkey keygen`. Each broken part fails its own line.

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { parseEther } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from '../../contracts/anvil.js';
import { type Mosquitto, startMosquitto } from '../../test/mosquitto.js';
import { freePort } from '../../test/ports.js';
import { cli, FAST_ENV, tempDir } from '../testCli.js';
import type { Check } from './checks.js';

let anvil: Anvil;
let secured: Mosquitto;
let open: Mosquitto;
let tmp: ReturnType<typeof tempDir>;
let gateway: string;
let mqttPassword: string;
let base: Record<string, unknown>;
let lockId: string;
let socketId: string;

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  tmp = tempDir();
  const host = { LATCHKEY_HOST_KEY: anvil.accounts[0]?.privateKey };
  const keystore = tmp.path('gateway.json');
  gateway = (await cli(['keygen', '--out', keystore], FAST_ENV)).fields.address as string;
  const d = await cli(['deploy', '--rpc', anvil.url], host);
  const contract = d.fields.contract as string;
  const reg = async (kind: string) =>
    (
      await cli(
        [
          'register',
          '--rpc',
          anvil.url,
          '--contract',
          contract,
          '--signer',
          gateway,
          '--kind',
          kind,
          '--price-per-hour',
          '0.036',
        ],
        host,
      )
    ).fields.device as string;
  lockId = await reg('lock');
  socketId = await reg('socket');
  const port = await freePort();
  const guestPort = await freePort();
  const acl = await cli([
    'mosquitto-acl',
    '--gateway',
    'gw-doc',
    '--out',
    tmp.path('broker'),
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--guest-port',
    String(guestPort),
  ]);
  expect(acl.code, acl.stderr).toBe(0);
  mqttPassword = /^password\.gw-doc: (\S+)$/m.exec(acl.stdout)?.[1] as string;
  secured = await startMosquitto({
    port,
    wsPort: guestPort,
    config: readFileSync(tmp.path('broker/mosquitto.conf'), 'utf8'),
  });
  open = await startMosquitto();
  base = {
    gatewayId: 'gw-doc',
    dataDir: tmp.path('data'),
    gatewayKeystore: keystore,
    chain: { rpcUrls: [anvil.url], contract, chainId: anvil.chainId },
    mqtt: { url: secured.url, username: 'gw-doc', password: mqttPassword },
    devices: [
      { id: lockId, kind: 'lock', relay: { driver: 'sim' } },
      { id: socketId, kind: 'socket', relay: { driver: 'sim' } },
    ],
  };
}, 90_000);
afterAll(async () => {
  await secured?.stop();
  await open?.stop();
  await anvil?.stop();
  tmp?.remove();
});

async function doctor(config: Record<string, unknown>) {
  const file = tmp.path('config.json');
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  chmodSync(file, 0o600);
  const r = await cli(['doctor', '--config', file, '--no-service', '--json'], FAST_ENV);
  const out = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  const failed = out.checks.filter((c) => c.verdict === 'fail');
  return {
    code: r.code,
    stderr: r.stderr,
    checks: out.checks,
    failed: failed.map((c) => c.name),
    fixes: failed.map((c) => c.fix),
  };
}

describe('latchkey doctor', () => {
  it('fails an unfunded gateway key, then passes once it is funded', { timeout: 60_000 }, async () => {
    const before = await doctor(base);
    expect(before.code).toBe(1);
    expect(before.failed).toEqual(['gateway key funds']);
    expect(before.fixes[0]).toMatch(new RegExp(`send at least .* ETH to ${gateway}`));
    expect(before.stderr).toMatch(/1 check failed: gateway key funds/);

    const funder = { LATCHKEY_HOST_KEY: anvil.accounts[1]?.privateKey };
    const f = await cli(['fund', '--rpc', anvil.url, '--to', gateway, '--amount', '1'], funder);
    expect(f.code, f.stderr).toBe(0);
    expect(await anvil.provider.getBalance(gateway)).toBe(parseEther('1'));
    const after = await doctor(base);
    expect(after.failed, JSON.stringify(after.checks, null, 1)).toEqual([]);
    expect(after.code).toBe(0);
    const names = after.checks.map((c) => c.name);
    for (const n of [
      'config',
      `RPC ${anvil.url}`,
      'clock against the chain',
      `device ${lockId} (lock)`,
      `broker ${secured.url}`,
      'broker ACL: own topics',
      "broker ACL: others' topics",
    ])
      expect(names).toContain(n);
  });

  it('names each broken part with its fix', { timeout: 60_000 }, async () => {
    const r = await doctor({
      ...base,
      chain: { ...(base.chain as object), rpcUrls: ['http://127.0.0.1:9', anvil.url] },
      mqtt: { url: open.url },
      devices: [
        { id: lockId, kind: 'socket', relay: { driver: 'sim' } },
        { id: '99', kind: 'lock', relay: { driver: 'sim' } },
      ],
    });
    expect(r.code).toBe(1);
    expect(r.failed).toEqual([
      'RPC http://127.0.0.1:9',
      `device ${lockId} (socket)`,
      'device 99 (lock)',
      "broker ACL: others' topics",
    ]);
    expect(r.fixes[1]).toMatch(/set its kind to lock/);

    // The agent itself refuses a keystore others can read, so the config check names the fix.
    const keystore = base.gatewayKeystore as string;
    chmodSync(keystore, 0o644);
    try {
      const readable = await doctor(base);
      expect(readable.failed).toEqual(['config']);
      expect(readable.checks.find((c) => c.name === 'config')?.detail).toContain(`chmod 600 ${keystore}`);
    } finally {
      chmodSync(keystore, 0o600);
    }

    const badLogin = await doctor({ ...base, mqtt: { ...(base.mqtt as object), password: 'wrong' } });
    expect(badLogin.failed).toEqual([`broker ${secured.url}`]);
    expect(badLogin.fixes[0]).toMatch(/mqtt\.password/);
  });
});
