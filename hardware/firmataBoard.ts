// One Firmata board shared by every relay wired to it, through johnny-five: an Arduino running
// StandardFirmata on USB serial, or an ESP32/ESP8266 running StandardFirmataWiFi reached over TCP
// (a plain socket is the Firmata transport).
// It connects with a ready timeout, notices a lost link and a board that rebooted (StandardFirmata
// boots with every output low), reconnects with backoff, and has each relay put its pin back.

import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { RelayError } from './errors.js';
import type { RelayLogger } from './relay.js';

/** How the gateway reaches the board: a USB serial device, or TCP (StandardFirmataWiFi on an ESP32/ESP8266). */
export type FirmataLink =
  /** The serial device, e.g. /dev/ttyACM0 or /dev/serial/by-id/usb-Arduino…. */
  | { serial: string }
  /** The board's address; StandardFirmataWiFi listens on port 3030 by default. */
  | { tcp: { host: string; port: number } };

export function describeLink(link: FirmataLink): string {
  if ('serial' in link) return link.serial;
  const host = link.tcp.host.includes(':') ? `[${link.tcp.host}]` : link.tcp.host;
  return `tcp://${host}:${link.tcp.port}`;
}

/** Reads `host:port` (`[v6]:port` for IPv6); undefined when it is not one. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2];
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

interface BoardEvents {
  /** The board is (again) ready: every relay on it re-applies its pin. */
  ready: [];
  /** The link dropped or the board rebooted. */
  lost: [reason: string];
}

/** What the board needs of johnny-five's Board and its Firmata IO. */
interface FiveBoard {
  io: {
    pins: { state?: number }[];
    queryPinState(pin: number, cb: () => void): void;
    queryFirmware(cb: () => void): void;
    on(event: string, cb: (...args: unknown[]) => void): void;
    once(event: string, cb: (...args: unknown[]) => void): void;
    removeAllListeners(): void;
    transport?: { close?(cb?: () => void): void; destroy?(): void };
  };
  MODES: { OUTPUT: number };
  pinMode(pin: number, mode: number): void;
  digitalWrite(pin: number, value: 0 | 1): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  once(event: string, cb: (...args: unknown[]) => void): void;
}

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];
/** How long a rebooted board may take between its version and its name before it is asked again. */
const FIRMWARE_NAME_WAIT_MS = 1000;
/** How long the firmware may take to report a pin's state after a write (a busy gateway is slow). */
const CONFIRM_MS = 5000;
/** How often a board is asked for its firmware name, and how long it may take to answer. */
const HEARTBEAT_MS = 2000;
const HEARTBEAT_TIMEOUT_MS = 4000;

export class FirmataBoard extends EventEmitter<BoardEvents> {
  readonly describe: string;
  private board: FiveBoard | undefined;
  private online = false;
  private stopped = false;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly link: FirmataLink,
    private readonly readyTimeoutMs: number,
    private readonly log: RelayLogger,
  ) {
    super();
    this.describe = `firmata ${describeLink(link)}`;
  }

  isOnline(): boolean {
    return this.online;
  }

  /** Connects once; a board that does not answer in time is an error the host can act on. */
  async open(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.drop();
  }

  /** Writes `level` and waits for the firmware to report the pin holds it. */
  async write(pin: number, level: boolean): Promise<void> {
    const board = this.board;
    if (!board || !this.online) throw new RelayError('RELAY_FAILED', `${this.describe} is offline`);
    board.pinMode(pin, board.MODES.OUTPUT);
    board.digitalWrite(pin, level ? 1 : 0);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new RelayError('RELAY_FAILED', `${this.describe}: pin ${pin} state not confirmed`)),
        CONFIRM_MS,
      );
      board.io.queryPinState(pin, () => {
        clearTimeout(timer);
        const state = board.io.pins[pin]?.state;
        if (state === (level ? 1 : 0)) resolve();
        else
          reject(
            new RelayError(
              'RELAY_FAILED',
              `${this.describe}: pin ${pin} reads ${state} after writing ${level ? 1 : 0}`,
            ),
          );
      });
    });
  }

  private async connect(): Promise<void> {
    const five = (await import('johnny-five')).default as unknown as {
      Board: new (options: Record<string, unknown>) => FiveBoard;
    };
    const Firmata = (await import('firmata')).default as unknown as new (
      port: string | Socket,
      options: Record<string, unknown>,
    ) => FiveBoard['io'];
    const link = this.link;
    let port: string | Socket;
    if ('serial' in link) port = link.serial;
    else {
      port = connect({ host: link.tcp.host, port: link.tcp.port });
      port.setNoDelay(true);
      port.setKeepAlive(true, 10_000);
      // Firmata announces a transport's "open" (a serial port's event) to johnny-five, which waits for it.
      const socket = port;
      socket.once('connect', () => socket.emit('open'));
    }
    // A board opened again does not boot again, so it never sends its version by itself: ask soon.
    const io = new Firmata(port, { reportVersionTimeout: 300 });
    const board = new five.Board({
      io,
      repl: false,
      debug: false,
      sigint: false,
      // johnny-five's own timeout, past ours, so the error the host sees is the one below
      timeout: this.readyTimeoutMs * 2 + 1000,
    });
    this.board = board;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new RelayError('RELAY_FAILED', `${this.describe} did not answer within ${this.readyTimeoutMs} ms`, {
            details: 'is StandardFirmata (57600 baud) or StandardFirmataWiFi flashed, and the port right?',
          }),
        );
      }, this.readyTimeoutMs);
      board.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      const failed = (e: unknown) => {
        clearTimeout(timer);
        reject(
          new RelayError('RELAY_FAILED', `${this.describe}: ${String((e as Error)?.message ?? e)}`, {
            cause: e,
          }),
        );
      };
      board.once('error', failed);
      // A TCP board that refuses or drops the connection is an error of the IO, before johnny-five's.
      io.on('error', failed);
    }).catch((e) => {
      this.drop();
      throw e;
    });
    this.online = true;
    this.attempt = 0;
    // A version report after ready is the firmware booting again: the board was reset.
    board.io.on('reportversion', () => this.lost('the board rebooted (its outputs went low)', false));
    const gone = () => this.lost('the link dropped', true);
    board.io.on('close', gone);
    board.io.on('disconnect', gone);
    // A serial device that vanishes may report only a read error (EIO), or nothing at all: a board
    // that stops answering its name is lost too.
    board.io.on('error', gone);
    let answered = Date.now();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (this.board !== board) return;
      if (!this.online) {
        answered = Date.now(); // rebooting: its name comes when it is back
        return;
      }
      if (Date.now() - answered > HEARTBEAT_TIMEOUT_MS) {
        this.lost('the board stopped answering', true);
        return;
      }
      board.io.queryFirmware(() => {
        answered = Date.now();
      });
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    this.emit('ready');
  }

  private lost(reason: string, reconnect: boolean): void {
    if (this.stopped || !this.online) return;
    this.log.warn('firmata board lost', { board: this.describe, reason });
    this.online = false;
    this.emit('lost', reason);
    if (!reconnect) {
      // Same link, fresh firmware: StandardFirmata's setup sends its version, then its name; once the
      // name is in, it reads commands. A name that never comes (a lost byte) is asked for again.
      const io = this.board?.io;
      let asked: ReturnType<typeof setTimeout> | undefined;
      const booted = () => {
        clearTimeout(asked);
        if (this.stopped || this.online || this.board?.io !== io) return;
        this.online = true;
        this.emit('ready');
      };
      const ask = () => {
        if (this.stopped || this.online || this.board?.io !== io) return;
        io?.queryFirmware(booted);
        asked = setTimeout(ask, FIRMWARE_NAME_WAIT_MS);
        asked.unref();
      };
      io?.once('queryfirmware', booted);
      asked = setTimeout(ask, FIRMWARE_NAME_WAIT_MS);
      asked.unref();
      return;
    }
    this.drop();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] ?? 30_000;
    this.attempt++;
    this.retry = setTimeout(() => {
      this.connect().catch((e) => {
        this.log.warn('firmata reconnect failed', { board: this.describe, error: e });
        this.scheduleReconnect();
      });
    }, delay);
    this.retry.unref();
  }

  private drop(): void {
    clearInterval(this.heartbeat);
    this.online = false;
    const board = this.board;
    this.board = undefined;
    board?.io.removeAllListeners();
    // Late errors of a link being torn down (and johnny-five's own connect timeout) are no one's to handle.
    board?.io.on('error', () => {});
    board?.on('error', () => {});
    try {
      // With a callback: a port the link already closed reports "Port is not open" there, not as an
      // uncaught error event.
      const transport = board?.io.transport;
      if (transport?.close) transport.close(() => {});
      else transport?.destroy?.();
    } catch {}
  }
}
