// Board sheet for a relay on a Firmata board: an Arduino running StandardFirmata on a serial port of
// the gateway, or an ESP32/ESP8266 running StandardFirmataWiFi reached over TCP.

import type { FirmataConfig } from '../../hardware/firmata.js';
import { describeLink } from '../../hardware/firmataBoard.js';
import type { BoardContext, BoardSheet } from './types.js';

export function firmataSheet(
  c: BoardContext,
  relay: Pick<FirmataConfig, 'link' | 'pin' | 'normallyClosed'>,
): BoardSheet {
  const lines13 =
    relay.pin === 13 ? ['WARNING: StandardFirmata blinks D13 at boot: never wire a relay to D13'] : [];
  const contact = `| relay COM + ${relay.normallyClosed === true ? 'NC' : 'NO'} | in series with the load |`;
  const nc =
    relay.normallyClosed === true
      ? ['WARNING: Firmata boots with every output low, which powers an NC-wired load until the agent starts']
      : [];
  if ('tcp' in relay.link) {
    return {
      title: `device ${c.device.id} (${c.device.kind}): relay on a Wi-Fi board (StandardFirmataWiFi) at ${describeLink(relay.link)}, pin ${relay.pin}`,
      sections: [
        {
          heading: 'Firmware (StandardFirmataWiFi, from the Firmata library)',
          lines: [
            'arduino-cli lib install Firmata',
            'in examples/StandardFirmataWiFi/wifiConfig.h: your SSID and password, and a static IP (or a DHCP reservation)',
            'arduino-cli compile --fqbn esp32:esp32:esp32 ~/Arduino/libraries/Firmata/examples/StandardFirmataWiFi',
            `the board listens on TCP port ${relay.link.tcp.port} (3030 by default)`,
          ],
        },
        {
          heading: 'Wiring',
          lines: [
            '| board | to relay board |',
            '|---|---|',
            `| GPIO${relay.pin} | IN |`,
            '| 5V / VIN | VCC |',
            '| GND | GND |',
            contact,
            ...nc,
          ],
        },
        {
          heading: 'Network',
          lines: [
            `the gateway connects to ${describeLink(relay.link)}: keep the board on the gateway's own LAN, never exposed`,
          ],
        },
      ],
    };
  }
  const serial = relay.link.serial;
  return {
    title: `device ${c.device.id} (${c.device.kind}): relay on an Arduino (StandardFirmata) at ${serial}, pin D${relay.pin}`,
    sections: [
      {
        heading: 'Firmware (StandardFirmata, from the Firmata library)',
        lines: [
          'arduino-cli core update-index && arduino-cli core install arduino:avr',
          'arduino-cli lib install Firmata',
          'arduino-cli compile --fqbn arduino:avr:uno ~/Arduino/libraries/Firmata/examples/StandardFirmata',
          `arduino-cli upload --fqbn arduino:avr:uno --port ${serial} ~/Arduino/libraries/Firmata/examples/StandardFirmata`,
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
          contact,
          ...lines13,
          ...nc,
        ],
      },
      {
        heading: 'Permissions',
        lines: [`the agent user needs ${serial}: sudo usermod -aG dialout latchkey`],
      },
    ],
  };
}
