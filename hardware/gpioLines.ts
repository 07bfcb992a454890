// Linux sysfs GPIO lines, as onoff reaches them: a line named by its offset on a chip (the BCM number
// on a Raspberry Pi) is resolved to its sysfs number from /sys/class/gpio/gpiochip*/{base,label,ngpio}
// (on kernels >= 6.6 a Pi 4's header chip starts at 512, a Pi 5's elsewhere: never hard-coded), and
// opened at a stated physical level with the kernel's errors turned into what the host can act on.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Gpio } from 'onoff';
import { RelayError } from './errors.js';

const SYSFS = '/sys/class/gpio';

/** The chips whose lines are a Raspberry Pi's 40-pin header, tried in this order when none is named. */
export const HEADER_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2712', 'pinctrl-bcm2711', 'pinctrl-bcm2835'];

export interface GpioLine {
  /** The line's offset on its chip: the BCM number on a Raspberry Pi. */
  line: number;
  /** The chip's label (`cat /sys/class/gpio/gpiochip*\/label`); default: the Pi header's, or the only chip. */
  chip?: string;
}

export interface GpioChip {
  label: string;
  base: number;
  ngpio: number;
}

export function describeLine(l: GpioLine): string {
  return `gpio ${l.chip ? `${l.chip} ` : ''}line ${l.line}`;
}

function noSysfs(details?: string): RelayError {
  return new RelayError(
    'CONFIG_INVALID',
    'this kernel has no sysfs GPIO (/sys/class/gpio/export is missing)',
    {
      details:
        details ??
        'the gpio driver needs CONFIG_GPIO_SYSFS (Raspberry Pi OS and Debian kernels have it); inside a container, mount /sys',
    },
  );
}

/** The GPIO chips the kernel lists in sysfs. */
export function listChips(): GpioChip[] {
  if (!existsSync(`${SYSFS}/export`)) throw noSysfs();
  const chips: GpioChip[] = [];
  for (const name of readdirSync(SYSFS)) {
    if (!name.startsWith('gpiochip')) continue;
    const read = (file: string) => readFileSync(`${SYSFS}/${name}/${file}`, 'utf8').trim();
    chips.push({ label: read('label'), base: Number(read('base')), ngpio: Number(read('ngpio')) });
  }
  return chips.sort((a, b) => a.base - b.base);
}

/** The sysfs number of a line, with the chip it is on. */
export function resolveLine(l: GpioLine): { number: number; chip: GpioChip } {
  const chips = listChips();
  const labels = chips.map((c) => `${c.label} (${c.ngpio} lines)`).join(', ') || 'none';
  let chip: GpioChip | undefined;
  if (l.chip !== undefined) {
    chip = chips.find((c) => c.label === l.chip);
    if (!chip)
      throw new RelayError('CONFIG_INVALID', `no GPIO chip labelled ${JSON.stringify(l.chip)}`, {
        details: `the chips here are: ${labels}`,
      });
  } else {
    chip =
      HEADER_CHIP_LABELS.map((label) => chips.find((c) => c.label === label)).find((c) => c !== undefined) ??
      (chips.length === 1 ? chips[0] : undefined);
    if (!chip)
      throw new RelayError(
        'CONFIG_INVALID',
        `${describeLine(l)}: name the GPIO chip ("chip" in the relay config)`,
        {
          details: `no Raspberry Pi header chip, and more than one chip here: ${labels}`,
        },
      );
  }
  if (l.line >= chip.ngpio)
    throw new RelayError('CONFIG_INVALID', `no such GPIO line: ${chip.label} has lines 0-${chip.ngpio - 1}`, {
      details: `asked for line ${l.line}`,
    });
  return { number: chip.base + l.line, chip };
}

/** Whether a line is exported in sysfs now (by a previous agent, or by another program). */
export function isExported(number: number): boolean {
  return existsSync(`${SYSFS}/gpio${number}`);
}

/** Turns what the kernel said when a line was exported or configured into an error the host can act on. */
export function lineError(l: GpioLine, number: number, e: unknown): RelayError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const what = `${describeLine(l)} (sysfs gpio${number})`;
  switch (code) {
    case 'EBUSY':
      return new RelayError('CONFIG_INVALID', `${what} is busy: the kernel or another program holds it`, {
        cause: e,
        details:
          'a driver, a device-tree overlay (dtoverlay=…) or a program using the GPIO character device (gpioset, libgpiod) has requested it; free it or wire the relay to another line',
      });
    case 'EACCES':
    case 'EPERM':
      return new RelayError('CONFIG_INVALID', `${what}: no permission to use sysfs GPIO`, {
        cause: e,
        details:
          'add the agent user to the gpio group (sudo usermod -aG gpio latchkey, then restart the service); the gpio group owns /sys/class/gpio on Raspberry Pi OS through udev',
      });
    case 'EINVAL':
      return new RelayError('CONFIG_INVALID', `no such GPIO line: the kernel refused ${what}`, { cause: e });
    case 'ENOENT':
      return noSysfs(`exporting ${what}: ${(e as Error).message}`);
    default:
      return new RelayError('RELAY_FAILED', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

type GpioClass = typeof Gpio;
let gpioClass: Promise<GpioClass> | undefined;

/** onoff, imported on first use (its native epoll addon loads only on machines that drive GPIO). */
export function loadOnoff(): Promise<GpioClass> {
  gpioClass ??= import('onoff').then((m) => (m as unknown as { Gpio: GpioClass }).Gpio);
  return gpioClass;
}

/**
 * Opens an output line driving `level` (true = physically high) from the instant it becomes an
 * output: the direction file's `high`/`low` are raw levels, whatever `active_low` says, and
 * `active_low` is cleared so the value file reads and writes physical levels too. A line some
 * previous process left exported (and perhaps energised) goes straight to `level` as well.
 */
export async function openOutput(l: GpioLine, number: number, level: boolean): Promise<Gpio> {
  const Gpio = await loadOnoff();
  let gpio: Gpio;
  try {
    gpio = new Gpio(number, level ? 'high' : 'low', 'none', { activeLow: false });
  } catch (e) {
    throw lineError(l, number, e);
  }
  // onoff ignores configuration errors on a line that was already exported: check what it holds.
  let direction: string;
  let value: number;
  try {
    direction = gpio.direction();
    value = gpio.readSync();
  } catch (e) {
    throw lineError(l, number, e);
  }
  if (direction !== 'out' || value !== (level ? 1 : 0)) {
    throw new RelayError(
      'RELAY_FAILED',
      `${describeLine(l)} (sysfs gpio${number}) did not take the safe level: direction ${direction}, value ${value}`,
      { details: 'another program may hold the line exported without letting this user change it' },
    );
  }
  return gpio;
}

/** Opens an input line reporting both edges, debounced by `debounceMs`; its value is the physical level. */
export async function openInput(l: GpioLine, number: number, debounceMs: number): Promise<Gpio> {
  const Gpio = await loadOnoff();
  try {
    return new Gpio(number, 'in', 'both', { activeLow: false, debounceTimeout: debounceMs });
  } catch (e) {
    throw lineError(l, number, e);
  }
}
