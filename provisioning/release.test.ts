// The release as a gateway installs it: `npm pack` of this checkout, then `npm install --global
// --omit=dev` of the tarball into a temporary prefix. The compiled CLI runs from it, and none of the
// development tools (anvil, forge, solc, tsx, OpenZeppelin, vitest, biome) are installed. Native addon
// builds are skipped here (--ignore-scripts; they compile as in any install), so this takes seconds.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FAST_ENV, tempDir } from './testCli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = tempDir();
afterAll(() => tmp.remove());

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe('the release tarball', () => {
  it('installs a working CLI and compiled agent without the development tools', { timeout: 300_000 }, () => {
    run('npm', ['pack', '--silent', '--pack-destination', tmp.dir]);
    const tgz = readdirSync(tmp.dir).find((f) => f.endsWith('.tgz')) as string;
    const files = run('tar', ['tzf', join(tmp.dir, tgz)]).split('\n');
    for (const f of [
      'dist/agent/main.js',
      'dist/provisioning/cli.js',
      'dist/contracts/generated/latchkey.js',
      'LICENSE',
      'guest/public/index.html',
      'guest/public/main.js',
    ])
      expect(files).toContain(`package/${f}`);
    // the embedded default's development wallet never ships in a gateway's release
    expect(files).not.toContain('package/guest/public/dev-wallet.js');
    expect(files.filter((f) => /\.test\.js$|contracts\/src\//.test(f))).toEqual([]);

    const prefix = tmp.path('gw');
    run('npm', [
      'install',
      '--global',
      '--omit=dev',
      '--ignore-scripts',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--prefix',
      prefix,
      join(tmp.dir, tgz),
    ]);
    const modules = join(prefix, 'lib', 'node_modules', 'latchkey', 'node_modules');
    for (const dev of ['solc', 'tsx', '@foundry-rs', '@openzeppelin', 'vitest', '@biomejs', 'typescript'])
      expect(existsSync(join(modules, dev)), dev).toBe(false);
    expect(existsSync(join(modules, 'ethers'))).toBe(true);

    const cli = join(prefix, 'bin', 'latchkey');
    expect(run(cli, ['--help'])).toMatch(/Usage: latchkey <command>/);
    expect(run(cli, ['keygen', '--out', tmp.path('k/gateway.json')], FAST_ENV)).toMatch(
      /^address: 0x[0-9a-fA-F]{40}/,
    );
    expect(run(cli, ['service', '--out', tmp.path('latchkey.service')])).toMatch(/^unit: /);
    // the compiled agent loads its config parser and refuses a missing config with the agent's message
    const agent = spawnSync(
      process.execPath,
      [join(prefix, 'lib', 'node_modules', 'latchkey', 'dist', 'agent', 'main.js')],
      {
        encoding: 'utf8',
        env: { ...process.env, LATCHKEY_CONFIG: tmp.path('none.json') },
      },
    );
    expect(agent.status).toBe(1);
    expect(agent.stderr).toMatch(/latchkey: .*none\.json/);
  });
});
