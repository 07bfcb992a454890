import { describe, expect, it } from 'vitest';
import { silentLogger } from '../agent/log.js';
import { createDriverContext, createRelay, RELAY_DRIVER_NAMES, type RelayConfig } from './drivers.js';
import { isRelayError } from './errors.js';
import { relayContract } from './relay.contract.js';
import { SimRelay } from './sim.js';

const context = createDriverContext(silentLogger);

/** The sim is memory: nothing of it can disagree with itself or go away. */
const SIM_FAULTS = {
  disagreement: { none: 'the sim has no feedback contact and reports nothing by itself' },
  offline: { none: 'the sim is in memory and always there' },
};

relayContract('sim', () => new SimRelay(), {
  makeLeftClosed: () => new SimRelay({ closed: true }),
  faults: SIM_FAULTS,
});
relayContract('sim via createRelay', () => createRelay({ driver: 'sim' }, context), { faults: SIM_FAULTS });

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
    await expect(relay.close()).rejects.toSatisfy((e) => isRelayError(e, 'RELAY_FAILED'));
    await expect(relay.open()).rejects.toSatisfy((e) => isRelayError(e, 'RELAY_FAILED'));
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
    const err = await createRelay({ driver: 'zigbee' } as unknown as RelayConfig, context).catch((e) => e);
    expect(isRelayError(err, 'CONFIG_INVALID')).toBe(true);
    for (const d of RELAY_DRIVER_NAMES) expect(String(err.message)).toContain(d);
  });
});
