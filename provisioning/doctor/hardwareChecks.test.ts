// `latchkey doctor`'s hardware lines: what each driver needs of this machine.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { AgentConfig } from '../../agent/config.js';
import { hardwareChecks } from './checks.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-hw-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (relay: unknown) => ({ devices: [{ id: 1n, kind: 'lock', relay }] }) as unknown as AgentConfig;

it('checks a Firmata board by its serial device, and skips one reached over TCP', () => {
  const port = join(dir, 'ttyACM0');
  writeFileSync(port, '', { mode: 0o600 });
  const [reachable] = hardwareChecks(config({ driver: 'firmata', link: { serial: port }, pin: 7 }));
  expect(reachable?.verdict).toBe('ok');
  const [missing] = hardwareChecks(
    config({ driver: 'firmata', link: { serial: join(dir, 'none') }, pin: 7 }),
  );
  expect(missing?.verdict).toBe('fail');
  expect(missing?.fix).toMatch(/dialout/);
  expect(
    hardwareChecks(config({ driver: 'firmata', link: { tcp: { host: 'h', port: 3030 } }, pin: 7 })),
  ).toEqual([]);
});

it.skipIf(existsSync('/sys/class/gpio'))(
  'a gpio relay on a machine without sysfs GPIO fails its line',
  () => {
    const [check] = hardwareChecks(config({ driver: 'gpio', line: 17 }));
    expect(check?.verdict).toBe('fail');
    expect(check?.detail).toMatch(/no \/sys\/class\/gpio/);
  },
);
