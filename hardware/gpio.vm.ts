// The gpio driver on a real Linux kernel's GPIO lines (gpio-sim), run INSIDE the VM that
// gpio.test.ts boots (hardware/test/vitest.gpio-vm.config.ts). Every level is read at the line, from
// gpio-sim's sysfs (the physical level), never from the driver; the kernel's own gpio trace events
// prove what the line did between two readings (a glitch to the energised level during start).

import { type ChildProcess, spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../agent/log.js';
import { createDriverContext, createRelay, type RelayConfig } from './drivers.js';
import { isRelayError } from './errors.js';
import type { GpioConfig } from './gpio.js';
import { relayContract } from './relay.contract.js';
import type { Relay } from './relay.js';
import { GpioSimChip, gpioTrace, type LineEvent, type Pull, sysfs } from './test/gpioSim.js';

const LABEL = 'latchkey-sim';
const HOGGED = 15;
const chip = new GpioSimChip('latchkey', {
  label: LABEL,
  lines: 16,
  hogs: [{ offset: HOGGED, direction: 'output-high' }],
});
const header = new GpioSimChip('header', { label: 'pinctrl-bcm2711', lines: 58 });
const context = createDriverContext(silentLogger);
const made: Relay[] = [];

async function relay(fields: Partial<GpioConfig>): Promise<Relay> {
  const r = await createRelay({ driver: 'gpio', chip: LABEL, line: 0, ...fields } as RelayConfig, context);
  made.push(r);
  return r;
}

async function until(what: string, check: () => boolean, limitMs = 5000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * gpioOpen.ts as one plain script (tsx would take half a minute to start on the emulated CPU), beside
 * a link to the repository's node_modules so that its packages resolve.
 */
const OPENER = '/tmp/latchkey-gpio-open/open.mjs';

beforeAll(async () => {
  chip.create();
  header.create();
  await build({
    entryPoints: ['hardware/test/gpioOpen.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: OPENER,
    logLevel: 'error',
  });
  symlinkSync(join(process.cwd(), 'node_modules'), join(dirname(OPENER), 'node_modules'));
}, 120_000);
afterEach(async () => {
  for (const r of made.splice(0)) await r.stop().catch(() => {});
});
afterAll(() => {
  for (let n = chip.base(); n < chip.base() + 16; n++) {
    try {
      sysfs('unexport', String(n));
    } catch {}
  }
  chip.remove();
  header.remove();
});

/** The two kinds of relay board: which physical level energises the coil, and how its input rests. */
const BOARDS = [
  { name: 'active-high', activeLow: false, energised: 1, rest: 'pull-down' as Pull },
  { name: 'active-low', activeLow: true, energised: 0, rest: 'pull-up' as Pull },
] as const;

/**
 * A relay board whose spare contact follows its coil, read on `fb` (closed = low, a contact to
 * ground with a pull-up), as gpio-sim pulls: `stuck` holds the contact where it is (welded, or its
 * wire cut) whatever the coil does, until set back to undefined.
 */
function follower(out: number, fb: number, energised: 0 | 1) {
  const f = { stuck: undefined as 'open' | 'closed' | undefined, stop: async () => {} };
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const on = f.stuck ? f.stuck === 'closed' : chip.value(out) === energised;
      chip.pull(fb, on ? 'pull-down' : 'pull-up');
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  f.stop = async () => {
    stop = true;
    await loop;
  };
  return f;
}

/** The feedback line of each board's contract run: lines 3 and 14 are free on the chip. */
const FEEDBACK_LINES = [3, 14] as const;

for (const [i, board] of BOARDS.entries()) {
  const line = 1 + i;
  const fbLine = FEEDBACK_LINES[i] as number;
  describe(`a ${board.name} board on line ${line}`, () => {
    let fb: ReturnType<typeof follower>;
    beforeAll(() => {
      chip.pull(line, board.rest);
      fb = follower(line, fbLine, board.energised);
    });
    afterAll(() => fb.stop());
    const feedback = { line: fbLine, chip: LABEL, activeLow: true, timeoutMs: 100 };

    relayContract(`gpio ${board.name}`, () => relay({ line, activeLow: board.activeLow, feedback }), {
      readBack: () => chip.value(line) === board.energised,
      makeLeftClosed: () => {
        // A previous agent killed while the door was unlocked: exported, driven energised.
        const n = chip.base() + line;
        try {
          sysfs('export', String(n));
        } catch {}
        sysfs(`gpio${n}/direction`, board.energised ? 'high' : 'low');
        expect(chip.value(line)).toBe(board.energised);
        return relay({ line, activeLow: board.activeLow, feedback });
      },
      faults: {
        // The feedback contact, pulled through gpio-sim, says the other state than the coil's.
        disagreement: {
          disagree: async (_relay, closed) => {
            fb.stuck = closed ? 'open' : 'closed';
          },
          release: async () => {
            fb.stuck = undefined;
          },
        },
        offline: { none: 'a GPIO line is wired to the gateway itself (a vanished chip is a failed write)' },
      },
    });

    it('holds the safe level at the instant the line is opened, and never touches the energised one', async () => {
      const n = chip.base() + line;
      try {
        sysfs('unexport', String(n));
      } catch {}
      expect(chip.value(line)).toBe(1 - board.energised);
      gpioTrace.start();
      const r = await relay({ line, activeLow: board.activeLow });
      await r.start();
      const atStart = chip.value(line);
      const events = gpioTrace.stop().filter((e) => e.gpio === n);
      expect(atStart).toBe(1 - board.energised);
      expect(events.some((e) => e.kind === 'out')).toBe(true);
      expect(events.filter((e) => e.kind === 'set' && e.value === board.energised)).toEqual([]);
      await r.close();
      expect(chip.value(line)).toBe(board.energised);
      await r.stop();
      expect(chip.value(line)).toBe(1 - board.energised);
    });

    it('the trace catches a naive open that glitches (direction "out", then a write)', () => {
      // What `new Gpio(n, 'out')` does: out at low first. On this board that is
      // ${board.energised ? 'safe' : 'the energised level'}; the check above must see such a glitch.
      const n = chip.base() + line;
      try {
        sysfs('unexport', String(n));
      } catch {}
      gpioTrace.start();
      sysfs('export', String(n));
      sysfs(`gpio${n}/direction`, 'out');
      sysfs(`gpio${n}/value`, String(1 - board.energised));
      const events = gpioTrace.stop().filter((e) => e.gpio === n);
      const glitches = events.filter((e) => e.kind === 'set' && e.value === board.energised);
      expect(glitches.length).toBe(board.energised === 0 ? 1 : 0);
      sysfs('unexport', String(n));
    });
  });
}

describe('finding the line', () => {
  it('resolves the sysfs number from the chip base the kernel assigned', async () => {
    const r = await relay({ line: 4 });
    await r.start();
    await r.close();
    expect(chip.base()).toBeGreaterThan(0);
    expect(chip.value(4)).toBe(1);
    await r.stop();
  });

  it('without a chip, takes the Raspberry Pi header chip (pinctrl-bcm2711), wherever its base is', async () => {
    const r = await createRelay({ driver: 'gpio', line: 17 }, context);
    made.push(r);
    await r.start();
    await r.close();
    expect(header.value(17)).toBe(1);
    await r.open();
    expect(header.value(17)).toBe(0);
  });

  it('a line past the chip is refused, naming its range', async () => {
    const r = await relay({ line: 16 });
    const e = await r.start().catch((x) => x);
    expect(isRelayError(e, 'CONFIG_INVALID')).toBe(true);
    expect(e.message).toMatch(/no such GPIO line: latchkey-sim has lines 0-15/);
  });

  it('an unknown chip label is refused, listing the chips there are', async () => {
    const r = await relay({ chip: 'pinctrl-rp1', line: 3 });
    await expect(r.start()).rejects.toThrow(
      /no GPIO chip labelled "pinctrl-rp1"[\s\S]*latchkey-sim \(16 lines\)/,
    );
  });

  it('a line the kernel holds is busy', async () => {
    const r = await relay({ line: HOGGED });
    const e = await r.start().catch((x) => x);
    expect(e.message).toMatch(/line 15 \(sysfs gpio\d+\) is busy/);
    await expect(r.close()).rejects.toThrow(/not started/);
  });
});

/** Runs hardware/test/gpioOpen.ts in its own process; resolves with its JSON lines when it exits. */
function child(
  config: Partial<GpioConfig>,
  steps: string[],
  options: { uid?: number; wrap?: string[] } = {},
): {
  proc: ChildProcess;
  lines: Promise<{ step: string; ok: boolean; error?: string }[]>;
  /** The lines printed so far. */
  printed: { step: string; ok: boolean; error?: string }[];
} {
  const args = [OPENER, JSON.stringify({ driver: 'gpio', chip: LABEL, ...config }), ...steps];
  const [cmd, ...rest] = options.wrap
    ? [...options.wrap, process.execPath, ...args]
    : [process.execPath, ...args];
  const proc = spawn(cmd as string, rest, {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(options.uid === undefined ? {} : { env: { ...process.env, GPIO_OPEN_AS_UID: String(options.uid) } }),
  });
  const lines: { step: string; ok: boolean; error?: string }[] = [];
  let buffered = '';
  proc.stdout?.on('data', (c: Buffer) => {
    buffered += c.toString();
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      lines.push(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
  });
  return {
    proc,
    lines: new Promise((resolve) => proc.once('exit', () => resolve(lines))),
    printed: lines,
  };
}

describe('the kernel says no', () => {
  it('a user outside the gpio group is told to join it', async () => {
    const { lines } = child({ line: 5 }, ['start'], { uid: 65534 });
    const [result] = await lines;
    expect(result?.ok).toBe(false);
    expect(result?.error).toMatch(/no permission to use sysfs GPIO[\s\S]*gpio group/);
  });

  it('a kernel without sysfs GPIO is named as such', async () => {
    const { lines } = child({ line: 5 }, ['start'], {
      wrap: ['unshare', '-m', 'sh', '-c', 'mount -t tmpfs none /sys/class/gpio && exec "$0" "$@"'],
    });
    const [result] = await lines;
    expect(result?.error).toMatch(/no sysfs GPIO/);
  });
});

describe('RELIABILITY 21: a power cycle with a relay wired', () => {
  for (const [i, board] of BOARDS.entries()) {
    const line = 6 + i;
    it(`${board.name}: energised by an agent killed mid-rental, the line is safe during the whole next start`, async () => {
      chip.pull(line, board.rest);
      const held = child({ line, activeLow: board.activeLow }, ['start', 'close', 'hold']);
      await until('the killed agent holds the door unlocked', () => held.printed.length === 3, 25_000);
      expect(held.printed.every((l) => l.ok)).toBe(true);
      expect(chip.value(line)).toBe(board.energised);
      held.proc.kill('SIGKILL');
      await held.lines;
      // SIGKILL leaves the kernel driving the line: still energised until the power goes.
      expect(chip.value(line)).toBe(board.energised);
      // Power off and on: every line comes back as an input at its pull (the board's own at rest).
      chip.live(false);
      chip.live(true);
      chip.pull(line, board.rest);
      chip.pull(HOGGED, 'pull-down');
      const n = chip.base() + line;
      gpioTrace.start();
      const samples = new Set<number>();
      const fresh = child({ line, activeLow: board.activeLow }, ['start']);
      let done = false;
      const result = fresh.lines.then((l) => {
        done = true;
        return l;
      });
      while (!done) {
        samples.add(chip.value(line));
        await new Promise((r) => setImmediate(r));
      }
      const [started] = await result;
      const events: LineEvent[] = gpioTrace.stop().filter((e) => e.gpio === n);
      expect(started?.ok).toBe(true);
      expect(events.some((e) => e.kind === 'out')).toBe(true);
      expect(events.filter((e) => e.kind === 'set' && e.value === board.energised)).toEqual([]);
      expect([...samples]).toEqual([1 - board.energised]);
      expect(chip.value(line)).toBe(1 - board.energised);
    });
  }
});

describe('door contact', () => {
  it('reports the door opening and shutting, debounced', async () => {
    // A reed switch to ground with a pull-up: low while the door is shut.
    chip.pull(9, 'pull-down');
    const r = await relay({ line: 8, contact: { line: 9, chip: LABEL, activeLow: true, debounceMs: 30 } });
    const door: boolean[] = [];
    r.events?.on('door', (open) => door.push(open));
    await r.start();
    expect(door).toEqual([false]);
    // The door opens with a bouncing contact: up, down, up within a few milliseconds.
    chip.pull(9, 'pull-up');
    chip.pull(9, 'pull-down');
    chip.pull(9, 'pull-up');
    await until('the door is reported open', () => door.length === 2);
    expect(door).toEqual([false, true]);
    await new Promise((r) => setTimeout(r, 100));
    expect(door).toEqual([false, true]);
    chip.pull(9, 'pull-down');
    await until('the door is reported shut', () => door.length === 3);
    expect(door).toEqual([false, true, false]);
    // A stop lets the contact go; the next start takes it again.
    await r.stop();
    await r.start();
    expect(door).toEqual([false, true, false, false]);
    chip.pull(9, 'pull-up');
    await until('the door is reported open after a restart', () => door.length === 5);
    expect(door.at(-1)).toBe(true);
  });
});

describe('RELIABILITY 22: feedback and failed writes', () => {
  const feedback = { line: 11, chip: LABEL, activeLow: true, timeoutMs: 100 };

  it('a write confirmed by feedback succeeds', async () => {
    const fb = follower(10, 11, 1);
    try {
      const r = await relay({ line: 10, feedback });
      await r.start();
      await r.close();
      expect(chip.value(10)).toBe(1);
      await r.open();
      expect(chip.value(10)).toBe(0);
    } finally {
      await fb.stop();
    }
  });

  it('feedback that disagrees: retried, then RELAY_FAILED and a fault, the line back at safe', async () => {
    const fb = follower(10, 11, 1);
    fb.stuck = 'open';
    try {
      const r = await relay({ line: 10, feedback });
      const faults: string[] = [];
      r.events?.on('fault', (f) => faults.push(f));
      await r.start();
      const e = await r.close().catch((x) => x);
      expect(isRelayError(e, 'RELAY_FAILED')).toBe(true);
      expect(e.message).toMatch(/feedback reads de-energised after closing/);
      expect(faults.length).toBe(1);
      expect(chip.value(10)).toBe(0);
      expect(r.isClosed()).toBe(false);
    } finally {
      await fb.stop();
    }
  });

  it('feedback that changes with no command (a welded contact) is a fault', async () => {
    chip.pull(11, 'pull-up');
    const r = await relay({ line: 10, feedback });
    const faults: string[] = [];
    r.events?.on('fault', (f) => faults.push(f));
    await r.start();
    chip.pull(11, 'pull-down');
    await until('the fault is reported', () => faults.length > 0);
    expect(faults[0]).toMatch(/feedback reads energised while it should be de-energised/);
  });

  it('a line taken away behind the driver is opened again, and the write goes through', async () => {
    const r = await relay({ line: 12 });
    await r.start();
    sysfs('unexport', String(chip.base() + 12));
    await r.close();
    expect(chip.value(12)).toBe(1);
    await r.open();
    expect(chip.value(12)).toBe(0);
  });

  it('a chip that is gone: the write fails after its retries, reported', async () => {
    const r = await relay({ line: 13 });
    const faults: string[] = [];
    r.events?.on('fault', (f) => faults.push(f));
    await r.start();
    chip.live(false);
    try {
      const e = await r.close().catch((x) => x);
      expect(isRelayError(e, 'RELAY_FAILED')).toBe(true);
      expect(faults.length).toBe(1);
      expect(r.isClosed()).toBe(false);
    } finally {
      chip.live(true);
    }
  });
});
