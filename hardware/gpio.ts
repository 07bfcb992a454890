// A relay on a Linux GPIO line through onoff (a Raspberry Pi 3/4/5 or any board whose kernel has
// sysfs GPIO). The line is named by its offset on a chip and resolved to its sysfs number at start.
// It holds the safe physical level from the instant it becomes an output, for active-high and
// active-low boards alike (relay.ts's driveLevel is the one inversion). Optional inputs: a door
// contact (debounced edges, reported as `door`) and relay feedback (a contact that follows the load:
// each write is confirmed by it, with a bounded retry, and a disagreement is a fault).

import { EventEmitter } from 'node:events';
import type { Gpio } from 'onoff';
import type { ConfigReader, DriverContext, RelayDriver } from './driver.js';
import { isRelayError, RelayError } from './errors.js';
import {
  describeLine,
  type GpioLine,
  isExported,
  lineError,
  openInput,
  openOutput,
  resolveLine,
} from './gpioLines.js';
import { type CloseOptions, driveLevel, type Relay, type RelayEvents, type Wiring } from './relay.js';

/** An input line: `activeLow` means the contact reads closed on a low level (a switch to ground with a pull-up). */
export interface GpioInput extends GpioLine {
  activeLow?: boolean;
}

export interface GpioConfig extends GpioLine {
  driver: 'gpio';
  /** The relay board energises its coil on a low line (most opto-isolated Pi relay boards). */
  activeLow?: boolean;
  /** The load hangs on the relay's NC contact. */
  normallyClosed?: boolean;
  /** A door contact (a reed switch, closed while the door is shut), reported as the `door` event. */
  contact?: GpioInput & { debounceMs?: number };
  /** A contact that is closed while the load is energised (a relay's spare pole, a current sense). */
  feedback?: GpioInput & { timeoutMs?: number };
}

/** How many times a write is tried before it is reported failed (RELIABILITY 22). */
const WRITE_ATTEMPTS = 3;

interface Opened {
  number: number;
  gpio: Gpio;
}

export class GpioRelay implements Relay {
  readonly describe: string;
  readonly events = new EventEmitter<RelayEvents>();
  private output: Opened | undefined;
  private contact: Opened | undefined;
  private feedback: Opened | undefined;
  private started = false;
  private closed = false;
  private writing = false;
  private doorOpen: boolean | undefined;
  private readonly wiring: Wiring;

  constructor(
    private readonly config: GpioConfig,
    private readonly context: DriverContext,
  ) {
    this.describe = describeLine(config) + (config.activeLow ? ' (active-low)' : '');
    this.wiring = { activeLow: config.activeLow === true, normallyClosed: config.normallyClosed === true };
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** The door contact's last debounced reading: true while the door is open; undefined without a contact. */
  isDoorOpen(): boolean | undefined {
    return this.doorOpen;
  }

  async start(): Promise<void> {
    if (!this.output) {
      const { number } = resolveLine(this.config);
      if (isExported(number))
        this.context.log.warn('gpio line already exported: taking it over at the safe level', {
          relay: this.describe,
          sysfs: number,
        });
      this.output = { number, gpio: await openOutput(this.config, number, driveLevel(false, this.wiring)) };
      this.closed = false;
    }
    // The inputs are let go at stop; a start after a stop takes them again.
    try {
      if (this.config.feedback && !this.feedback)
        this.feedback = await this.openFeedback(this.config.feedback);
      if (this.config.contact && !this.contact) this.contact = await this.openContact(this.config.contact);
    } catch (e) {
      await this.releaseInputs();
      throw e;
    }
    this.started = true;
    await this.drive(false);
  }

  async close(_options: CloseOptions = {}): Promise<void> {
    if (!this.started) throw new RelayError('RELAY_FAILED', `${this.describe} is not started`);
    await this.drive(true);
  }

  async open(): Promise<void> {
    if (!this.started) throw new RelayError('RELAY_FAILED', `${this.describe} is not started`);
    await this.drive(false);
  }

  /**
   * Drives the safe level and lets go of the inputs. The output stays exported and driven: a line
   * given back to the kernel becomes an input again, which on some boards floats the relay's input.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    try {
      await this.drive(false);
    } finally {
      this.started = false;
      await this.releaseInputs();
    }
  }

  private async releaseInputs(): Promise<void> {
    for (const input of [this.contact, this.feedback]) {
      if (!input) continue;
      try {
        input.gpio.unexport();
      } catch {}
    }
    this.contact = undefined;
    this.feedback = undefined;
  }

  /**
   * Writes the level for `closed`, confirmed by feedback when there is some; a write the kernel
   * refuses re-opens the line and tries again, up to WRITE_ATTEMPTS. A close that cannot be confirmed
   * drives the safe level before it reports the failure.
   */
  private async drive(closed: boolean): Promise<void> {
    this.writing = true;
    let lastError: unknown;
    try {
      for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
        try {
          await this.write(closed);
          if (await this.confirmed(closed)) {
            this.closed = closed;
            return;
          }
          lastError = new RelayError(
            'RELAY_FAILED',
            `${this.describe}: feedback reads ${closed ? 'de-energised' : 'energised'} after ${closed ? 'closing' : 'opening'}`,
          );
        } catch (e) {
          lastError = e;
        }
        this.context.log.warn('gpio write not confirmed', {
          relay: this.describe,
          attempt,
          error: lastError,
        });
      }
      if (closed) await this.write(false).catch(() => {});
      this.closed = false;
      const message = lastError instanceof Error ? lastError.message : String(lastError);
      this.events.emit('fault', message);
      throw isRelayError(lastError, 'RELAY_FAILED')
        ? lastError
        : new RelayError('RELAY_FAILED', `${this.describe}: ${message}`, { cause: lastError });
    } finally {
      this.writing = false;
    }
  }

  private async write(closed: boolean): Promise<void> {
    const output = this.output;
    if (!output) throw new RelayError('RELAY_FAILED', `${this.describe} is not started`);
    const level = driveLevel(closed, this.wiring) ? 1 : 0;
    try {
      output.gpio.writeSync(level);
      if (output.gpio.readSync() === level) return;
    } catch (e) {
      // The line was taken away (unexported behind the agent's back): open it again at the safe level.
      this.context.log.warn('gpio write failed: opening the line again', { relay: this.describe, error: e });
      const safe = driveLevel(false, this.wiring);
      try {
        output.gpio.unexport();
      } catch {}
      this.output = undefined;
      this.output = { number: output.number, gpio: await openOutput(this.config, output.number, safe) };
      this.output.gpio.writeSync(level);
      if (this.output.gpio.readSync() === level) return;
    }
    throw new RelayError('RELAY_FAILED', `${this.describe}: the line does not hold level ${level}`);
  }

  /** Whether the feedback contact (if any) agrees with `closed` within its timeout. */
  private async confirmed(closed: boolean): Promise<boolean> {
    const fb = this.feedback;
    const spec = this.config.feedback;
    if (!fb || !spec) return true;
    const end = Date.now() + (spec.timeoutMs ?? 200);
    for (;;) {
      if (this.contactClosed(fb, spec) === closed) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private contactClosed(input: Opened, spec: GpioInput): boolean {
    return (input.gpio.readSync() === 1) !== (spec.activeLow === true);
  }

  private async openFeedback(spec: GpioInput & { timeoutMs?: number }): Promise<Opened> {
    const opened = await this.openLine(spec, 0);
    opened.gpio.watch((err) => {
      if (err || this.writing || !this.started) return;
      const energised = this.contactClosed(opened, spec);
      if (energised !== this.closed)
        this.events.emit(
          'fault',
          `${this.describe}: feedback reads ${energised ? 'energised' : 'de-energised'} while it should be ${this.closed ? 'energised' : 'de-energised'}`,
        );
    });
    return opened;
  }

  private async openContact(spec: GpioInput & { debounceMs?: number }): Promise<Opened> {
    const opened = await this.openLine(spec, spec.debounceMs ?? 50);
    this.doorOpen = !this.contactClosed(opened, spec);
    this.events.emit('door', this.doorOpen);
    opened.gpio.watch((err) => {
      if (err) {
        this.context.log.warn('door contact read failed', { relay: this.describe, error: err });
        return;
      }
      const open = !this.contactClosed(opened, spec);
      if (open === this.doorOpen) return;
      this.doorOpen = open;
      this.events.emit('door', open);
    });
    return opened;
  }

  private async openLine(spec: GpioInput, debounceMs: number): Promise<Opened> {
    const { number } = resolveLine(spec);
    if (number === this.output?.number)
      throw lineError(spec, number, Object.assign(new Error('the relay output itself'), { code: 'EBUSY' }));
    return { number, gpio: await openInput(spec, number, debounceMs) };
  }
}

function readLine(fields: Record<string, unknown>, path: string, read: ConfigReader): GpioLine {
  const l: GpioLine = { line: read.int(fields.line, `${path}.line`, 0, 4095) };
  if (fields.chip !== undefined) l.chip = read.string(fields.chip, `${path}.chip`);
  return l;
}

function readInput(
  v: unknown,
  path: string,
  read: ConfigReader,
): GpioInput & { fields: Record<string, unknown> } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    read.problems.push(`${path}: expected an object like {"line":27,"activeLow":true}`);
    return { line: 0, fields: {} };
  }
  const fields = v as Record<string, unknown>;
  const input: GpioInput & { fields: Record<string, unknown> } = { ...readLine(fields, path, read), fields };
  if (fields.activeLow !== undefined)
    input.activeLow = read.boolean(fields.activeLow, `${path}.activeLow`, false);
  return input;
}

export const gpioDriver: RelayDriver<GpioConfig> = {
  name: 'gpio',
  example: '{"driver":"gpio","line":17,"activeLow":true}',
  parse(fields, path, read) {
    const config: GpioConfig = { driver: 'gpio', ...readLine(fields, path, read) };
    if (fields.activeLow !== undefined)
      config.activeLow = read.boolean(fields.activeLow, `${path}.activeLow`, false);
    if (fields.normallyClosed !== undefined)
      config.normallyClosed = read.boolean(fields.normallyClosed, `${path}.normallyClosed`, false);
    if (fields.contact !== undefined) {
      const { fields: raw, ...contact } = readInput(fields.contact, `${path}.contact`, read);
      config.contact = contact;
      if (raw.debounceMs !== undefined)
        config.contact.debounceMs = read.int(raw.debounceMs, `${path}.contact.debounceMs`, 0, 5000);
    }
    if (fields.feedback !== undefined) {
      const { fields: raw, ...feedback } = readInput(fields.feedback, `${path}.feedback`, read);
      config.feedback = feedback;
      if (raw.timeoutMs !== undefined)
        config.feedback.timeoutMs = read.int(raw.timeoutMs, `${path}.feedback.timeoutMs`, 1, 10_000);
    }
    const same = (a?: GpioLine) =>
      a !== undefined && a.line === config.line && (a.chip ?? '') === (config.chip ?? '');
    if (same(config.contact) || same(config.feedback))
      read.problems.push(`${path}: the contact and feedback lines must differ from the relay's line`);
    return config;
  },
  create: (config, context) => new GpioRelay(config, context),
};
