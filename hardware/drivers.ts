// The relay driver factory: turns a RelayConfig into a Relay, importing a driver only when a
// config asks for it so native modules (onoff, serialport) never load on machines that do not use them.

import { LatchkeyError } from '../agent/errors.js';
import type { Logger } from '../agent/log.js';
import type { Relay, RelayConfig } from './relay.js';

/** Every driver name a RelayConfig may carry. */
export const RELAY_DRIVERS = [
  'sim',
  'gpio',
  'firmata',
  'mqtt-plug',
] as const satisfies readonly RelayConfig['driver'][];

/** The drivers this build can actually load. */
export const AVAILABLE_RELAY_DRIVERS: readonly RelayConfig['driver'][] = ['sim'];

export async function createRelay(config: RelayConfig, log: Logger): Promise<Relay> {
  const driver: unknown = (config as { driver?: unknown } | null)?.driver;
  switch (driver) {
    case 'sim': {
      const { SimRelay } = await import('./sim.js');
      return new SimRelay({ log: log.child('relay:sim') });
    }
    case 'gpio':
    case 'firmata':
    case 'mqtt-plug':
      throw new LatchkeyError('CONFIG_INVALID', `relay driver '${driver}' is not available in this build`, {
        details: `drivers available: ${AVAILABLE_RELAY_DRIVERS.join(', ')}`,
      });
    default:
      throw new LatchkeyError('CONFIG_INVALID', `unknown relay driver ${JSON.stringify(driver)}`, {
        details: `valid drivers: ${RELAY_DRIVERS.join(', ')}`,
      });
  }
}
