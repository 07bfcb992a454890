// Board sheet for a relay on a Raspberry Pi's (or another Linux board's) GPIO line, through sysfs.

import type { GpioConfig } from '../../hardware/gpio.js';
import type { BoardContext, BoardSheet } from './types.js';

/** The Raspberry Pi 40-pin header: BCM line → physical pin. */
const HEADER_PIN: Record<number, number> = {
  2: 3,
  3: 5,
  4: 7,
  17: 11,
  27: 13,
  22: 15,
  10: 19,
  9: 21,
  11: 23,
  0: 27,
  5: 29,
  6: 31,
  13: 33,
  19: 35,
  26: 37,
  14: 8,
  15: 10,
  18: 12,
  23: 16,
  24: 18,
  25: 22,
  8: 24,
  7: 26,
  1: 28,
  12: 32,
  16: 36,
  20: 38,
  21: 40,
};

function pin(line: number, chip: string | undefined): string {
  const physical = chip === undefined ? HEADER_PIN[line] : undefined;
  return physical === undefined
    ? `line ${line}${chip ? ` of ${chip}` : ''}`
    : `GPIO${line} (pin ${physical})`;
}

export function gpioSheet(c: BoardContext, relay: GpioConfig): BoardSheet {
  const activeLow = relay.activeLow === true;
  // Until the agent opens the line, a Pi's GPIO is an input with its boot pull: up on 0-8, down on 9-27.
  const bootPullUp = relay.line <= 8;
  const bootSafe = activeLow === bootPullUp;
  const wiring = [
    '| Pi | to relay board |',
    '|---|---|',
    `| ${pin(relay.line, relay.chip)} | IN |`,
    `| ${activeLow ? '5V (pin 2), or JD-VCC with the jumper off' : '5V (pin 2) or 3V3 (pin 1), as the board says'} | VCC |`,
    '| GND (pin 6) | GND |',
    `| relay COM + ${relay.normallyClosed === true ? 'NC' : 'NO'} | in series with the load |`,
  ];
  if (relay.contact)
    wiring.push(
      `| ${pin(relay.contact.line, relay.contact.chip)} + GND | door contact (reed switch)${relay.contact.activeLow ? ', closed = low: enable the pull-up' : ''} |`,
    );
  if (relay.feedback)
    wiring.push(
      `| ${pin(relay.feedback.line, relay.feedback.chip)} | relay feedback (a spare contact)${relay.feedback.activeLow ? ', energised = low' : ''} |`,
    );
  const boot = relay.chip
    ? []
    : bootSafe
      ? [
          `at power-on GPIO${relay.line} is pulled ${bootPullUp ? 'up' : 'down'}: the relay stays off until the agent drives it`,
        ]
      : [
          `WARNING: at power-on GPIO${relay.line} is pulled ${bootPullUp ? 'up' : 'down'}, which ENERGISES a${activeLow ? 'n active-low' : 'n active-high'} board until the agent starts:`,
          `  use a line pulled ${activeLow ? 'up (GPIO 0-8)' : 'down (GPIO 9-27)'}, or set it in config.txt: gpio=${relay.line}=op,${activeLow ? 'dh' : 'dl'}`,
        ];
  return {
    title: `device ${c.device.id} (${c.device.kind}): ${activeLow ? 'active-low' : 'active-high'} relay on ${pin(relay.line, relay.chip)}`,
    sections: [
      { heading: 'Wiring', lines: [...wiring, ...boot] },
      {
        heading: 'Permissions',
        lines: [
          'the agent user writes /sys/class/gpio: sudo usermod -aG gpio latchkey (Raspberry Pi OS; then restart the service)',
          `the line is found by its number on ${relay.chip ?? 'the header chip (pinctrl-rp1 on a Pi 5, pinctrl-bcm2711 on a Pi 4)'}: check with cat /sys/class/gpio/gpiochip*/label`,
        ],
      },
    ],
  };
}
