// RELIABILITY 27 under the unit's notify protocol: this test is the service manager. It binds the
// NOTIFY_SOCKET, starts the agent with WATCHDOG_USEC as systemd does, sees READY=1 and the WATCHDOG=1
// pings, stalls the agent's event loop while a door is unlocked, sees the pings stop, aborts the
// process (SIGABRT, systemd's WatchdogSignal) and starts it again (Restart=on-failure): the new agent
// reports ready and every relay safe.

import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startEmbeddedBroker } from '../agent/broker/embedded.js';
import { DEMO_PRICES } from '../agent/embedded.js';
import { type Anvil, startAnvil } from '../contracts/anvil.js';
import { deployLatchkey, latchkeyAt } from '../contracts/deploy.js';
import { rentDevice } from '../contracts/rental.js';
import { Guest } from '../guest/client.js';
import {
  actWhenLive,
  deviceState,
  ok,
  ROOT,
  registerDevices,
  sleep,
  tempDir,
  testLog,
  waitFor,
  writeConfig,
} from './system.js';

interface Dgram {
  bind(path: string): void;
  close(): void;
}
const unix = createRequire(import.meta.url)('unix-dgram') as {
  createSocket(type: 'unix_dgram', listener: (msg: Buffer) => void): Dgram;
};

// pings every 3 s; a healthy agent on a loaded machine never goes 6 s without one
const WATCHDOG_USEC = 6_000_000;

let anvil: Anvil;
let broker: EmbeddedBroker;
let dir: ReturnType<typeof tempDir>;
let configPath: string;
let contract: string;
let lock: bigint;
let guestKey: string;
let manager: Dgram;
const messages: { at: number; text: string }[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  const [host, gw, guest] = anvil.accounts;
  if (!host || !gw || !guest) throw new Error('anvil has too few dev accounts');
  guestKey = guest.privateKey;
  const d = await deployLatchkey(new Wallet(host.privateKey, anvil.provider));
  contract = d.address;
  [lock] = (await registerDevices(d.contract, gw.address, [{ kind: 'lock', ...DEMO_PRICES.lock }])) as [
    bigint,
  ];
  broker = await startEmbeddedBroker({ log: testLog });
  dir = tempDir('latchkey-watchdog-');
  configPath = join(dir.path, 'latchkey.json');
  writeConfig(configPath, {
    gatewayId: 'gateway-watchdog',
    dataDir: join(dir.path, 'data'),
    gatewayKey: gw.privateKey,
    chain: {
      rpcUrls: [anvil.url],
      chainId: anvil.chainId,
      contract,
      confirmations: 0,
      pollMs: 100,
      startBlock: d.blockNumber,
    },
    mqtt: { url: broker.url },
    http: { host: '127.0.0.1', port: 0 },
    devices: [{ id: lock, kind: 'lock', pulseSeconds: 600, relay: { driver: 'sim' } }],
  });
  manager = unix.createSocket('unix_dgram', (msg) => messages.push({ at: Date.now(), text: msg.toString() }));
  manager.bind(join(dir.path, 'notify'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  manager?.close();
  await broker?.stop();
  await anvil?.stop();
  dir?.remove();
});

/** Starts the agent as systemd would for the unit; resolves with its LAN URL once it logs ready. */
async function start(): Promise<{
  child: ChildProcess;
  httpUrl: string;
  exited: Promise<NodeJS.Signals | null>;
}> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      join(ROOT, 'test/fixtures/stallOnSignal.fixture.ts'),
      join(ROOT, 'agent/main.ts'),
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        LATCHKEY_CONFIG: configPath,
        NOTIFY_SOCKET: join(dir.path, 'notify'),
        WATCHDOG_USEC: String(WATCHDOG_USEC),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const ready = await waitFor(
    () => log.split('\n').find((l) => l.includes('"agent ready"')),
    'the agent to log ready',
    60_000,
  );
  return { child, httpUrl: `http://127.0.0.1:${JSON.parse(ready).http}`, exited };
}

const since = (t: number, text: string) => messages.filter((m) => m.at >= t && m.text.startsWith(text));

describe('watchdog (service manager side of Type=notify, WatchdogSec)', () => {
  it('restarts an agent whose event loop stalls; its relays are safe after', {
    timeout: 180_000,
  }, async () => {
    const t0 = Date.now();
    const first = await start();
    const readyMsg = await waitFor(() => since(t0, 'READY=1')[0], 'READY=1', 30_000);
    expect(readyMsg.text).toBe(`READY=1\nMAINPID=${first.child.pid}`);
    await waitFor(() => since(readyMsg.at, 'WATCHDOG=1').length >= 2, 'two WATCHDOG=1 pings', 30_000);

    // a guest rents the lock and unlocks it: its relay is closed (energised) for a long pulse
    const guest = new Wallet(guestKey, anvil.provider);
    const { rental } = await rentDevice(latchkeyAt(contract, guest), lock, 3600);
    const phone = new Guest({
      privateKey: guestKey,
      provider: anvil.provider,
      contract,
      chainId: anvil.chainId,
      gatewayId: 'gateway-watchdog',
      httpUrl: first.httpUrl,
    });
    ok(await actWhenLive(phone, rental, 'unlock', 'http'), 'unlock');
    expect((await deviceState(first.httpUrl, lock)).relay).toBe('closed');

    // stall the loop: the pings stop, so the manager sees the watchdog expire and aborts the agent
    const stalledAt = Date.now();
    first.child.kill('SIGUSR2');
    const usec = WATCHDOG_USEC / 1000;
    await waitFor(
      () => {
        const last = messages.filter((m) => m.text === 'WATCHDOG=1').at(-1)?.at ?? 0;
        return Date.now() - Math.max(last, stalledAt) > usec;
      },
      'the watchdog to expire',
      60_000,
    );
    // the loop never runs again: no ping arrives after the watchdog expired
    const expiredAt = Date.now();
    await sleep(usec);
    expect(since(expiredAt, 'WATCHDOG=1')).toEqual([]);
    first.child.kill('SIGABRT');
    expect(await first.exited).toBe('SIGABRT');

    // Restart=on-failure: the new agent boots safe, reports ready and pings again
    const t1 = Date.now();
    const second = await start();
    await waitFor(() => since(t1, 'READY=1')[0], 'READY=1 after the restart', 30_000);
    await waitFor(() => since(t1, 'WATCHDOG=1').length >= 1, 'pings after the restart', 30_000);
    expect((await deviceState(second.httpUrl, lock)).relay).toBe('open');
    second.child.kill('SIGTERM');
    await second.exited;
    expect(since(t1, 'STOPPING=1').length).toBe(1);
  });
});
