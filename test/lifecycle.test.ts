// The whole agent from rent to refund, on both brokers: a lock and a socket rented on a real anvil,
// unlocked / powered over MQTT (aedes and Mosquitto) and over LAN HTTP with the broker gone, checked
// out with a device-signed receipt that the agent settles itself, every amount exact to the wei.

import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../agent/agent.js';
import type { AgentConfig } from '../agent/config.js';
import { DEMO_PRICES, type Embedded, startEmbedded } from '../agent/embedded.js';
import type { DevAccount } from '../contracts/anvil.js';
import { latchkeyAt } from '../contracts/deploy.js';
import { rentDevice } from '../contracts/rental.js';
import type { Rental } from '../contracts/typedData.js';
import { type Guest, receiptOf } from '../guest/client.js';
import { type Mosquitto, startMosquitto } from './mosquitto.js';
import {
  actWhenLive,
  atMost,
  balanceDelta,
  creditDelta,
  embeddedSetup,
  guestLogin,
  guestOf,
  ok,
  registerDevices,
  StateLog,
  settled,
  settlements,
  signedBy,
  sleep,
  tempDir,
  testLog,
  waitFor,
  waitOnline,
} from './system.js';

const PULSE_SECONDS = 1;
const HOUR = 3600;
/** Rentals that nobody uses: as short as the device allows, so they end while the other tests run. */
const IDLE_SECONDS = 3;

interface Gateway {
  name: string;
  agent: Agent;
  states: StateLog;
  mqttUrl: string;
  httpUrl: string;
  gatewayId: string;
  /** The gateway key: signs receipts and sends the agent's checkouts. */
  key: DevAccount;
  lock: bigint;
  socket: bigint;
  /** A lock for the "internet down" case (rentals of one device never overlap). */
  offlineLock: bigint;
  guest: DevAccount;
  /** Takes the MQTT broker away while `during` runs, then (where it can) brings it back. */
  brokerDown(during: () => Promise<void>): Promise<void>;
}

let e: Embedded;
let mosquitto: Mosquitto;
let second: Agent | undefined;
let secondDir: ReturnType<typeof tempDir> | undefined;
const gateways: Gateway[] = [];
let idle: { host: string; gateway: string; lock: Rental; socket: Rental } | undefined;

beforeAll(async () => {
  mosquitto = await startMosquitto();
  // Gateway 1 runs on the embedded aedes broker with the demo lock (1) and socket (2), plus lock 3,
  // registered below (ids are handed out in order; the test checks it got the id it configured).
  e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    configOverrides: (c) => ({
      ...c,
      chain: { ...c.chain, pollMs: 100 },
      devices: [
        ...c.devices,
        { id: 3n, kind: 'lock' as const, pulseSeconds: PULSE_SECONDS, relay: { driver: 'sim' as const } },
      ].map((d) => ({ ...d, pulseSeconds: PULSE_SECONDS })),
    }),
  });
  const [guest1, guest2, key2, host2, idleGuest] = e.guests;
  if (!guest1 || !guest2 || !key2 || !host2 || !idleGuest) throw new Error('anvil has too few dev accounts');
  const [offline1] = await registerDevices(e.contract, e.gateway.address, [
    { kind: 'lock', ...DEMO_PRICES.lock },
  ]);
  expect(offline1).toBe(3n);

  // Gateway 2: another gateway key on the same contract, on Mosquitto, with its own lock and socket
  // and two short-rental devices of another host for the rentals nobody uses.
  const [lock2, socket2, offline2] = await registerDevices(e.contract, key2.address, [
    { kind: 'lock', ...DEMO_PRICES.lock },
    { kind: 'socket', ...DEMO_PRICES.socket },
    { kind: 'lock', ...DEMO_PRICES.lock },
  ]);
  const asHost2 = latchkeyAt(e.contractAddress, new Wallet(host2.privateKey, e.anvil.provider));
  const [idleLock, idleSocket] = await registerDevices(asHost2, key2.address, [
    { kind: 'lock', ...DEMO_PRICES.lock, minDuration: 1 },
    { kind: 'socket', ...DEMO_PRICES.socket, minDuration: 1 },
  ]);
  if (!lock2 || !socket2 || !offline2 || !idleLock || !idleSocket) throw new Error('registration failed');
  secondDir = tempDir('latchkey-gateway-2-');
  const config: AgentConfig = {
    ...e.config,
    gatewayId: 'gateway-2',
    dataDir: secondDir.path,
    gatewayKey: key2.privateKey,
    mqtt: { ...e.config.mqtt, url: mosquitto.url },
    http: { ...e.config.http, host: '127.0.0.1', port: 0 },
    devices: [
      { id: lock2, kind: 'lock' as const },
      { id: socket2, kind: 'socket' as const },
      { id: offline2, kind: 'lock' as const },
      { id: idleLock, kind: 'lock' as const },
      { id: idleSocket, kind: 'socket' as const },
    ].map((d) => ({ ...d, pulseSeconds: PULSE_SECONDS, relay: { driver: 'sim' as const } })),
  };
  second = new Agent(config, testLog.child('gateway-2'));
  const states2 = new StateLog(second);
  await second.start();

  // Rented now and never touched: they end while the tests below run.
  const asIdleGuest = latchkeyAt(e.contractAddress, new Wallet(idleGuest.privateKey, e.anvil.provider));
  idle = {
    host: host2.address,
    gateway: key2.address,
    lock: (await rentDevice(asIdleGuest, idleLock, IDLE_SECONDS)).rental,
    socket: (await rentDevice(asIdleGuest, idleSocket, IDLE_SECONDS)).rental,
  };

  gateways.push(
    {
      name: 'aedes (embedded)',
      agent: e.agent,
      states: new StateLog(e.agent),
      mqttUrl: e.broker.url,
      httpUrl: e.httpUrl,
      gatewayId: e.config.gatewayId,
      key: e.gateway,
      lock: e.devices[0]?.id ?? 0n,
      socket: e.devices[1]?.id ?? 0n,
      offlineLock: offline1 ?? 0n,
      guest: guest1,
      // The embedded broker does not come back: this runs last for gateway 1.
      brokerDown: async (during) => {
        await e.broker.stop();
        await during();
      },
    },
    {
      name: 'Mosquitto',
      agent: second,
      states: states2,
      mqttUrl: mosquitto.url,
      httpUrl: `http://127.0.0.1:${second.httpPort}`,
      gatewayId: 'gateway-2',
      key: key2,
      lock: lock2,
      socket: socket2,
      offlineLock: offline2,
      guest: guest2,
      brokerDown: (during) => mosquitto.restart(during),
    },
  );
  await Promise.all([
    waitOnline(e.broker.url, 'gateway-1', guestLogin(e)),
    waitOnline(mosquitto.url, 'gateway-2'),
  ]);
});

afterAll(async () => {
  await second?.stop();
  secondDir?.remove();
  await e?.stop();
  await mosquitto?.stop();
});

function gateway(i: number): Gateway {
  const g = gateways[i];
  if (!g) throw new Error('beforeAll did not set up the gateways');
  return g;
}

async function guestOn(g: Gateway): Promise<Guest> {
  return guestOf(
    g.guest,
    embeddedSetup(e, { gatewayId: g.gatewayId, mqttUrl: g.mqttUrl, httpUrl: g.httpUrl }),
  );
}

/**
 * Checks the settlement of `rental` against its receipt and the chain, to the wei: the agent's key
 * sent it, the charge is price × use (capped at the deposit), and the guest, the host's credit and the
 * contract's balance moved by exactly the deposit, the refund, the charge and the gas.
 */
async function expectSettledToTheWei(
  g: Gateway,
  guest: Guest,
  rented: { rental: Rental; txHash: string; gasCost: bigint },
  balanceBefore: bigint,
  receipt: { secondsUsed: bigint; energyWh: bigint },
): Promise<void> {
  const { provider } = e.anvil;
  const { rental } = rented;
  const s = await settled(provider, e.contractAddress, rental.id);
  const metered = rental.pricePerSecond * receipt.secondsUsed + rental.pricePerWh * receipt.energyWh;
  const charge = atMost(metered, rental.deposit);
  expect(s.byReceipt).toBe(true);
  expect(s.charge).toBe(charge);
  expect(s.charge + s.refund).toBe(rental.deposit);
  expect((await provider.getTransaction(s.txHash))?.from).toBe(g.key.address);

  const rentBlock = (await provider.getTransactionReceipt(rented.txHash))?.blockNumber ?? 0;
  expect(await provider.getBalance(guest.address)).toBe(
    balanceBefore - rented.gasCost - rental.deposit + s.refund,
  );
  expect(await balanceDelta(provider, guest.address, s.blockNumber)).toBe(s.refund);
  expect(await balanceDelta(provider, e.contractAddress, rentBlock)).toBe(rental.deposit);
  expect(await balanceDelta(provider, e.contractAddress, s.blockNumber)).toBe(-s.refund);
  expect(await creditDelta(e.contract, e.host.address, s.blockNumber)).toBe(s.charge);
  expect(await settlements(provider, e.contractAddress, rental.id)).toHaveLength(1);
}

for (const [i, name] of ['aedes (embedded)', 'Mosquitto'].entries()) {
  describe(`on ${name}`, () => {
    it('lock: unlock over MQTT, relock after the pulse, checkout receipt settled by the agent to the wei', async () => {
      const g = gateway(i);
      const guest = await guestOn(g);
      try {
        const before = await e.anvil.provider.getBalance(guest.address);
        const rented = await guest.rent(g.lock, HOUR);
        const { rental } = rented;
        const mark = g.states.mark();

        ok(await actWhenLive(guest, rental, 'unlock'), 'unlock');
        const opened = await g.states.until(
          g.lock,
          (s) => s.relay === 'closed' && s.rentalId === rental.id,
          'relay closed by the unlock',
          mark,
        );
        await g.states.until(
          g.lock,
          (s) => s.relay === 'open' && s.phase === 'open',
          `relocked after the ${PULSE_SECONDS} s pulse`,
          opened.after,
        );

        const reply = await guest.act(rental, 'checkout');
        const signed = receiptOf(reply);
        if (!signed) throw new Error(`checkout gave no receipt: ${JSON.stringify(reply)}`);
        expect(signed.receipt.rentalId).toBe(rental.id);
        expect(signed.receipt.energyWh).toBe(0n);
        expect(signedBy(signed, g.key.address, e.anvil.chainId, e.contractAddress)).toBe(true);
        await expectSettledToTheWei(g, guest, rented, before, signed.receipt);
        expect(g.states.closures(g.lock, mark)).toBe(1);
        expect(g.agent.controllers.get(g.lock)?.state()).toMatchObject({ phase: 'idle', relay: 'open' });
      } finally {
        await guest.close();
      }
    });

    it('socket: on over MQTT, metered seconds and watt-hours, off, checkout receipt settled by the agent to the wei', async () => {
      const g = gateway(i);
      const guest = await guestOn(g);
      try {
        const before = await e.anvil.provider.getBalance(guest.address);
        const rented = await guest.rent(g.socket, HOUR);
        const { rental } = rented;
        const mark = g.states.mark();

        const onAt = performance.now();
        ok(await actWhenLive(guest, rental, 'on'), 'on');
        await g.states.until(g.socket, (s) => s.relay === 'closed', 'socket powered', mark);
        g.agent.controllers.get(g.socket)?.reportEnergy(7);
        await sleep(1_100);
        ok(await guest.act(rental, 'off'), 'off');
        const onSeconds = (performance.now() - onAt) / 1000;
        await g.states.until(g.socket, (s) => s.relay === 'open' && s.phase === 'open', 'socket off', mark);

        const reply = await guest.act(rental, 'checkout');
        const signed = receiptOf(reply);
        if (!signed) throw new Error(`checkout gave no receipt: ${JSON.stringify(reply)}`);
        expect(signed.receipt.energyWh).toBe(7n);
        expect(signed.receipt.secondsUsed).toBeGreaterThanOrEqual(1n);
        expect(signed.receipt.secondsUsed).toBeLessThanOrEqual(BigInt(Math.ceil(onSeconds)));
        expect(signedBy(signed, g.key.address, e.anvil.chainId, e.contractAddress)).toBe(true);
        await expectSettledToTheWei(g, guest, rented, before, signed.receipt);
        expect(g.states.closures(g.socket, mark)).toBe(1);
      } finally {
        await guest.close();
      }
    });

    it('internet down: with the broker gone a token over LAN HTTP still unlocks, and checkout settles', async () => {
      const g = gateway(i);
      const guest = await guestOn(g);
      await guest.close(); // the guest's phone is on the gateway's Wi-Fi only from here on
      const before = await e.anvil.provider.getBalance(guest.address);
      const rented = await guest.rent(g.offlineLock, HOUR);
      const { rental } = rented;
      await waitFor(() => g.agent.store.getRental(rental.id), 'the agent to see the rental');
      const mark = g.states.mark();
      let signed: ReturnType<typeof receiptOf>;
      await g.brokerDown(async () => {
        ok(await actWhenLive(guest, rental, 'unlock', 'http'), 'unlock over HTTP');
        const opened = await g.states.until(g.offlineLock, (s) => s.relay === 'closed', 'unlocked', mark);
        await g.states.until(g.offlineLock, (s) => s.relay === 'open', 'relocked', opened.after);
        signed = receiptOf(await guest.act(rental, 'checkout', 'http'));
      });
      if (!signed) throw new Error('checkout over HTTP gave no receipt');
      expect(signedBy(signed, g.key.address, e.anvil.chainId, e.contractAddress)).toBe(true);
      await expectSettledToTheWei(g, guest, rented, before, signed.receipt);
    });
  });
}

describe('a rental nobody used', () => {
  it('ends at its end and the agent settles it with its own receipt', { timeout: 90_000 }, async () => {
    if (!idle || !second) throw new Error('beforeAll did not rent the idle rentals');
    const { provider } = e.anvil;
    const agent = second;
    // The expiry sweep runs every 10 s: by then each rental has ended and has its receipt.
    for (const rental of [idle.socket, idle.lock]) {
      await waitFor(
        () => agent.store.getReceipt(rental.id),
        `a receipt for rental ${rental.id} (ended at ${rental.end}, never used)`,
        // 15 s past its end, and never less than two sweeps from now.
        Math.max(25_000, (Number(rental.end) + 15) * 1000 - Date.now()),
        100,
      );
    }
    // The socket was never powered: nothing is charged. The lock's key was held for the whole rental.
    for (const [rental, charge] of [
      [idle.socket, 0n],
      [idle.lock, idle.lock.pricePerSecond * (idle.lock.end - idle.lock.start)],
    ] as const) {
      const s = await settled(provider, e.contractAddress, rental.id, 30_000);
      expect(s.byReceipt).toBe(true);
      expect(s.charge).toBe(charge);
      expect(s.refund).toBe(rental.deposit - charge);
      expect((await provider.getTransaction(s.txHash))?.from).toBe(idle.gateway);
      expect(await creditDelta(e.contract, idle.host, s.blockNumber)).toBe(charge);
    }
  });
});
