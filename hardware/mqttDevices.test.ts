// Every MQTT device driver against its device simulated at the protocol level, on real brokers
// (aedes and Mosquitto): the shared Relay contract, then what real plugs and locks do — lose power
// mid-rental and come back in another state, switch themselves off on their own timer, get a
// button pressed, jam, reset their energy counter.

import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../agent/log.js';
import { type BrokerUnderTest, startAedes, startMosquittoBroker } from '../agent/mqtt/testkit.js';
import type { DriverContext } from './driver.js';
import { createDriverContext, createRelay, type RelayConfig } from './drivers.js';
import { MAX_RESENDS, type MqttDeviceRelay } from './mqttDevice.js';
import { relayContract } from './relay.contract.js';
import type { Relay, RelayEvents } from './relay.js';
import { pulseTime } from './tasmota.js';
import { SimEsphome, type SimMqttDevice, SimShelly, SimTasmota, SimZigbee } from './test/mqttDeviceSims.js';

interface Family {
  name: string;
  sim(url: string, n: number): SimMqttDevice;
  config(url: string, n: number): RelayConfig;
  /** Whether a message the device received is a command to switch (not a query or a setting). */
  switches(topic: string, payload: string): boolean;
  /** The device has its own off-timer (PulseTime, toggle_after). */
  timer: boolean;
  meters: boolean;
}

const FAMILIES: Family[] = [
  {
    name: 'tasmota',
    sim: (url, n) => new SimTasmota(url, `plug-${n}`),
    config: (url, n) => ({ driver: 'tasmota', url, topic: `plug-${n}` }),
    switches: (topic, payload) => /\/POWER1?$/i.test(topic) && /^(ON|OFF)$/i.test(payload),
    timer: true,
    meters: true,
  },
  {
    name: 'shelly',
    sim: (url, n) => new SimShelly(url, `shellyplusplugs-${n}`),
    config: (url, n) => ({ driver: 'shelly', url, prefix: `shellyplusplugs-${n}` }),
    switches: (_topic, payload) => payload.includes('"Switch.Set"'),
    timer: true,
    meters: true,
  },
  {
    name: 'zigbee2mqtt plug',
    sim: (url, n) => new SimZigbee(url, `plug-${n}`, false),
    config: (url, n) => ({ driver: 'zigbee2mqtt', url, name: `plug-${n}` }),
    switches: (topic) => topic.endsWith('/set'),
    timer: false,
    meters: true,
  },
  {
    name: 'zigbee2mqtt lock',
    sim: (url, n) => new SimZigbee(url, `door-${n}`, true),
    config: (url, n) => ({ driver: 'zigbee2mqtt', url, name: `door-${n}`, expose: 'lock' }),
    switches: (topic) => topic.endsWith('/set'),
    timer: false,
    meters: false,
  },
  {
    name: 'esphome',
    sim: (url, n) => new SimEsphome(url, `relay-board-${n}`, 'relay_1'),
    config: (url, n) => ({ driver: 'esphome', url, prefix: `relay-board-${n}`, switchId: 'relay_1' }),
    switches: (topic) => topic.endsWith('/command'),
    timer: false,
    meters: false,
  },
];

/** Waits for `check` to hold, polling; fails with `what` after `limitMs` (a bound, not a timing claim). */
async function until(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function record<K extends keyof RelayEvents>(relay: Relay, event: K): RelayEvents[K][0][] {
  const seen: RelayEvents[K][0][] = [];
  (relay.events as MqttDeviceRelay['events']).on(event, ((value: RelayEvents[K][0]) =>
    seen.push(value)) as never);
  return seen;
}

const BROKERS: [string, () => Promise<BrokerUnderTest>][] = [
  ['aedes', startAedes],
  ['mosquitto', startMosquittoBroker],
];

let serial = 0;

for (const [brokerName, startBroker] of BROKERS) {
  describe(`MQTT devices on ${brokerName}`, () => {
    let broker: BrokerUnderTest;
    let context: DriverContext;
    const sims: SimMqttDevice[] = [];
    const relays: Relay[] = [];
    const simOf = new Map<Relay, SimMqttDevice>();

    beforeAll(async () => {
      broker = await startBroker();
      context = createDriverContext(silentLogger);
    });
    afterAll(async () => {
      for (const r of relays) await r.stop().catch(() => {});
      for (const s of sims) await s.stop().catch(() => {});
      await broker.stop();
    });

    /** A new device (its own topics) and the relay driving it; `on` is the load as the device holds it. */
    async function device(family: Family, on = false, totalWh = 0, confirmMs?: number) {
      const n = ++serial;
      const sim = family.sim(broker.url, n);
      sim.on = on;
      sim.totalWh = totalWh;
      await sim.connect();
      sims.push(sim);
      const config = family.config(broker.url, n);
      if (confirmMs !== undefined && 'url' in config) config.confirmMs = confirmMs;
      const relay = await createRelay(config, context);
      relays.push(relay);
      simOf.set(relay, sim);
      return { sim, relay };
    }

    for (const family of FAMILIES) {
      relayContract(`${family.name} on ${brokerName}`, async () => (await device(family)).relay, {
        makeLeftClosed: async () => (await device(family, true)).relay,
        readBack: (relay) => simOf.get(relay)?.on === true,
        faults: {
          // Someone at the device presses its button: it switches and says so.
          // A locked zigbee2mqtt lock whose bolt jams half-way reports `not_fully_locked` instead.
          disagreement: {
            disagree: async (relay, closed) => {
              const sim = simOf.get(relay);
              if (sim instanceof SimZigbee && sim.lock && !closed) await sim.jam();
              else await sim?.pressButton();
            },
          },
          // Its power cut: the connection dies, the broker publishes its will; it boots in `closed`.
          offline: {
            cut: (relay) => simOf.get(relay)?.powerCut() ?? Promise.resolve(),
            restore: (relay, closed) => simOf.get(relay)?.powerOn(closed) ?? Promise.resolve(),
          },
        },
      });

      describe(`${family.name} on ${brokerName}`, () => {
        it('loses power mid-rental, is reported offline, and is switched back on when it returns off', async () => {
          const { sim, relay } = await device(family);
          const availability = record(relay, 'availability');
          await relay.start();
          await relay.close({ holdSeconds: 600 });
          await sim.powerCut();
          await until('the device is reported offline', () => availability.includes(false));
          expect(relay.isOnline?.()).toBe(false);
          await expect(relay.close()).rejects.toThrow(/offline/);
          await sim.powerOn(false); // it boots with its load off (PowerOnState 0 / initial_state off)
          await until('the device is back on and says so', () => sim.on && relay.isClosed());
          await until('the device is reported online', () => availability.at(-1) === true);
        });

        it('is switched off when it returns on after an off sent while it was offline', async () => {
          const { sim, relay } = await device(family);
          await relay.start();
          await relay.close();
          await sim.powerCut();
          await until('the device is reported offline', () => relay.isOnline?.() === false);
          await relay.open(); // the lease ended while the device was away: taken for its return
          await sim.powerOn(true);
          await until('the device is off again', () => !sim.on && relay.isOnline?.() === true);
          await until('the device says it is off', () => !relay.isClosed());
        });

        it('undoes a button press that powers it outside a rental, and reports it', async () => {
          const { sim, relay } = await device(family);
          const reported = record(relay, 'reported');
          await relay.start();
          await sim.pressButton();
          await until('the press is reported', () => reported.includes(true));
          await until('the device is off again', () => !sim.on && reported.at(-1) === false);
        });

        it(`a welded contact is sent back ${MAX_RESENDS} times, then reported as a fault and left alone`, async () => {
          const confirmMs = 300;
          const { sim, relay } = await device(family, false, 0, confirmMs);
          const faults = record(relay, 'fault');
          const switched = () => sim.received.filter((m) => family.switches(m.topic, m.payload)).length;
          await relay.start();
          await until("the device got start's command to switch off", () => switched() === 1);
          const commands = () => switched() - 1;
          await sim.weld(); // on, and it says so after every command it gets
          await until('the fault is reported', () => faults.length > 0);
          expect(faults).toEqual([`reports on after ${MAX_RESENDS} commands to switch it off`]);
          expect(commands()).toBe(MAX_RESENDS);
          // Its next report of the same state sends nothing more: no command loop.
          await sim.report();
          await new Promise((r) => setTimeout(r, 3 * confirmMs));
          expect(commands()).toBe(MAX_RESENDS);
          expect(faults).toHaveLength(1);
          // The controller's own command is still sent, and fails for what it is.
          await expect(relay.open()).rejects.toThrow(/did not report off/);
          expect(commands()).toBe(MAX_RESENDS + 1);
          expect(sim.on).toBe(true);
        });

        it('never leaves a command retained on the broker', async () => {
          const { relay } = await device(family);
          await relay.start();
          await relay.close();
          await relay.open();
          const probe = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
          const retained: string[] = [];
          const marker = `probe/${serial}`;
          let sawMarker = false;
          probe.on('message', (topic, _payload, packet) => {
            if (topic === marker) sawMarker = true;
            else if (
              packet.retain &&
              !/(LWT|online|status|availability|state|plug-\d+$|door-\d+$)$/.test(topic)
            )
              retained.push(topic);
          });
          await probe.subscribeAsync(['#', marker]);
          await probe.publishAsync(marker, 'x');
          await until('the probe saw its own marker', () => sawMarker);
          await probe.endAsync();
          expect(retained).toEqual([]);
        });

        if (family.timer) {
          it("switches itself off on the device's own timer, with the gateway gone", async () => {
            const { sim, relay } = await device(family);
            const reported = record(relay, 'reported');
            await relay.start();
            await relay.close({ holdSeconds: 1 });
            expect(sim.on).toBe(true);
            if (sim instanceof SimTasmota) expect(sim.pulseTime).toBe(10); // 1 s = 10 tenths
            await until('the device switched itself off', () => !sim.on, 15_000);
            await until('the driver heard it', () => reported.at(-1) === false);
          });
        }

        if (family.meters) {
          it("reports the device's cumulative energy counter, also across a reset", async () => {
            const { sim, relay } = await device(family, false, 1000);
            const energy = record(relay, 'energy');
            await relay.start();
            await relay.close();
            await sim.addEnergy(10);
            await until('the counter reached 1010 Wh', () => energy.includes(1010));
            await sim.resetCounter();
            await sim.addEnergy(2);
            await until('the counter after its reset reached 2 Wh', () => energy.at(-1) === 2);
          });
        }
      });
    }

    it('shares one broker connection among every device on one login', async () => {
      const own = createDriverContext(silentLogger);
      const a = SimTasmotaPair(broker.url);
      await a.tasmota.connect();
      await a.shelly.connect();
      sims.push(a.tasmota, a.shelly);
      const r1 = await createRelay({ driver: 'tasmota', url: broker.url, topic: a.tasmota.topic }, own);
      const r2 = await createRelay({ driver: 'shelly', url: broker.url, prefix: a.shelly.prefix }, own);
      await r1.start();
      await r2.start();
      expect(own.connections.size).toBe(1);
      await r1.stop();
      expect(own.connections.size).toBe(1);
      await r2.stop();
      expect(own.connections.size).toBe(0);
    });
  });
}

function SimTasmotaPair(url: string) {
  const n = ++serial;
  return { tasmota: new SimTasmota(url, `pair-${n}`), shelly: new SimShelly(url, `shellypair-${n}`) };
}

describe('zigbee2mqtt lock faults', () => {
  let broker: BrokerUnderTest;
  beforeAll(async () => {
    broker = await startAedes();
  });
  afterAll(() => broker.stop());

  it('a lock that reports not_fully_locked fails the lock command and raises a fault', async () => {
    const sim = new SimZigbee(broker.url, 'jammy', true);
    await sim.connect();
    const relay = await createRelay(
      { driver: 'zigbee2mqtt', url: broker.url, name: 'jammy', expose: 'lock' },
      createDriverContext(silentLogger),
    );
    const faults = record(relay, 'fault');
    await relay.start();
    await relay.close();
    sim.jamOnNextLock = true;
    await expect(relay.open()).rejects.toThrow(/not_fully_locked/);
    expect(faults).toEqual(['lock reports not_fully_locked']);
    sim.jamOnNextLock = false;
    await relay.open(); // the next try locks it
    expect(sim.on).toBe(false);
    await relay.stop();
    await sim.stop();
  });

  it("a Shelly switch id the device lacks fails start with the device's own error", async () => {
    const sim = new SimShelly(broker.url, 'shellyone');
    await sim.connect();
    const relay = await createRelay(
      { driver: 'shelly', url: broker.url, prefix: 'shellyone', switchId: 3, confirmMs: 2000 },
      createDriverContext(silentLogger),
    );
    await expect(relay.start()).rejects.toThrow(/rpc error: Argument 'id', value 3 not found/);
    await relay.stop();
    await sim.stop();
  });

  it('a device that never answers fails within its confirmation time, with the reason', async () => {
    const relay = await createRelay(
      { driver: 'esphome', url: broker.url, prefix: 'nobody-home', switchId: 'relay_1', confirmMs: 300 },
      createDriverContext(silentLogger),
    );
    await expect(relay.start()).rejects.toThrow(/did not report off within 300 ms/);
    await relay.stop();
  });
});

describe('Tasmota PulseTime', () => {
  it('encodes tenths up to 11.1 s and seconds + 100 above, capped at 64,900', () => {
    expect([0.1, 0.5, 5, 11.1].map(pulseTime)).toEqual([1, 5, 50, 111]);
    expect([11.2, 12, 3600, 64_800, 100_000].map(pulseTime)).toEqual([112, 112, 3700, 64_900, 64_900]);
    expect(pulseTime(0)).toBe(0);
    for (const s of [0.3, 7, 11.1, 12, 600, 64_800])
      expect(SimTasmota.holdOf(pulseTime(s))).toBeGreaterThanOrEqual(s);
  });
});
