// The gpio driver: its config here, and its whole suite (hardware/gpio.vm.ts: the relay contract, the
// physical level at every step, errors, door contact, feedback, power cycles) on a real Linux kernel
// booted under QEMU with gpio-sim lines (hardware/test/gpioVm.ts).

import { beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig } from './drivers.js';
import {
  failuresOf,
  isCapabilitySkip,
  missingGpioVmPackage,
  runVitestInVm,
  type VitestReport,
  type VmRun,
} from './test/gpioVm.js';

const missing = missingGpioVmPackage();
if (missing && process.env.CI) throw new Error(`the gpio tests need ${missing}, which CI must install`);
if (missing) console.warn(`skipping the gpio kernel tests: install ${missing}`);

describe('gpio config', () => {
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
      int: (v: unknown, p: string, min: number, max: number) => {
        if (Number.isInteger(v) && (v as number) >= min && (v as number) <= max) return v as number;
        problems.push(`${p}: expected an integer ${min}-${max}`);
        return min;
      },
      oneOf: <T extends string>(v: unknown) => v as T,
      url: (v: unknown) => String(v),
      boolean: (v: unknown, p: string, f: boolean) => {
        if (typeof v === 'boolean') return v;
        problems.push(`${p}: expected true or false`);
        return f;
      },
    };
    return { config: parseRelayConfig({ driver: 'gpio', ...fields }, 'relay', read), problems };
  };

  it('reads a line, a chip, the wiring and the optional inputs', () => {
    const { config, problems } = parse({
      line: 17,
      chip: 'pinctrl-rp1',
      activeLow: true,
      contact: { line: 27, activeLow: true, debounceMs: 30 },
      feedback: { line: 22, timeoutMs: 50 },
    });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      driver: 'gpio',
      line: 17,
      chip: 'pinctrl-rp1',
      activeLow: true,
      contact: { line: 27, activeLow: true, debounceMs: 30 },
      feedback: { line: 22, timeoutMs: 50 },
    });
  });

  it('refuses a missing or negative line, a bad input and an input on the relay line', () => {
    expect(parse({}).problems.join()).toMatch(/relay.line: expected an integer/);
    expect(parse({ line: -1 }).problems.join()).toMatch(/relay.line/);
    expect(parse({ line: 4, activeLow: 'yes' }).problems.join()).toMatch(/relay.activeLow/);
    expect(parse({ line: 4, contact: 5 }).problems.join()).toMatch(/relay.contact: expected an object/);
    expect(parse({ line: 4, feedback: { line: 4 } }).problems.join()).toMatch(/must differ/);
  });
});

describe.skipIf(missing !== undefined)('gpio on a real kernel: gpio-sim under QEMU', () => {
  let run: VmRun;
  let report: VitestReport;

  beforeAll(async () => {
    ({ run, report } = await runVitestInVm('hardware/gpio.vm.ts', 480_000));
  }, 1_200_000); // it may wait for another VM test first

  it('every test of the suite passed inside the VM', () => {
    const failed = failuresOf(report);
    if (failed.length > 0) console.error(run.console.slice(-8000));
    expect(failed).toEqual([]);
    expect(run.rc).toBe(0);
  });

  it('ran the contract, the instant of opening, the errors, power cycles, door and feedback', () => {
    const names = report.testResults.flatMap((f) => f.assertionResults).map((t) => t.fullName);
    for (const expected of [
      /Relay contract: gpio active-high drives hardware left energised/,
      /Relay contract: gpio active-low closes and opens/,
      /Relay contract: gpio active-high reports hardware that disagrees while open/,
      /Relay contract: gpio active-low reports hardware that disagrees while closed/,
      /active-low board .* holds the safe level at the instant the line is opened/,
      /busy/,
      /gpio group/,
      /no sysfs GPIO|without sysfs GPIO/,
      /RELIABILITY 21.*active-low/,
      /door contact/,
      /RELIABILITY 22.*feedback that disagrees/,
    ])
      expect(names.some((n) => expected.test(n))).toBe(true);
    // Only the offline cases are skipped: a GPIO line has no availability.
    const skipped = names.filter(isCapabilitySkip);
    expect(skipped.length).toBe(2);
    expect(report.numPassedTests).toBe(report.numTotalTests - skipped.length);
    expect(report.numTotalTests).toBeGreaterThanOrEqual(30);
  });
});
