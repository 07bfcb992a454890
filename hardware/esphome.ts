// ESPHome relay boards through ESPHome's MQTT component: `<prefix>/switch/<id>/command` takes
// ON/OFF, `<prefix>/switch/<id>/state` reports it (retained), `<prefix>/status` is the
// availability (online/offline, the component's birth and will messages).

import type { RelayDriver } from './driver.js';
import {
  type DeviceReport,
  MqttDeviceRelay,
  type MqttFlavour,
  type MqttLogin,
  parseMqttLogin,
  readTopic,
} from './mqttDevice.js';

export interface EsphomeConfig extends MqttLogin {
  driver: 'esphome';
  /** The node's topic_prefix (default: its name). */
  prefix: string;
  /** The switch's object id (its name, lower-case with underscores). */
  switchId: string;
}

export function esphomeFlavour(config: EsphomeConfig): MqttFlavour {
  const sw = `${config.prefix}/switch/${config.switchId}`;
  return {
    describe: `esphome ${config.prefix} ${config.switchId}`,
    topics: [`${sw}/state`, `${config.prefix}/status`],
    command: (closed) => [{ topic: `${sw}/command`, payload: closed ? 'ON' : 'OFF' }],
    query: () => [],
    read(topic, payload): DeviceReport | undefined {
      if (topic === `${config.prefix}/status`) return { online: payload === 'online' };
      return payload === 'ON' ? { closed: true } : payload === 'OFF' ? { closed: false } : undefined;
    },
  };
}

export const esphomeDriver: RelayDriver<EsphomeConfig> = {
  name: 'esphome',
  example: '{"driver":"esphome","url":"mqtt://127.0.0.1:1883","prefix":"door-relay","switchId":"relay_1"}',
  parse: (fields, path, read) => ({
    driver: 'esphome',
    ...parseMqttLogin(fields, path, read),
    prefix: readTopic(fields.prefix, `${path}.prefix`, read),
    switchId: readTopic(fields.switchId, `${path}.switchId`, read),
  }),
  create: (config, context) => new MqttDeviceRelay(esphomeFlavour(config), config, context),
};
