// kill -9 of the real agent process (node agent/main.ts with a JSON config) while a socket is on and a
// door is unlocked, and right after a checkout was answered: on restart from the same data dir the
// socket is powered again with its metering, the door stays locked, and every rental is settled
// exactly once (RELIABILITY 21, 23, 25).

import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, freshLogins, startEmbeddedBroker } from '../agent/broker/embedded.js';
import { DEMO_PRICES } from '../agent/embedded.js';
import { type AuditEntry, Store } from '../agent/store/store.js';
import { type Anvil, startAnvil } from '../contracts/anvil.js';
import { deployLatchkey, type LatchkeyContract } from '../contracts/deploy.js';
import type { Rental } from '../contracts/typedData.js';
import { Guest, receiptOf, type SignedReceipt } from '../guest/client.js';
import {
  type AgentProcess,
  actWhenLive,
  atMost,
  deviceState,
  ok,
  RpcGate,
  registerDevices,
  type SendMode,
  settled,
  settlements,
  signedBy,
  sleep,
  spawnAgent,
  tempDir,
  testLog,
  waitFor,
  writeConfig,
} from './system.js';

const HOUR = 3600;

let anvil: Anvil;
let broker: EmbeddedBroker;
let gate: RpcGate;
let asHost: LatchkeyContract;
let contract: string;
let gateway: { address: string; privateKey: string };
let guestKey: string;
let dir: ReturnType<typeof tempDir>;
let configPath: string;
let devices: { socket: bigint; lock: bigint; socketHeld: bigint; socketMined: bigint };
let agent: AgentProcess | undefined;

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  const [host, gw, guest] = anvil.accounts;
  if (!host || !gw || !guest) throw new Error('anvil has too few dev accounts');
  gateway = gw;
  guestKey = guest.privateKey;
  const deployment = await deployLatchkey(new Wallet(host.privateKey, anvil.provider));
  asHost = deployment.contract;
  contract = deployment.address;
  const [socket, lock, socketHeld, socketMined] = await registerDevices(asHost, gw.address, [
    { kind: 'socket', ...DEMO_PRICES.socket },
    { kind: 'lock', ...DEMO_PRICES.lock },
    { kind: 'socket', ...DEMO_PRICES.socket },
    { kind: 'socket', ...DEMO_PRICES.socket },
  ]);
  if (!socket || !lock || !socketHeld || !socketMined) throw new Error('registration failed');
  devices = { socket, lock, socketHeld, socketMined };
  broker = await startEmbeddedBroker({ log: testLog, logins: freshLogins('gateway-crash') });
  // The agent talks to the chain through a gate that can hold its checkout transactions.
  gate = await new RpcGate(anvil.url).start();
  dir = tempDir('latchkey-crash-');
  configPath = join(dir.path, 'latchkey.json');
  writeConfig(configPath, {
    gatewayId: 'gateway-crash',
    dataDir: join(dir.path, 'data'),
    gatewayKey: gw.privateKey,
    chain: {
      rpcUrls: [gate.url],
      chainId: anvil.chainId,
      contract,
      confirmations: 0,
      pollMs: 100,
      startBlock: deployment.blockNumber,
    },
    mqtt: { url: broker.url, username: 'gateway-crash', password: gatewayPassword(broker) },
    http: { host: '127.0.0.1', port: 0 },
    devices: [
      { id: socket, kind: 'socket', relay: { driver: 'sim' } },
      // A long pulse: the door is still unlocked when the agent is killed.
      { id: lock, kind: 'lock', pulseSeconds: 60, relay: { driver: 'sim' } },
      { id: socketHeld, kind: 'socket', relay: { driver: 'sim' } },
      { id: socketMined, kind: 'socket', relay: { driver: 'sim' } },
    ],
  });
});

afterAll(async () => {
  await agent?.kill();
  await gate?.stop();
  await broker?.stop();
  await anvil?.stop();
  dir?.remove();
});

function gatewayPassword(b: EmbeddedBroker): string {
  const login = b.logins ? b.logins.gateways[0] : undefined;
  if (!login) throw new Error('the broker has no gateway login');
  return login.password;
}

/** The guest's phone on the gateway's LAN (the agent's HTTP port changes with every start). */
function guestOn(a: AgentProcess): Guest {
  return new Guest({
    privateKey: guestKey,
    provider: anvil.provider,
    contract,
    chainId: anvil.chainId,
    gatewayId: 'gateway-crash',
    httpUrl: a.httpUrl,
  });
}

async function restart(): Promise<AgentProcess> {
  await agent?.kill();
  agent = await spawnAgent(configPath);
  return agent;
}

async function checkout(a: AgentProcess, rental: Rental): Promise<SignedReceipt> {
  const reply = await guestOn(a).act(rental, 'checkout', 'http');
  const signed = receiptOf(reply);
  if (!signed) throw new Error(`checkout gave no receipt: ${JSON.stringify(reply)}`);
  expect(signedBy(signed, gateway.address, anvil.chainId, contract)).toBe(true);
  return signed;
}

/** Exactly one Settled log, by this receipt, charging price × use. */
async function expectSettledOnce(rental: Rental, signed: SignedReceipt): Promise<void> {
  const s = await settled(anvil.provider, contract, rental.id);
  const metered =
    rental.pricePerSecond * signed.receipt.secondsUsed + rental.pricePerWh * signed.receipt.energyWh;
  expect(s).toMatchObject({ byReceipt: true, charge: atMost(metered, rental.deposit) });
  expect(s.charge + s.refund).toBe(rental.deposit);
  expect((await anvil.provider.getTransaction(s.txHash))?.from).toBe(gateway.address);
  expect(await settlements(anvil.provider, contract, rental.id)).toHaveLength(1);
}

/** Reads the agent's store (SQLite in WAL mode: a second reader next to the agent is fine). */
function readStore<T>(read: (store: Store) => T): T {
  const store = new Store(join(dir.path, 'data', 'latchkey.db'));
  store.start();
  try {
    return read(store);
  } finally {
    store.stop();
  }
}

/** The agent's audit trail of a device, oldest first. */
const auditOf = (deviceId: bigint): AuditEntry[] => readStore((s) => s.auditTail(200, deviceId));
const storedReceipt = (rentalId: bigint) => readStore((s) => s.getReceipt(rentalId));

const gatewayNonce = () => anvil.provider.getTransactionCount(gateway.address, 'latest');

describe('the agent process killed with SIGKILL', () => {
  it('while a socket is on and a door unlocked: after restart the socket is on again with its metering, the door locked, one checkout', async () => {
    let a = await restart();
    let guest = guestOn(a);
    const socket = (await guest.rent(devices.socket, HOUR)).rental;
    const lock = (await guest.rent(devices.lock, HOUR)).rental;

    ok(await actWhenLive(guest, socket, 'on', 'http'), 'on');
    await sleep(1_200);
    ok(await guest.act(socket, 'off', 'http'), 'off'); // ~1.2 s of use recorded
    ok(await guest.act(socket, 'on', 'http'), 'on again');
    ok(await actWhenLive(guest, lock, 'unlock', 'http'), 'unlock');
    expect(await deviceState(a.httpUrl, devices.socket)).toMatchObject({ relay: 'closed' });
    expect(await deviceState(a.httpUrl, devices.lock)).toMatchObject({ relay: 'closed' });
    const killedAt = performance.now();

    a = await restart();
    guest = guestOn(a);
    const socketNow = await deviceState(a.httpUrl, devices.socket);
    expect(socketNow).toMatchObject({ relay: 'closed', phase: 'closed', rentalId: socket.id.toString() });
    expect(socketNow.usedSeconds).toBeGreaterThanOrEqual(1);
    // The door is locked again and stays locked: the rental is resumed without drawing the bolt.
    expect(await deviceState(a.httpUrl, devices.lock)).toMatchObject({
      relay: 'open',
      phase: 'open',
      rentalId: lock.id.toString(),
    });

    // The audit trail of the boot: both relays driven safe first, then the socket powered back on.
    const sinceBoot = (deviceId: bigint) => {
      const trail = auditOf(deviceId);
      const boot = trail.findLastIndex((x) => x.actor === 'boot' && x.action === 'safe');
      return trail.slice(boot).map((x) => `${x.action}: ${x.reason}`);
    };
    expect(sinceBoot(devices.socket)).toEqual([
      'safe: relay driven open at boot (recorded closed before)',
      expect.stringMatching(/^resume: .*socket powered back on/),
      expect.stringMatching(/^on: socket powered back on/),
    ]);
    expect(sinceBoot(devices.lock)).toEqual([
      'safe: relay driven open at boot (recorded closed before)',
      expect.stringMatching(/^resume: .*lock stays locked/),
    ]);

    const nonce = await gatewayNonce();
    const signed = await checkout(a, socket);
    const onSeconds = (performance.now() - killedAt) / 1000 + 1.2 + 1;
    expect(signed.receipt.secondsUsed).toBeGreaterThanOrEqual(1n);
    expect(signed.receipt.secondsUsed).toBeLessThanOrEqual(BigInt(Math.ceil(onSeconds)));
    expect(await deviceState(a.httpUrl, devices.socket)).toMatchObject({ relay: 'open', phase: 'idle' });
    await expectSettledOnce(socket, signed);
    expect(await gatewayNonce()).toBe(nonce + 1);

    // A second checkout gets no second receipt. Until the agent applies the Settled log its controller
    // refuses it ('refused': the rental has a receipt); waiting for the log makes the answer one code.
    await waitFor(
      () => readStore((s) => s.getRental(socket.id)?.status === 'settled'),
      "the agent to apply the socket rental's Settled log",
    );
    expect(await guest.act(socket, 'checkout', 'http')).toMatchObject({
      status: 'error',
      error: { code: 'rental-not-open', message: expect.stringMatching(/is settled/) },
    });
    await expectSettledOnce(lock, await checkout(a, lock));
  });

  it('SIGTERM while the restarted agent is still catching up with the chain: the socket it powered back on is switched off', async () => {
    let a = await restart();
    const guest = guestOn(a);
    const rental = (await guest.rent(devices.socket, HOUR)).rental;
    ok(await actWhenLive(guest, rental, 'on', 'http'), 'on');
    await a.kill();

    // The next start powers the socket back on from its store, then waits for the chain's logs: a
    // block mined meanwhile gives it logs to ask for, and the node never answers.
    await anvil.provider.send('evm_mine', []);
    const before = auditOf(devices.socket).length;
    const sinceKill = () => auditOf(devices.socket).slice(before);
    gate.holdMethods.add('eth_getLogs');
    const callsBefore = gate.calls.length;
    try {
      a = await spawnAgent(configPath, 30_000, (l) => l.msg === 'agent starting');
      agent = a;
      await waitFor(
        () => sinceKill().some((x) => x.action === 'on' && /powered back on/.test(x.reason)),
        'the restarted agent to power the socket back on',
      );
      // ... and is now inside its first poll, waiting for logs the node does not give.
      await waitFor(
        () => gate.calls.slice(callsBefore).some((c) => c.method === 'eth_getLogs'),
        'the restarted agent to ask for the logs',
      );
      expect(a.lines().some((l) => l.msg === 'agent ready')).toBe(false);
      await a.stop();
      expect(a.exitCode()).toBe(0);
      expect(sinceKill().at(-1)).toMatchObject({ action: 'safe', actor: 'shutdown', outcome: 'ok' });
    } finally {
      gate.holdMethods.clear();
      a = await restart();
    }

    await expectSettledOnce(rental, await checkout(a, rental));
  });

  const cases: { sends: SendMode; what: string; device: () => bigint }[] = [
    {
      sends: 'hold',
      what: 'its checkout transaction never reached the node',
      device: () => devices.socketHeld,
    },
    {
      sends: 'forward-and-hold',
      what: 'its checkout was mined but the agent never heard back',
      device: () => devices.socketMined,
    },
  ];
  for (const c of cases) {
    it(`right after a checkout reply, when ${c.what}: after restart the rental is settled exactly once`, async () => {
      let a = agent ?? (await restart());
      const guest = guestOn(a);
      const rental = (await guest.rent(c.device(), HOUR)).rental;
      ok(await actWhenLive(guest, rental, 'on', 'http'), 'on');
      const nonce = await gatewayNonce();

      gate.sends = c.sends;
      const sentBefore = gate.sent.length;
      const signed = await checkout(a, rental);
      await waitFor(() => gate.sent.length > sentBefore, 'the agent to send its checkout transaction');
      if (c.sends === 'forward-and-hold') await settled(anvil.provider, contract, rental.id);
      await agent?.kill();
      gate.sends = 'pass';
      gate.mode = 'pass';
      // The case at hand: the receipt signed, stored and its transaction hash recorded before the kill.
      const stored = storedReceipt(rental.id);
      expect(stored).toMatchObject({ status: 'submitted', receipt: signed.receipt });
      const mined = await anvil.provider.getTransactionReceipt(stored?.txHash ?? '');
      expect(mined !== null).toBe(c.sends === 'forward-and-hold');

      a = await restart();
      await expectSettledOnce(rental, signed);
      // Give the restarted submitter time to (wrongly) send again; then count the gateway's transactions.
      await waitFor(
        async () => (await fetch(`${a.httpUrl}/health`)).ok,
        'the restarted agent to report healthy',
      );
      await sleep(500);
      expect(await gatewayNonce()).toBe(nonce + 1);
      expect(await settlements(anvil.provider, contract, rental.id)).toHaveLength(1);
    });
  }
});
