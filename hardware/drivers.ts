// The registry of relay drivers: every driver listed once. The agent's config reads a relay's
// fields through the driver it names, and the factory builds it with the gateway's shared context.
// Driver modules are small; each imports its heavy or native dependency only inside create().

import type { ConfigReader, DriverContext, RelayDriver } from './driver.js';
import { RelayError } from './errors.js';
import { esphomeDriver } from './esphome.js';
import { firmataDriver } from './firmata.js';
import { gpioDriver } from './gpio.js';
import type { Relay, RelayLogger } from './relay.js';
import { SharedConnections } from './sharedConnections.js';
import { shellyDriver } from './shelly.js';
import { simDriver } from './sim.js';
import { tasmotaDriver } from './tasmota.js';
import { zigbee2mqttDriver } from './zigbee2mqtt.js';

/** Every driver, once. A new driver is one module and one line here. */
export const RELAY_DRIVERS = [
  simDriver,
  gpioDriver,
  firmataDriver,
  tasmotaDriver,
  shellyDriver,
  zigbee2mqttDriver,
  esphomeDriver,
] as const;

type AnyDriver = (typeof RELAY_DRIVERS)[number];
/** The config of one relay, tagged by driver: the union of what each driver's parser returns. */
export type RelayConfig = ReturnType<AnyDriver['parse']>;
export type RelayDriverName = RelayConfig['driver'];

export const RELAY_DRIVER_NAMES: readonly RelayDriverName[] = RELAY_DRIVERS.map((d) => d.name);

function find(name: unknown): AnyDriver | undefined {
  return RELAY_DRIVERS.find((d) => d.name === name);
}

/** Reads a device's `relay` object; problems go to `read.problems` (the sim is returned then). */
export function parseRelayConfig(v: unknown, path: string, read: ConfigReader): RelayConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    read.problems.push(
      `${path}: expected an object like {"driver":"sim"}, got ${JSON.stringify(v) ?? String(v)}`,
    );
    return { driver: 'sim' };
  }
  const fields = v as Record<string, unknown>;
  const driver = find(fields.driver);
  if (!driver) {
    read.problems.push(
      `${path}.driver: expected one of ${RELAY_DRIVER_NAMES.join(', ')}, got ${JSON.stringify(fields.driver) ?? 'nothing'}`,
    );
    return { driver: 'sim' };
  }
  return (driver as RelayDriver<RelayConfig>).parse(fields, path, read);
}

/** The context every relay of one agent shares; `close()` after every relay has stopped. */
export function createDriverContext(log: RelayLogger): DriverContext {
  return { log, connections: new SharedConnections() };
}

export async function createRelay(config: RelayConfig, context: DriverContext): Promise<Relay> {
  const driver = find((config as { driver?: unknown } | null)?.driver);
  if (!driver) {
    throw new RelayError('CONFIG_INVALID', `unknown relay driver ${JSON.stringify(config?.driver)}`, {
      details: `valid drivers: ${RELAY_DRIVER_NAMES.join(', ')}`,
    });
  }
  return (driver as RelayDriver<RelayConfig>).create(config, {
    ...context,
    log: context.log.child(driver.name),
  });
}
