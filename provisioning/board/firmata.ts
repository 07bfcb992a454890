// Board sheet for a relay on an Arduino running StandardFirmata, on a serial port of the gateway.

import type { BoardContext, BoardSheet } from './types.js';

export function firmataSheet(
  c: BoardContext,
  relay: { link: { serial: string }; pin: number; normallyClosed?: boolean },
): BoardSheet {
  const lines13 =
    relay.pin === 13 ? ['WARNING: StandardFirmata blinks D13 at boot: never wire a relay to D13'] : [];
  return {
    title: `device ${c.device.id} (${c.device.kind}): relay on an Arduino (StandardFirmata) at ${relay.link.serial}, pin D${relay.pin}`,
    sections: [
      {
        heading: 'Firmware (StandardFirmata, from the Firmata library)',
        lines: [
          'arduino-cli core update-index && arduino-cli core install arduino:avr',
          'arduino-cli lib install Firmata',
          'arduino-cli compile --fqbn arduino:avr:uno ~/Arduino/libraries/Firmata/examples/StandardFirmata',
          `arduino-cli upload --fqbn arduino:avr:uno --port ${relay.link.serial} ~/Arduino/libraries/Firmata/examples/StandardFirmata`,
          'Serial: 57600 baud (StandardFirmata).',
        ],
      },
      {
        heading: 'Wiring',
        lines: [
          '| Arduino | to relay board |',
          '|---|---|',
          `| D${relay.pin} | IN |`,
          '| 5V | VCC |',
          '| GND | GND |',
          `| relay COM + ${relay.normallyClosed === true ? 'NC' : 'NO'} | in series with the load |`,
          ...lines13,
        ],
      },
      {
        heading: 'Permissions',
        lines: [`the agent user needs ${relay.link.serial}: sudo usermod -aG dialout latchkey`],
      },
    ],
  };
}
