// A whole rental through the agent on GPIO relays of a real Linux kernel: boots the VM of
// hardware/test/gpioVm.ts and runs test/agent-gpio.vm.ts inside it (anvil, the agent and its broker
// all run there, beside gpio-sim's lines), the lock's door contact on a gpio-sim line too.

import { beforeAll, describe, expect, it } from 'vitest';
import {
  failuresOf,
  missingGpioVmPackage,
  runVitestInVm,
  type VitestReport,
  type VmRun,
} from '../hardware/test/gpioVm.js';

const missing = missingGpioVmPackage();
if (missing && process.env.CI)
  throw new Error(`the gpio rental test needs ${missing}, which CI must install`);
if (missing) console.warn(`skipping the gpio rental test: install ${missing}`);

describe.skipIf(missing !== undefined)('a rental on GPIO relays, in a VM with gpio-sim', () => {
  let run: VmRun;
  let report: VitestReport;

  beforeAll(async () => {
    ({ run, report } = await runVitestInVm('test/agent-gpio.vm.ts', 540_000));
  }, 1_200_000); // it may wait for another VM test first

  it('starts safe, unlocks and relocks the lock, raises a door alarm, powers and drops the socket, settles both', () => {
    const failed = failuresOf(report);
    if (failed.length > 0) console.error(run.console.slice(-8000));
    expect(failed).toEqual([]);
    expect(report.numTotalTests).toBe(4);
    expect(run.rc).toBe(0);
  });
});
