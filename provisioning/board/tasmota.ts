// Board sheet for a Tasmota plug: the console commands that point it at the gateway's broker, under
// the topic the config names, starting off after a power cut.

import { pulseTime } from '../../hardware/tasmota.js';
import type { BoardContext, BoardSheet } from './types.js';

export function tasmotaSheet(c: BoardContext, relay: { topic: string; url: string }): BoardSheet {
  const u = new URL(relay.url);
  const lock = c.device.kind === 'lock';
  return {
    title: `device ${c.device.id} (${c.device.kind}): Tasmota plug, topic ${relay.topic}`,
    sections: [
      {
        heading: 'Tasmota console (Consoles → Console), one line each',
        lines: [
          `MqttHost ${u.hostname}`,
          `MqttPort ${u.port || (u.protocol === 'mqtts:' ? '8883' : '1883')}`,
          ...(u.username
            ? [`MqttUser ${decodeURIComponent(u.username)}`, 'MqttPassword <its password>']
            : []),
          `Topic ${relay.topic}`,
          'PowerOnState 0',
          ...(lock ? [`PulseTime1 ${pulseTime(c.device.pulseSeconds)}`] : []),
          'SetOption26 1',
        ],
      },
      {
        heading: 'What the agent uses',
        lines: [
          `cmnd/${relay.topic}/POWER ON|OFF (it sends), stat/${relay.topic}/POWER (it reads)`,
          'PowerOnState 0: after a power cut the plug stays off until the agent switches it',
        ],
      },
    ],
  };
}
