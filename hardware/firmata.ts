// Relays on a Firmata board through johnny-five: an Arduino over USB serial running StandardFirmata,
// or an ESP32/ESP8266 running StandardFirmataWiFi over TCP. Each write is confirmed by the
// firmware's own pin-state report; a board that reboots or whose link drops is reported offline and,
// when it is back, every relay on it puts its pin where the rental wants it (a socket back on, a
// lock locked). Normally-closed wiring is the one inversion of relay.ts.

import { EventEmitter } from 'node:events';
import type { DriverContext, RelayDriver } from './driver.js';
import { RelayError } from './errors.js';
import { describeLink, FirmataBoard, type FirmataLink, parseHostPort } from './firmataBoard.js';
import { type CloseOptions, driveLevel, type Relay, type RelayEvents, type Wiring } from './relay.js';
import type { Lease } from './sharedConnections.js';

export interface FirmataConfig {
  driver: 'firmata';
  /** The board's serial device (config field `serial`) or TCP address (config field `tcp`, host:port). */
  link: FirmataLink;
  /** The Arduino pin number the relay's input is on. Not 13: StandardFirmata blinks it at boot. */
  pin: number;
  normallyClosed?: boolean;
  /** How long the board may take to answer after connecting; default 10 s (an Uno resets on open). */
  readyTimeoutMs?: number;
}

/** A pin the board did not take after it came back is written again, this often, this far apart. */
const REAPPLY_RETRIES = 5;
const REAPPLY_RETRY_MS = 1000;

export class FirmataRelay implements Relay {
  readonly describe: string;
  readonly events = new EventEmitter<RelayEvents>();
  private lease: Lease<FirmataBoard> | undefined;
  private started = false;
  private wanted = false;
  private closed = false;
  private readonly wiring: Wiring;
  private readonly onReady = () => this.reapply();
  private readonly onLost = () => this.events.emit('availability', false);

  constructor(
    private readonly config: FirmataConfig,
    private readonly context: DriverContext,
  ) {
    this.describe = `firmata ${describeLink(config.link)} pin ${config.pin}`;
    this.wiring = { normallyClosed: config.normallyClosed === true };
  }

  isOnline(): boolean {
    return this.lease?.value.isOnline() ?? false;
  }

  isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {
    if (!this.lease) {
      const { link, readyTimeoutMs = 10_000 } = this.config;
      const lease = await this.context.connections.acquire(
        `firmata ${describeLink(link)}`,
        async () => {
          const board = new FirmataBoard(link, readyTimeoutMs, this.context.log);
          board.setMaxListeners(0);
          await board.open();
          return board;
        },
        (board) => board.close(),
      );
      this.lease = lease;
      lease.value.on('ready', this.onReady);
      lease.value.on('lost', this.onLost);
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

  async stop(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    try {
      if (this.started && lease.value.isOnline()) await this.drive(false);
    } finally {
      this.started = false;
      this.lease = undefined;
      lease.value.off('ready', this.onReady);
      lease.value.off('lost', this.onLost);
      await lease.release();
    }
  }

  private async drive(closed: boolean): Promise<void> {
    const board = this.lease?.value;
    if (!board) throw new RelayError('RELAY_FAILED', `${this.describe} is not started`);
    this.wanted = closed;
    if (!board.isOnline()) {
      if (closed) throw new RelayError('RELAY_FAILED', `${this.describe}: the board is offline`);
      this.context.log.warn('board offline: the pin is set when it is back', { relay: this.describe });
      this.closed = false; // a board without power or link holds every output low
      return;
    }
    await board.write(this.config.pin, driveLevel(closed, this.wiring));
    this.closed = closed;
  }

  /** The board is back (reconnected or rebooted): its pins are low; put this one where it should be. */
  private reapply(): void {
    if (!this.started) return;
    this.events.emit('availability', true);
    this.closed = false;
    const attempt = (left: number): void => {
      if (!this.started || !this.isOnline()) return;
      this.drive(this.wanted).catch((e) => {
        this.context.log.error('could not re-apply the pin after the board came back', {
          relay: this.describe,
          error: e,
          retrying: left > 0,
        });
        if (left > 0) setTimeout(() => attempt(left - 1), REAPPLY_RETRY_MS).unref();
      });
    };
    attempt(REAPPLY_RETRIES);
  }
}

export const firmataDriver: RelayDriver<FirmataConfig> = {
  name: 'firmata',
  example: '{"driver":"firmata","serial":"/dev/ttyACM0","pin":7}',
  parse(fields, path, read) {
    let link: FirmataLink = { serial: '' };
    if (fields.tcp !== undefined && fields.serial !== undefined)
      read.problems.push(`${path}: give either serial (USB) or tcp (StandardFirmataWiFi), not both`);
    else if (fields.tcp !== undefined) {
      const text = read.string(fields.tcp, `${path}.tcp`);
      const tcp = parseHostPort(text);
      if (tcp) link = { tcp };
      else if (text)
        read.problems.push(
          `${path}.tcp: expected host:port like 192.168.1.40:3030, got ${JSON.stringify(text)}`,
        );
    } else link = { serial: read.string(fields.serial, `${path}.serial`) };
    const pin = read.int(fields.pin, `${path}.pin`, 0, 69);
    if (pin === 13)
      read.problems.push(
        `${path}.pin: not 13: StandardFirmata blinks pin 13 at boot, which would pulse the relay`,
      );
    if (pin === 0 || pin === 1) read.problems.push(`${path}.pin: pins 0 and 1 are the board's serial line`);
    const config: FirmataConfig = { driver: 'firmata', link, pin };
    if (fields.normallyClosed !== undefined)
      config.normallyClosed = read.boolean(fields.normallyClosed, `${path}.normallyClosed`, false);
    if (fields.readyTimeoutMs !== undefined)
      config.readyTimeoutMs = read.int(fields.readyTimeoutMs, `${path}.readyTimeoutMs`, 500, 120_000);
    return config;
  },
  create: (config, context) => new FirmataRelay(config, context),
};
