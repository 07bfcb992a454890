// The Firmata driver against the real StandardFirmata firmware running in simavr (hardware/test/
// firmataSim.ts), over the board's serial line (a pseudo-terminal). Levels are read at the
// simulated chip's pins, not from the driver.

import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../agent/log.js';
import { createDriverContext, createRelay, type RelayConfig } from './drivers.js';
import { isRelayError } from './errors.js';
import { firmataDriver } from './firmata.js';
import { relayContract } from './relay.contract.js';
import type { Relay } from './relay.js';
import { type FirmataSimFiles, FirmataTcpBridge, prepareFirmataSim, SimUno } from './test/firmataSim.js';

const prepared = prepareFirmataSim();
const missing = 'missing' in prepared ? prepared.missing : undefined;
if (missing && process.env.CI) throw new Error(`the Firmata tests need ${missing}, which CI must install`);
if (missing) console.warn(`skipping the Firmata tests: install ${missing}`);
const files = prepared as FirmataSimFiles;

async function until(what: string, check: () => boolean, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const PIN = 7;

/** The driver reads no input of a Firmata board: its writes are confirmed by the firmware's pin report. */
const NO_FEEDBACK = { none: 'the firmata driver has no feedback input' };
/** StandardFirmata boots with every output low: a board back from an outage is never energised. */
const RETURNS_LOW = [false] as const;

describe.skipIf(missing !== undefined)('Firmata on a simulated Uno running StandardFirmata', () => {
  let uno: SimUno;
  const relays: Relay[] = [];
  const context = createDriverContext(silentLogger);
  // The port as udev names a USB board (/dev/serial/by-id/…): a link to the board's pty that goes
  // when the board is unplugged and comes back, to a new pty, when it is plugged in again.
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-uno-'));
  const byId = join(dir, 'usb-Arduino_Uno-if00');
  const plugIn = async () => {
    uno = new SimUno(files);
    await uno.start();
    symlinkSync(uno.pty, `${byId}.new`);
    renameSync(`${byId}.new`, byId);
  };
  const unplug = async () => {
    rmSync(byId, { force: true });
    await uno.stop(); // the simulator killed: its pty is gone, as a USB board pulled out
  };

  beforeAll(plugIn, 60_000);
  // a failed test must not leave the port held by its relays for the next one
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop().catch(() => {});
  });
  afterAll(async () => {
    await uno?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function relay(config: Partial<RelayConfig & { driver: 'firmata' }> = {}, own = context) {
    const r = await createRelay(
      { driver: 'firmata', link: { serial: byId }, pin: PIN, ...config } as RelayConfig,
      own,
    );
    relays.push(r);
    return r;
  }

  relayContract('firmata over serial', () => relay(), {
    readBack: () => uno.level(PIN) === 1,
    faults: {
      disagreement: NO_FEEDBACK,
      offline: { cut: unplug, restore: plugIn, returnsIn: RETURNS_LOW },
    },
    faultLimitMs: 30_000,
  });

  it('normally-closed wiring: the safe state is a high pin, energised is low', async () => {
    const r = await relay({ normallyClosed: true, pin: 8 });
    await r.start();
    expect(uno.level(8)).toBe(1);
    await r.close();
    expect(uno.level(8)).toBe(0);
    await r.stop();
    expect(uno.level(8)).toBe(1);
  });

  it('a board reset mid-rental: outputs drop low, the socket is powered again, a lock stays locked', async () => {
    const socket = await relay({ pin: 4 });
    const lock = await relay({ pin: 5 });
    const availability: boolean[] = [];
    socket.events?.on('availability', (a) => availability.push(a));
    await socket.start();
    await lock.start();
    await socket.close();
    expect(uno.level(4)).toBe(1);
    const changes = uno.changes.length;
    uno.reset();
    await until('the reset pulled pin 4 low', () =>
      uno.changes.slice(changes).some((c) => c.pin === 4 && c.level === 0),
    );
    await until('the socket is powered again', () => uno.level(4) === 1);
    await until('the re-applied pin is confirmed', () => socket.isClosed());
    expect(availability).toEqual([false, true]);
    expect(uno.level(5)).toBe(0);
    expect(socket.isClosed()).toBe(true);
    expect(lock.isClosed()).toBe(false);
    await socket.stop();
    await lock.stop();
  });

  it('shares one connection among the relays of one board', async () => {
    const own = createDriverContext(silentLogger);
    const a = await relay({ pin: 9 }, own);
    const b = await relay({ pin: 10 }, own);
    await a.start();
    await b.start();
    expect(own.connections.size).toBe(1);
    await a.stop();
    await b.stop();
    expect(own.connections.size).toBe(0);
  });
});

describe.skipIf(missing !== undefined)(
  'Firmata over TCP (StandardFirmataWiFi), the same board bridged',
  () => {
    let uno: SimUno;
    let bridge: FirmataTcpBridge;
    const context = createDriverContext(silentLogger);
    const relays: Relay[] = [];

    beforeAll(async () => {
      uno = new SimUno(files);
      await uno.start();
      bridge = new FirmataTcpBridge(uno);
      await bridge.start();
    }, 60_000);
    afterAll(async () => {
      for (const r of relays) await r.stop().catch(() => {});
      await bridge?.stop();
      await uno?.stop();
    });

    async function relay(pin = PIN) {
      const r = await createRelay(
        { driver: 'firmata', link: { tcp: { host: '127.0.0.1', port: bridge.port } }, pin },
        context,
      );
      relays.push(r);
      return r;
    }

    relayContract('firmata over tcp', () => relay(), {
      readBack: () => uno.level(PIN) === 1,
      faults: {
        disagreement: NO_FEEDBACK,
        // The Wi-Fi gone (nothing accepting), and back: the board kept its outputs, unless it
        // rebooted meanwhile (its outputs low).
        offline: {
          cut: () => bridge.cut(),
          restore: async (_relay, closed) => {
            if (!closed) {
              const changes = uno.changes.length;
              uno.reset();
              await until(
                'the rebooted board drove its pins low',
                () =>
                  uno.changes.slice(changes).some((c) => c.pin === PIN && c.level === 0) ||
                  uno.level(PIN) === 0,
              );
            }
            await bridge.resume();
          },
        },
      },
      faultLimitMs: 30_000,
    });

    it('describes itself by its address', async () => {
      const r = await relay();
      expect(r.describe).toBe(`firmata tcp://127.0.0.1:${bridge.port} pin ${PIN}`);
    });

    it('the Wi-Fi link drops mid-rental: reported offline, reconnected, the socket powered again', async () => {
      const socket = await relay(4);
      const availability: boolean[] = [];
      socket.events?.on('availability', (a) => availability.push(a));
      await socket.start();
      await socket.close();
      expect(uno.level(4)).toBe(1);
      bridge.drop();
      await until('the link loss is reported', () => availability.includes(false));
      await until('reconnected', () => availability.at(-1) === true);
      // The board kept its outputs through the Wi-Fi loss; the driver writes and confirms the pin again.
      await until('the pin is re-applied and confirmed', () => socket.isClosed());
      expect(uno.level(4)).toBe(1);
      await socket.open();
      expect(uno.level(4)).toBe(0);
    });

    it('nothing listening: start fails within its ready timeout', async () => {
      const r = await createRelay(
        { driver: 'firmata', link: { tcp: { host: '127.0.0.1', port: 1 } }, pin: PIN, readyTimeoutMs: 1000 },
        createDriverContext(silentLogger),
      );
      await expect(r.start()).rejects.toThrow(/firmata tcp:\/\/127.0.0.1:1/);
    });
  },
);

describe.skipIf(missing !== undefined)('Firmata: RELIABILITY 21 and 22 on the simulated Uno', () => {
  it('21: energised by an agent that died mid-rental, the pin never goes high through the power cycle and the next start', async () => {
    const before = new SimUno(files);
    await before.start();
    const dead = await createRelay(
      { driver: 'firmata', link: { serial: before.pty }, pin: PIN },
      createDriverContext(silentLogger),
    );
    await dead.start();
    await dead.close();
    expect(before.level(PIN)).toBe(1);
    // The power goes: the agent and the board with it.
    await before.stop();
    await dead.stop().catch(() => {});
    const after = new SimUno(files);
    await after.start();
    const r = await createRelay(
      { driver: 'firmata', link: { serial: after.pty }, pin: PIN },
      createDriverContext(silentLogger),
    );
    try {
      await r.start();
      // Every change of the pin since power-on, boot and the driver's start included.
      expect(after.changes.filter((c) => c.pin === PIN && c.level === 1)).toEqual([]);
      expect(after.level(PIN)).toBe(0);
      await r.close();
      expect(after.level(PIN)).toBe(1);
    } finally {
      await r.stop();
      await after.stop();
    }
  }, 60_000);

  it('22: a board unplugged mid-rental: the write fails with RELAY_FAILED, and it is reported offline', async () => {
    const uno = new SimUno(files);
    await uno.start();
    const r = await createRelay(
      { driver: 'firmata', link: { serial: uno.pty }, pin: PIN },
      createDriverContext(silentLogger),
    );
    const availability: boolean[] = [];
    r.events?.on('availability', (a) => availability.push(a));
    try {
      await r.start();
      await r.close();
      await uno.stop();
      await until('the board is reported offline', () => availability.includes(false), 30_000);
      const e = await r.close().catch((x) => x);
      expect(isRelayError(e, 'RELAY_FAILED')).toBe(true);
      expect(e.message).toMatch(/offline/);
    } finally {
      await r.stop();
      await uno.stop();
    }
  }, 60_000);
});

describe('Firmata config and errors', () => {
  const parse = (fields: Record<string, unknown>) => {
    const problems: string[] = [];
    const read = {
      problems,
      string: (v: unknown, p: string) => {
        if (typeof v === 'string' && v !== '') return v;
        problems.push(`${p}: expected a non-empty string`);
        return '';
      },
      optionalString: (v: unknown) => (typeof v === 'string' ? v : undefined),
      int: (v: unknown) => Number(v),
      oneOf: <T extends string>(v: unknown) => v as T,
      url: (v: unknown) => String(v),
      boolean: (v: unknown, _p: string, f: boolean) => (typeof v === 'boolean' ? v : f),
    };
    return { config: firmataDriver.parse({ driver: 'firmata', ...fields }, 'relay', read), problems };
  };

  it('reads a serial board, and refuses pin 13, pins 0/1 and a missing port', () => {
    expect(parse({ serial: '/dev/ttyACM0', pin: 7 }).config).toEqual({
      driver: 'firmata',
      link: { serial: '/dev/ttyACM0' },
      pin: 7,
    });
    expect(parse({ serial: '/dev/ttyACM0', pin: 13 }).problems.join()).toMatch(/blinks pin 13/);
    expect(parse({ serial: '/dev/ttyACM0', pin: 1 }).problems.join()).toMatch(/serial line/);
    expect(parse({ pin: 7 }).problems.join()).toMatch(/serial/);
  });

  it('reads a TCP board (host:port, IPv6 in brackets) and refuses a bad address or both links', () => {
    expect(parse({ tcp: '192.168.1.40:3030', pin: 5 }).config.link).toEqual({
      tcp: { host: '192.168.1.40', port: 3030 },
    });
    expect(parse({ tcp: '[fd00::7]:3030', pin: 5 }).config.link).toEqual({
      tcp: { host: 'fd00::7', port: 3030 },
    });
    expect(parse({ tcp: 'esp32-door.lan:3030', pin: 5 }).config.link).toEqual({
      tcp: { host: 'esp32-door.lan', port: 3030 },
    });
    expect(parse({ tcp: 'esp32-door.lan', pin: 5 }).problems.join()).toMatch(/expected host:port/);
    expect(parse({ tcp: 'h:99999', pin: 5 }).problems.join()).toMatch(/expected host:port/);
    expect(parse({ tcp: 'h:3030', serial: '/dev/ttyACM0', pin: 5 }).problems.join()).toMatch(/not both/);
  });

  it.skipIf(missing !== undefined)(
    'a board without Firmata fails start within its ready timeout, with what to check',
    async () => {
      // A chip whose firmware only spins (rjmp .-2): it never answers on its UART.
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-no-firmata-'));
      const hex = join(dir, 'spin.hex');
      writeFileSync(hex, ':02000000FFCF30\n:00000001FF\n');
      const blank = new SimUno({ ...files, firmware: hex });
      await blank.start();
      try {
        const r = await createRelay(
          { driver: 'firmata', link: { serial: blank.pty }, pin: 7, readyTimeoutMs: 1000 },
          createDriverContext(silentLogger),
        );
        await expect(r.start()).rejects.toThrow(/did not answer within 1000 ms[\s\S]*StandardFirmata/);
      } finally {
        await blank.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
