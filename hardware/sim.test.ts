import { describe, expect, it } from 'vitest';
import { isError } from '../agent/errors.js';
import { silentLogger } from '../agent/log.js';
import { createRelay, RELAY_DRIVERS } from './drivers.js';
import { relayContract } from './relay.contract.js';
import type { RelayConfig } from './relay.js';
import { SimRelay } from './sim.js';

relayContract('sim', () => new SimRelay(), { makeLeftClosed: () => new SimRelay({ closed: true }) });
relayContract('sim via createRelay', () => createRelay({ driver: 'sim' }, silentLogger));

describe('SimRelay', () => {
  it('records every write with its time and emits switch', async () => {
    let t = 1000;
    const relay = new SimRelay({ now: () => t });
    const seen: boolean[] = [];
    relay.on('switch', (s) => seen.push(s.closed));
    await relay.start();
    t = 2000;
    await relay.close();
    t = 3000;
    await relay.open();
    expect(relay.switches).toEqual([
      { at: 1000, closed: false },
      { at: 2000, closed: true },
      { at: 3000, closed: false },
    ]);
    expect(seen).toEqual([false, true, false]);
  });

  it('fails the next n writes then recovers', async () => {
    const relay = new SimRelay();
    await relay.start();
    relay.failNext(2);
    await expect(relay.close()).rejects.toSatisfy((e) => isError(e, 'RELAY_FAILED'));
    await expect(relay.open()).rejects.toSatisfy((e) => isError(e, 'RELAY_FAILED'));
    expect(relay.failures).toBe(2);
    await relay.close();
    expect(relay.isClosed()).toBe(true);
  });

  it('fails only the chosen direction', async () => {
    const relay = new SimRelay();
    await relay.start();
    relay.failNext(1, 'open');
    await relay.close();
    await expect(relay.open()).rejects.toThrow(/open failure/);
    expect(relay.isClosed()).toBe(true);
    expect(relay.pendingFailures).toBe(0);
    await relay.open();
    expect(relay.isClosed()).toBe(false);
  });
});

describe('createRelay', () => {
  it('lists the valid drivers for an unknown one', async () => {
    const err = await createRelay({ driver: 'zigbee' } as unknown as RelayConfig, silentLogger).catch(
      (e) => e,
    );
    expect(isError(err, 'CONFIG_INVALID')).toBe(true);
    for (const d of RELAY_DRIVERS) expect(String(err.message)).toContain(d);
  });

  it.each([
    { driver: 'gpio', pin: 17 },
    { driver: 'firmata', port: '/dev/ttyACM0', pin: 7 },
    { driver: 'mqtt-plug', flavour: 'tasmota', topic: 'plug1', url: 'mqtt://localhost' },
  ] satisfies RelayConfig[])('says $driver is not available in this build', async (config) => {
    const err = await createRelay(config, silentLogger).catch((e) => e);
    expect(isError(err, 'CONFIG_INVALID')).toBe(true);
    expect(err.message).toContain(`'${config.driver}' is not available in this build`);
  });
});
