// A simulated Arduino Uno running the real StandardFirmata firmware in simavr, for the Firmata
// driver's tests: its UART is a pseudo-terminal (as a USB serial adapter), every pin change is
// reported, and the reset button can be pressed. The harness (firmata-board.c) is compiled, and the firmware taken from the npm package
// that ships it prebuilt (avrgirl-arduino), into a cache dir on first use.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CACHE = join(tmpdir(), 'latchkey-firmata-sim');
const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'firmata-board.c');
/** The npm package whose tarball ships StandardFirmata built for the Uno (only the .hex is used). */
const FIRMWARE_PACKAGE = 'avrgirl-arduino@5.0.1';

export interface FirmataSimFiles {
  harness: string;
  firmware: string;
}

/** Builds what the simulated board needs, or says which package is missing. */
export function prepareFirmataSim(): FirmataSimFiles | { missing: string } {
  if (!existsSync('/usr/include/simavr/sim_avr.h')) return { missing: 'libsimavr-dev (and simavr)' };
  if (!existsSync('/usr/include/libelf.h') && !existsSync('/usr/include/gelf.h'))
    return { missing: 'libelf-dev' };
  mkdirSync(CACHE, { recursive: true });
  const harness = join(CACHE, 'firmata-board');
  if (!existsSync(harness)) {
    execFileSync('cc', [
      '-O2',
      '-I/usr/include/simavr',
      '-o',
      harness,
      SOURCE,
      '-lsimavrparts',
      '-lsimavr',
      '-lelf',
      '-lpthread',
      '-lutil',
    ]);
  }
  const firmware = join(CACHE, 'package/junk/hex/uno/StandardFirmata.cpp.hex');
  if (!existsSync(firmware)) {
    const tarball = execFileSync('npm', ['pack', FIRMWARE_PACKAGE, '--silent', '--pack-destination', CACHE], {
      encoding: 'utf8',
    }).trim();
    execFileSync('tar', [
      'xzf',
      join(CACHE, tarball.split('\n').at(-1) as string),
      '-C',
      CACHE,
      'package/junk/hex/uno',
    ]);
  }
  return { harness, firmware };
}

export class SimUno {
  /** Each digital pin's level as the chip drives it (what a relay board's input sees). */
  readonly pins = new Map<number, 0 | 1>();
  /** Every change of a pin, in order. */
  readonly changes: { pin: number; level: 0 | 1 }[] = [];
  pty = '';
  private child: ChildProcess | undefined;

  constructor(private readonly files: FirmataSimFiles) {}

  async start(): Promise<void> {
    const child = spawn(this.files.harness, [this.files.firmware], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    let buffered = '';
    this.pty = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`firmata-board exited (${code})`)));
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const pty = /^pty (\S+)$/.exec(line);
          if (pty) resolve(pty[1] as string);
          const pin = /^pin (\d+) ([01])$/.exec(line);
          if (pin) {
            const n = Number(pin[1]);
            const level = Number(pin[2]) as 0 | 1;
            this.pins.set(n, level);
            this.changes.push({ pin: n, level });
          }
          nl = buffered.indexOf('\n');
        }
      });
    });
  }

  level(pin: number): 0 | 1 {
    return this.pins.get(pin) ?? 0;
  }

  /** The reset button: the firmware boots again with every output low. */
  reset(): void {
    this.child?.stdin?.write('reset\n');
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin?.end('quit\n');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      await exited;
    }
  }
}

interface SerialPortLike {
  on(event: 'data', cb: (data: Buffer) => void): void;
  on(event: 'error' | 'close', cb: () => void): void;
  write(data: Buffer): void;
  close(cb?: (err?: Error) => void): void;
  isOpen: boolean;
}

/**
 * The simulated board reached over TCP, the way StandardFirmataWiFi is: the board's Firmata stream
 * (its UART, opened raw at 57600 baud once) is bridged byte for byte to whichever TCP client is
 * connected, as the ESP's Wi-Fi stack bridges its socket to the firmware. `drop()` cuts the live
 * connections (the Wi-Fi lost).
 */
export class FirmataTcpBridge {
  port = 0;
  private server: Server | undefined;
  private uart: SerialPortLike | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly uno: SimUno) {}

  async start(): Promise<void> {
    const SerialPort = createRequire(import.meta.url)('serialport') as new (
      path: string,
      options: { baudRate: number },
    ) => SerialPortLike;
    const uart = new SerialPort(this.uno.pty, { baudRate: 57600 });
    this.uart = uart;
    uart.on('data', (d) => {
      for (const s of this.sockets) s.write(d);
    });
    uart.on('error', () => this.drop());
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('data', (d) => uart.write(d));
      socket.on('error', () => {});
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  drop(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** The board's Wi-Fi gone for good: the connection cut and nothing accepting until `resume()`. */
  async cut(): Promise<void> {
    const server = this.server;
    this.drop();
    if (server?.listening) await new Promise((r) => server.close(r));
  }

  /** The Wi-Fi back: listening again on the same port. */
  async resume(): Promise<void> {
    const server = this.server;
    if (!server || server.listening) return;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    await this.cut();
    const uart = this.uart;
    if (uart?.isOpen) await new Promise((r) => uart.close(r));
  }
}
