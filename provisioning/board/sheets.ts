// The one registry from a device's relay config to its board sheet.

import { firmataSheet } from './firmata.js';
import { gpioSheet } from './gpio.js';
import { shellySheet } from './shelly.js';
import { tasmotaSheet } from './tasmota.js';
import type { BoardContext, BoardSheet } from './types.js';

export function boardSheet(c: BoardContext): BoardSheet {
  const relay = c.device.relay;
  switch (relay.driver) {
    case 'sim':
      return {
        title: `device ${c.device.id} (${c.device.kind}): simulated relay`,
        sections: [{ heading: 'Nothing to wire', lines: ['a simulated relay has no hardware'] }],
      };
    case 'gpio':
      return gpioSheet(c, relay);
    case 'firmata':
      return firmataSheet(c, relay);
    case 'tasmota':
      return tasmotaSheet(c, relay);
    case 'shelly':
      return shellySheet(c, relay);
    case 'zigbee2mqtt':
    case 'esphome':
      return {
        title: `device ${c.device.id} (${c.device.kind}): ${relay.driver} device`,
        sections: [
          {
            heading: 'Settings',
            lines: [
              'see docs/hardware.md, "Device settings the agent expects"',
              `broker: ${new URL(relay.url).host}`,
            ],
          },
        ],
      };
  }
}

export function renderSheet(s: BoardSheet): string {
  return `${s.title}\n${s.sections.map((x) => `\n${x.heading}:\n${x.lines.map((l) => `  ${l}`).join('\n')}\n`).join('')}`;
}
