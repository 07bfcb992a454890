// What a relay driver is: one module that names itself, reads its own config fields and builds a
// Relay from them with a shared context. The registry in drivers.ts lists every driver once.

import type { Relay, RelayLogger } from './relay.js';
import type { SharedConnections } from './sharedConnections.js';

/**
 * The config reader a driver's parser is handed (the agent's config Reader fits it): each call
 * records a problem instead of throwing, so the host sees every mistake of a config at once.
 */
export interface ConfigReader {
  readonly problems: string[];
  string(v: unknown, path: string, fallback?: string): string;
  optionalString(v: unknown, path: string): string | undefined;
  int(v: unknown, path: string, min: number, max: number, fallback?: number): number;
  oneOf<T extends string>(v: unknown, path: string, options: readonly T[], fallback?: T): T;
  url(v: unknown, path: string, protocols: string[]): string;
  boolean(v: unknown, path: string, fallback: boolean): boolean;
}

/** What every relay a driver creates may share: a logger and connections opened once per gateway. */
export interface DriverContext {
  log: RelayLogger;
  /** Connections shared by every relay on them: one MQTT client per broker login, one serial port per board. */
  connections: SharedConnections;
}

export interface RelayDriver<C extends { driver: string }> {
  readonly name: C['driver'];
  /** One line a config error shows, e.g. `{"driver":"shelly","url":"mqtt://…","prefix":"shellyplus1-…"}`. */
  readonly example: string;
  /** Reads this driver's fields from `fields` (the relay object of a device config, at `path`). */
  parse(fields: Record<string, unknown>, path: string, read: ConfigReader): C;
  /** Builds the relay; heavy or native modules are imported here, never at module load. */
  create(config: C, context: DriverContext): Relay | Promise<Relay>;
}
