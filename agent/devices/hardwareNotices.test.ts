// The controller acting on what real devices report, through their drivers, on a real broker: a
// Shelly plug losing power mid-rental and coming back off, a zigbee2mqtt lock that jams or returns
// unlocked, a Tasmota plug whose relay welds. Each is seen in the state, the audit log and the metrics.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriverContext, createRelay, type RelayConfig } from '../../hardware/drivers.js';
import type { Relay } from '../../hardware/relay.js';
import { type SimMqttDevice, SimShelly, SimTasmota, SimZigbee } from '../../hardware/test/mqttDeviceSims.js';
import { isError } from '../errors.js';
import { silentLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { type BrokerUnderTest, startAedes } from '../mqtt/testkit.js';
import type { DeviceController } from './controller.js';
import { feedDeviceReports } from './deviceReports.js';
import { HEALTH_METRICS } from './hardwareNotices.js';
import { rentalOf, tempStore, testController, unixNow } from './testkit.js';

async function until(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let broker: BrokerUnderTest;
let serial = 0;
beforeAll(async () => {
  broker = await startAedes();
});
afterAll(() => broker.stop());

interface Rig {
  sim: SimMqttDevice;
  relay: Relay;
  ctl: DeviceController;
  metrics: Metrics;
  env: ReturnType<typeof tempStore>;
  /** The device's audit entries as [action, outcome], oldest first. */
  audit(): [string, string][];
  metric(name: string): number | undefined;
  stop(): Promise<void>;
}

/** A started controller of device 1 on a simulated device and the real driver for it. */
async function rig(kind: 'lock' | 'socket', sim: SimMqttDevice, config: RelayConfig): Promise<Rig> {
  await sim.connect();
  const env = tempStore();
  const metrics = new Metrics();
  const relay = await createRelay(config, createDriverContext(silentLogger));
  const ctl = testController(relay, env.store, { kind, metrics, pulseSeconds: 600 });
  feedDeviceReports(relay, ctl, silentLogger);
  await ctl.start();
  return {
    sim,
    relay,
    ctl,
    metrics,
    env,
    audit: () => env.store.auditTail(200, 1n).map((e) => [e.action, e.outcome]),
    metric: (name) => metrics.get(name, { device: '1' }),
    async stop() {
      await ctl.stop();
      await sim.stop();
      env.cleanup();
    },
  };
}

function liveRental(r: Rig) {
  const now = unixNow();
  const rental = rentalOf(1n, BigInt(++serial), now - 60, now + 3600);
  r.env.store.putRental(rental);
  return rental;
}

async function refusal(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a refusal');
}

describe('a socket on a Shelly plug that loses power mid-rental', () => {
  it('is shown offline, refuses on before any lease, and is powered again on its return', async () => {
    const prefix = `shelly-out-${++serial}`;
    const r = await rig('socket', new SimShelly(broker.url, prefix), {
      driver: 'shelly',
      url: broker.url,
      prefix,
    });
    try {
      const rental = liveRental(r);
      await r.ctl.apply({ rental, action: 'on' });
      expect(r.sim.on).toBe(true);
      expect(r.metric(HEALTH_METRICS.online[0])).toBe(1); // from its birth message at the start

      await r.sim.powerCut();
      await until('the state says offline', () => r.ctl.state().health === 'offline');
      expect(r.ctl.state()).toMatchObject({ phase: 'closed', rentalId: rental.id });
      expect(r.metric(HEALTH_METRICS.online[0])).toBe(0);
      expect(r.metric(HEALTH_METRICS.outages[0])).toBe(1);

      // The guest's on: refused with its own code, audited, nothing switched.
      const e = await refusal(r.ctl.apply({ rental, action: 'on' }));
      expect(isError(e, 'DEVICE_OFFLINE')).toBe(true);
      expect((e as Error).message).toMatch(/offline since .*nothing was switched/);
      expect(r.env.store.auditTail(1, 1n)[0]).toMatchObject({ action: 'on', outcome: 'refused' });

      await r.sim.powerOn(false); // it boots off (initial_state: off)
      await until('the plug is on again', () => r.sim.on && r.ctl.state().health === undefined);
      await until('the socket is powered again, audited', () => r.audit().at(-1)?.[0] === 'on');
      expect(r.ctl.state()).toMatchObject({ phase: 'closed', relay: 'closed', status: 'on' });
      const trail = r.audit();
      const out = trail.findIndex(([a, o]) => a === 'outage' && o === 'error');
      const back = trail.findIndex(([a, o]) => a === 'outage' && o === 'ok');
      expect(out).toBeGreaterThanOrEqual(0);
      expect(back).toBeGreaterThan(out);
      expect(trail.at(-1)).toEqual(['on', 'ok']);
      expect(r.metric(HEALTH_METRICS.online[0])).toBe(1);

      const { receipt } = await r.ctl.apply({ rental, action: 'checkout' });
      expect(receipt).toBeDefined();
      expect(r.sim.on).toBe(false);
    } finally {
      await r.stop();
    }
  });

  it('an offline plug takes no new rental: no lease is started', async () => {
    const prefix = `shelly-idle-${++serial}`;
    const r = await rig('socket', new SimShelly(broker.url, prefix), {
      driver: 'shelly',
      url: broker.url,
      prefix,
    });
    try {
      await r.sim.powerCut();
      await until('the state says offline', () => r.ctl.state().health === 'offline');
      const rental = liveRental(r);
      const e = await refusal(r.ctl.apply({ rental, action: 'on' }));
      expect(isError(e, 'DEVICE_OFFLINE')).toBe(true);
      expect(r.ctl.state()).toMatchObject({ phase: 'idle' });
      expect(r.ctl.state().rentalId).toBeUndefined();
      expect(r.env.store.getDeviceRuntime(1n)?.rentalId).toBeUndefined();
      // Its return while idle leaves it off, and says so.
      await r.sim.powerOn(true);
      await until('the plug is off', () => !r.sim.on && r.ctl.state().health === undefined);
      await until('the safe state is audited', () => r.audit().at(-1)?.[0] === 'safe');
      expect(r.audit().at(-1)).toEqual(['safe', 'ok']);
    } finally {
      await r.stop();
    }
  });
});

describe('a zigbee2mqtt lock', () => {
  it('that jams is shown faulted with what it said, counted, and clear once it locks', async () => {
    const name = `door-jam-${++serial}`;
    const sim = new SimZigbee(broker.url, name, true);
    const r = await rig('lock', sim, { driver: 'zigbee2mqtt', url: broker.url, name, expose: 'lock' });
    try {
      await sim.jam();
      await until('the state says faulted', () => r.ctl.state().health === 'faulted');
      expect(r.ctl.state().fault).toBe('lock reports not_fully_locked');
      expect(r.metric(HEALTH_METRICS.faults[0])).toBe(1);
      expect(r.audit()).toContainEqual(['fault', 'error']);
      // The guest locks it properly: the device says locked, the fault is over.
      const rental = liveRental(r);
      await r.ctl.apply({ rental, action: 'lock' });
      await until('the fault is over', () => r.ctl.state().health === undefined);
      expect(r.ctl.state().fault).toBeUndefined();
      expect(r.audit()).toContainEqual(['fault', 'ok']);
    } finally {
      await r.stop();
    }
  });

  it('that returns from an outage unlocked is locked again', async () => {
    const name = `door-out-${++serial}`;
    const sim = new SimZigbee(broker.url, name, true);
    const r = await rig('lock', sim, { driver: 'zigbee2mqtt', url: broker.url, name, expose: 'lock' });
    try {
      const rental = liveRental(r);
      await r.ctl.apply({ rental, action: 'unlock' });
      expect(sim.on).toBe(true);
      await sim.powerCut();
      await until('the state says offline', () => r.ctl.state().health === 'offline');
      const e = await refusal(r.ctl.apply({ rental, action: 'unlock' }));
      expect(isError(e, 'DEVICE_OFFLINE')).toBe(true);
      await sim.powerOn(true); // back with its bolt drawn
      await until('the lock is locked', () => !sim.on && r.ctl.state().status === 'locked');
      await until('the relock is audited', () => r.audit().some(([a]) => a === 'lock'));
      expect(r.ctl.state()).toMatchObject({ phase: 'open', rentalId: rental.id });
      expect(r.ctl.state().health).toBeUndefined();
    } finally {
      await r.stop();
    }
  });
});

describe('a Tasmota plug whose relay welds', () => {
  it('is shown faulted after the bounded re-sends, and an off is not claimed done', async () => {
    const topic = `plug-weld-${++serial}`;
    const sim = new SimTasmota(broker.url, topic);
    const r = await rig('socket', sim, { driver: 'tasmota', url: broker.url, topic, confirmMs: 300 });
    try {
      const rental = liveRental(r);
      await r.ctl.apply({ rental, action: 'on' });
      await sim.weld();
      await r.ctl.apply({ rental, action: 'off' }).then(
        () => {
          throw new Error('off was claimed done on a welded relay');
        },
        (e: unknown) => expect(isError(e, 'RELAY_FAILED')).toBe(true),
      );
      await sim.report(); // its next telemetry: still on
      await until('the state says faulted', () => r.ctl.state().health === 'faulted');
      expect(r.ctl.state().fault).toMatch(/reports on after 2 commands to switch it off/);
      expect(r.ctl.state()).toMatchObject({ relay: 'closed', status: 'on' });
      expect(r.metric(HEALTH_METRICS.faults[0])).toBe(1);
      expect(r.audit()).toContainEqual(['off', 'error']);
    } finally {
      await r.stop();
    }
  });
});
