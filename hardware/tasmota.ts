// Tasmota plugs and relay boards over MQTT (default FullTopic `%prefix%/%topic%/`):
// `cmnd/<topic>/POWER<n>` switches, `stat/<topic>/RESULT` reports,
// `tele/<topic>/LWT` is the availability, `tele/<topic>/SENSOR` carries ENERGY.Total in kWh.
// PulseTime is the hardware lease: the plug switches itself off even if the gateway dies.

import type { RelayDriver } from './driver.js';
import {
  type DeviceReport,
  MqttDeviceRelay,
  type MqttFlavour,
  type MqttLogin,
  parseMqttLogin,
  readTopic,
} from './mqttDevice.js';

export interface TasmotaConfig extends MqttLogin {
  driver: 'tasmota';
  /** The device's Topic setting. */
  topic: string;
  /** Which relay of the device: POWER1 … POWER8; default 1. */
  relay?: number;
}

/** The longest hold PulseTime can express: 64,900 − 100 seconds (18 h). */
export const PULSE_TIME_MAX_SECONDS = 64_800;

/**
 * Tasmota's PulseTime value for a hold of `seconds`: 1–111 are tenths of a second (up to 11.1 s),
 * 112–64900 are whole seconds plus 100. 0 turns the pulse off.
 */
export function pulseTime(seconds: number): number {
  if (!(seconds > 0)) return 0;
  if (seconds <= 11.1) return Math.max(1, Math.round(seconds * 10));
  return Math.min(PULSE_TIME_MAX_SECONDS, Math.max(12, Math.ceil(seconds))) + 100;
}

const onOff = (v: unknown): boolean | undefined => (v === 'ON' ? true : v === 'OFF' ? false : undefined);

export function tasmotaFlavour(config: TasmotaConfig): MqttFlavour {
  const n = config.relay ?? 1;
  const t = config.topic;
  // A device with one relay says POWER, with several POWER1…: relay 1 answers to both. Only
  // stat/<topic>/RESULT is read for the relay: Tasmota answers every POWER command and reports every
  // button press there, and one topic keeps the reports in the order the device sent them.
  const keys = n === 1 ? ['POWER1', 'POWER'] : [`POWER${n}`];
  return {
    describe: `tasmota ${t} POWER${n}`,
    topics: [`stat/${t}/RESULT`, `stat/${t}/STATUS8`, `tele/${t}/LWT`, `tele/${t}/SENSOR`],
    command: (closed, holdSeconds) =>
      closed
        ? [
            { topic: `cmnd/${t}/PulseTime${n}`, payload: String(pulseTime(holdSeconds ?? 0)) },
            { topic: `cmnd/${t}/POWER${n}`, payload: 'ON' },
          ]
        : [{ topic: `cmnd/${t}/POWER${n}`, payload: 'OFF' }],
    // POWER with no payload reports the relay; Status 8 the sensors (the energy counter's baseline).
    query: () => [
      { topic: `cmnd/${t}/POWER${n}`, payload: '' },
      { topic: `cmnd/${t}/Status`, payload: '8' },
    ],
    read(topic, payload): DeviceReport | undefined {
      if (topic === `tele/${t}/LWT`) return payload === 'Online' ? { online: true } : { online: false };
      const json = JSON.parse(payload) as Record<string, unknown>;
      if (topic === `tele/${t}/SENSOR` || topic === `stat/${t}/STATUS8`) {
        const sensors = (topic === `tele/${t}/SENSOR` ? json : json.StatusSNS) as
          | Record<string, unknown>
          | undefined;
        const energy = sensors?.ENERGY as { Total?: unknown } | undefined;
        return typeof energy?.Total === 'number' ? { totalWh: energy.Total * 1000 } : undefined;
      }
      for (const k of keys) {
        const closed = onOff(json[k]);
        if (closed !== undefined) return { closed };
      }
      return undefined;
    },
  };
}

export const tasmotaDriver: RelayDriver<TasmotaConfig> = {
  name: 'tasmota',
  example: '{"driver":"tasmota","url":"mqtt://127.0.0.1:1883","topic":"plug-7"}',
  parse(fields, path, read) {
    const config: TasmotaConfig = {
      driver: 'tasmota',
      ...parseMqttLogin(fields, path, read),
      topic: readTopic(fields.topic, `${path}.topic`, read),
    };
    if (fields.relay !== undefined) config.relay = read.int(fields.relay, `${path}.relay`, 1, 8);
    return config;
  },
  create: (config, context) =>
    new MqttDeviceRelay(tasmotaFlavour(config), config, context, PULSE_TIME_MAX_SECONDS),
};
