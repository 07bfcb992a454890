// The unit as systemd reads it: `systemd-analyze verify` finds nothing wrong, and the exposure score
// of `systemd-analyze security --offline=yes` is measured and written to bench/results/service-security.json.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, problems, tempDir } from '../testCli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ANALYZE = '/usr/bin/systemd-analyze';
const have = existsSync(ANALYZE);
if (!have && process.env.CI) throw new Error(`${ANALYZE} is missing: install Debian's systemd package`);
const tmp = tempDir();
afterAll(() => tmp.remove());

describe.skipIf(!have)('the systemd unit (needs Debian package systemd)', () => {
  it('passes systemd-analyze verify and its exposure score is measured', async () => {
    const unit = tmp.path('latchkey.service');
    // verify checks that ExecStart's binary exists: point it at this node
    const r = await cli(['service', '--out', unit, '--node', process.execPath], {});
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(unit, 'utf8');
    for (const line of [
      'Type=notify',
      'User=latchkey',
      'SupplementaryGroups=gpio dialout',
      'Restart=on-failure',
      'WatchdogSec=30',
      'LoadCredential=key-password:/etc/latchkey/key-password',
      'Environment=LATCHKEY_KEY_PASSWORD_FILE=%d/key-password',
      'StateDirectory=latchkey',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'ReadWritePaths=-/sys/class/gpio -/sys/devices/platform',
    ])
      expect(text.split('\n')).toContain(line);
    expect(text).not.toMatch(/^(MemoryDenyWriteExecute|PrivateDevices)=/m);

    const verify = spawnSync(ANALYZE, ['verify', unit], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe('');

    const security = spawnSync(ANALYZE, ['security', '--offline=yes', unit], { encoding: 'utf8' });
    const score = Number(
      /Overall exposure level for latchkey\.service: ([0-9.]+)/.exec(security.stdout)?.[1],
    );
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThanOrEqual(2);
    const open = security.stdout
      .split('\n')
      .filter((l) => l.startsWith('✗'))
      .map((l) =>
        l
          .slice(2)
          .split(/\s{2,}/)[0]
          ?.trim(),
      );
    const version = spawnSync(ANALYZE, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
    writeFileSync(
      join(ROOT, 'bench', 'results', 'service-security.json'),
      `${JSON.stringify({ command: 'systemd-analyze security --offline=yes latchkey.service', systemd: version, exposure: score, notSet: open }, null, 2)}\n`,
    );
  });

  it('refuses relative paths and bad names, writing nothing', async () => {
    const unit = tmp.path('bad.service');
    const r = await cli(
      ['service', '--out', unit, '--node', 'node', '--user', 'Root!', '--watchdog-seconds', '1'],
      {},
    );
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([
      '--node: must be an absolute path, got node',
      '--watchdog-seconds: expected a whole number from 2 to 3600, got 1',
      '--user: not a valid user name: Root!',
    ]);
    expect(existsSync(unit)).toBe(false);
  });
});
