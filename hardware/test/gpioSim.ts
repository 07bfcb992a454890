// Simulated GPIO chips of the kernel's gpio-sim, driven through configfs, for the tests that run
// inside the VM of gpioVm.ts. A line's `value` in gpio-sim's sysfs is its PHYSICAL level (what a relay
// board's input sees); its `pull` stands for what drives an input (a door contact, a feedback contact,
// or the board's own pull-up on an idle line).

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const CONFIGFS = '/sys/kernel/config/gpio-sim';
const TRACING = '/sys/kernel/tracing';

export interface SimBank {
  label: string;
  lines: number;
  /** Lines the kernel itself requests (as a driver or a device-tree hog would), making them busy. */
  hogs?: { offset: number; direction: 'input' | 'output-high' | 'output-low' }[];
}

export type Pull = 'pull-up' | 'pull-down';

export class GpioSimChip {
  private readonly dir: string;

  constructor(
    readonly name: string,
    private readonly bank: SimBank,
  ) {
    this.dir = `${CONFIGFS}/${name}`;
  }

  /** Creates the chip and brings it live; its lines start as inputs at their pull (down). */
  create(): this {
    const bank = `${this.dir}/bank0`;
    mkdirSync(bank, { recursive: true });
    writeFileSync(`${bank}/label`, this.bank.label);
    writeFileSync(`${bank}/num_lines`, String(this.bank.lines));
    for (const hog of this.bank.hogs ?? []) {
      mkdirSync(`${bank}/line${hog.offset}/hog`, { recursive: true });
      writeFileSync(`${bank}/line${hog.offset}/hog/name`, 'kernel-hog');
      writeFileSync(`${bank}/line${hog.offset}/hog/direction`, hog.direction);
    }
    this.live(true);
    return this;
  }

  /** Takes the chip away (false) or brings it back (true): like a power cycle, every line resets. */
  live(on: boolean): void {
    writeFileSync(`${this.dir}/live`, on ? '1' : '0');
  }

  remove(): void {
    if (!existsSync(this.dir)) return;
    this.live(false);
    const bank = `${this.dir}/bank0`;
    for (const hog of this.bank.hogs ?? []) {
      rmdirSync(`${bank}/line${hog.offset}/hog`);
      rmdirSync(`${bank}/line${hog.offset}`);
    }
    rmdirSync(bank);
    rmdirSync(this.dir);
  }

  /** gpio-sim's own sysfs dir of the chip's lines (sim_gpioN/{value,pull}). */
  private linesDir(): string {
    const dev = readFileSync(`${this.dir}/dev_name`, 'utf8').trim();
    const chip = readFileSync(`${this.dir}/bank0/chip_name`, 'utf8').trim();
    return `/sys/devices/platform/${dev}/${chip}`;
  }

  /** The line's physical level. */
  value(offset: number): 0 | 1 {
    return readFileSync(`${this.linesDir()}/sim_gpio${offset}/value`, 'utf8').trim() === '1' ? 1 : 0;
  }

  pull(offset: number, pull: Pull): void {
    writeFileSync(`${this.linesDir()}/sim_gpio${offset}/pull`, pull);
  }

  /** The chip's first sysfs GPIO number, as the kernel assigned it. */
  base(): number {
    for (const name of readdirSync('/sys/class/gpio')) {
      if (!name.startsWith('gpiochip')) continue;
      if (readFileSync(`/sys/class/gpio/${name}/label`, 'utf8').trim() === this.bank.label)
        return Number(readFileSync(`/sys/class/gpio/${name}/base`, 'utf8').trim());
    }
    throw new Error(`no sysfs gpiochip labelled ${this.bank.label}`);
  }
}

/** One physical change the kernel made to a line, from its gpio trace events. */
export interface LineEvent {
  gpio: number;
  kind: 'set' | 'in' | 'out';
  value?: 0 | 1;
}

/** The kernel's gpio tracepoints: every level set and direction change, with its raw (physical) value. */
export const gpioTrace = {
  start(): void {
    writeFileSync(`${TRACING}/trace`, '');
    writeFileSync(`${TRACING}/events/gpio/enable`, '1');
  },
  stop(): LineEvent[] {
    writeFileSync(`${TRACING}/events/gpio/enable`, '0');
    const events: LineEvent[] = [];
    for (const line of readFileSync(`${TRACING}/trace`, 'utf8').split('\n')) {
      const value = /gpio_value: (\d+) set (\d)/.exec(line);
      if (value) events.push({ gpio: Number(value[1]), kind: 'set', value: value[2] === '1' ? 1 : 0 });
      const dir = /gpio_direction: (\d+) +(in|out) \(0\)/.exec(line);
      if (dir) events.push({ gpio: Number(dir[1]), kind: dir[2] as 'in' | 'out' });
    }
    return events;
  },
};

/** Writes a sysfs GPIO file as a shell would (`echo 17 > /sys/class/gpio/export`). */
export function sysfs(file: string, value: string): void {
  writeFileSync(`/sys/class/gpio/${file}`, value);
}
