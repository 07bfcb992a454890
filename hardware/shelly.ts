// Shelly Gen2+ devices (Plus/Pro/Gen3 plugs and relays) over MQTT RPC: `<prefix>/rpc` takes
// JSON-RPC `Switch.Set` (with `toggle_after` as the hardware lease) and `Switch.GetStatus`, answers
// go to `<src>/rpc`, changes arrive as `NotifyStatus` on `<prefix>/events/rpc` (with
// `aenergy.total` in Wh on metering models), and `<prefix>/online` is the availability.

import { randomBytes } from 'node:crypto';
import type { RelayDriver } from './driver.js';
import {
  type DeviceReport,
  MqttDeviceRelay,
  type MqttFlavour,
  type MqttLogin,
  parseMqttLogin,
  readTopic,
} from './mqttDevice.js';

export interface ShellyConfig extends MqttLogin {
  driver: 'shelly';
  /** The device's MQTT topic prefix (default on the device: its id, e.g. `shellyplusplugs-e868e7…`). */
  prefix: string;
  /** Which switch component: `switch:<id>`; default 0. */
  switchId?: number;
}

interface SwitchStatus {
  output?: unknown;
  aenergy?: { total?: unknown };
}

function fromStatus(status: SwitchStatus | undefined): DeviceReport | undefined {
  if (!status) return undefined;
  const report: DeviceReport = {};
  if (typeof status.output === 'boolean') report.closed = status.output;
  if (typeof status.aenergy?.total === 'number') report.totalWh = status.aenergy.total;
  return Object.keys(report).length > 0 ? report : undefined;
}

export function shellyFlavour(config: ShellyConfig): MqttFlavour {
  const p = config.prefix;
  const id = config.switchId ?? 0;
  const src = `latchkey-${randomBytes(4).toString('hex')}`;
  let rpcId = 0;
  const rpc = (method: string, params: Record<string, unknown>) => ({
    topic: `${p}/rpc`,
    payload: JSON.stringify({ id: ++rpcId, src, method, params }),
  });
  const getStatus = () => rpc('Switch.GetStatus', { id });
  return {
    describe: `shelly ${p} switch:${id}`,
    topics: [`${p}/events/rpc`, `${p}/online`, `${src}/rpc`],
    // Switch.Set answers only `was_on`, and a switch already in place sends no NotifyStatus: ask.
    command: (closed, holdSeconds) => [
      rpc(
        'Switch.Set',
        closed && holdSeconds ? { id, on: true, toggle_after: holdSeconds } : { id, on: closed },
      ),
      getStatus(),
    ],
    query: () => [getStatus()],
    read(topic, payload): DeviceReport | undefined {
      if (topic === `${p}/online`) return { online: payload === 'true' };
      const msg = JSON.parse(payload) as {
        method?: unknown;
        params?: Record<string, unknown>;
        result?: SwitchStatus & { id?: unknown };
        error?: { message?: unknown };
      };
      if (topic === `${src}/rpc`) {
        if (msg.error) return { fault: `rpc error: ${String(msg.error.message)}` };
        return msg.result?.id === id ? fromStatus(msg.result) : undefined;
      }
      if (msg.method !== 'NotifyStatus') return undefined;
      return fromStatus(msg.params?.[`switch:${id}`] as SwitchStatus | undefined);
    },
  };
}

export const shellyDriver: RelayDriver<ShellyConfig> = {
  name: 'shelly',
  example: '{"driver":"shelly","url":"mqtt://127.0.0.1:1883","prefix":"shellyplusplugs-e868e7f0a1b2"}',
  parse(fields, path, read) {
    const config: ShellyConfig = {
      driver: 'shelly',
      ...parseMqttLogin(fields, path, read),
      prefix: readTopic(fields.prefix, `${path}.prefix`, read),
    };
    if (fields.switchId !== undefined) config.switchId = read.int(fields.switchId, `${path}.switchId`, 0, 15);
    return config;
  },
  create: (config, context) => new MqttDeviceRelay(shellyFlavour(config), config, context),
};
