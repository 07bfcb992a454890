// Any lock or plug paired to the host's zigbee2mqtt: `<base>/<name>/set` takes {"state":"UNLOCK"}
// or {"state":"ON"}, `<base>/<name>` reports the state (and `energy` in kWh on metering plugs),
// `<base>/<name>/availability` is the availability (with availability enabled in zigbee2mqtt).
// A lock that says `not_fully_locked` (or jammed) is a fault, never a success.

import type { RelayDriver } from './driver.js';
import {
  type DeviceReport,
  MqttDeviceRelay,
  type MqttFlavour,
  type MqttLogin,
  parseMqttLogin,
  readTopic,
} from './mqttDevice.js';

export interface Zigbee2mqttConfig extends MqttLogin {
  driver: 'zigbee2mqtt';
  /** The device's friendly_name in zigbee2mqtt. */
  name: string;
  /** What the device exposes: a switch (plugs, relays) or a lock; default switch. */
  expose?: 'switch' | 'lock';
  /** zigbee2mqtt's base_topic; default `zigbee2mqtt`. */
  baseTopic?: string;
}

const LOCK_STATES: Record<string, boolean> = { unlocked: true, locked: false };

export function zigbee2mqttFlavour(config: Zigbee2mqttConfig): MqttFlavour {
  const base = `${config.baseTopic ?? 'zigbee2mqtt'}/${config.name}`;
  const lock = config.expose === 'lock';
  return {
    describe: `zigbee2mqtt ${config.name}${lock ? ' (lock)' : ''}`,
    topics: [base, `${base}/availability`],
    command: (closed) => [
      {
        topic: `${base}/set`,
        payload: JSON.stringify({ state: lock ? (closed ? 'UNLOCK' : 'LOCK') : closed ? 'ON' : 'OFF' }),
      },
    ],
    query: () => [{ topic: `${base}/get`, payload: JSON.stringify({ state: '' }) }],
    read(topic, payload): DeviceReport | undefined {
      if (topic === `${base}/availability`) {
        // zigbee2mqtt ≥ 1.30 sends {"state":"online"}; older versions the bare word.
        const state = payload.startsWith('{') ? (JSON.parse(payload) as { state?: unknown }).state : payload;
        return { online: state === 'online' };
      }
      const msg = JSON.parse(payload) as { state?: unknown; lock_state?: unknown; energy?: unknown };
      const report: DeviceReport = {};
      if (typeof msg.energy === 'number') report.totalWh = msg.energy * 1000;
      if (lock) {
        if (typeof msg.lock_state === 'string') {
          const closed = LOCK_STATES[msg.lock_state];
          if (closed === undefined) report.fault = `lock reports ${msg.lock_state}`;
          else report.closed = closed;
        } else if (msg.state === 'LOCK' || msg.state === 'UNLOCK') {
          report.closed = msg.state === 'UNLOCK';
        }
      } else if (msg.state === 'ON' || msg.state === 'OFF') {
        report.closed = msg.state === 'ON';
      }
      return Object.keys(report).length > 0 ? report : undefined;
    },
  };
}

export const zigbee2mqttDriver: RelayDriver<Zigbee2mqttConfig> = {
  name: 'zigbee2mqtt',
  example: '{"driver":"zigbee2mqtt","url":"mqtt://127.0.0.1:1883","name":"front-door","expose":"lock"}',
  parse(fields, path, read) {
    const config: Zigbee2mqttConfig = {
      driver: 'zigbee2mqtt',
      ...parseMqttLogin(fields, path, read),
      name: readTopic(fields.name, `${path}.name`, read),
    };
    if (fields.expose !== undefined)
      config.expose = read.oneOf(fields.expose, `${path}.expose`, ['switch', 'lock']);
    if (fields.baseTopic !== undefined)
      config.baseTopic = readTopic(fields.baseTopic, `${path}.baseTopic`, read);
    return config;
  },
  create: (config, context) => new MqttDeviceRelay(zigbee2mqttFlavour(config), config, context),
};
