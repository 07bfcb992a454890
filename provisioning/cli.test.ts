// The CLI as a host runs it: real child processes (`npx tsx provisioning/cli.ts`), a real anvil chain,
// and a real pseudo-terminal for the password prompt.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decryptKeystoreJson, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../agent/config.js';
import { type Anvil, startAnvil } from '../contracts/anvil.js';
import { latchkeyAt } from '../contracts/deploy.js';
import { fields, PASSWORD, problems, tempDir } from './testCli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** This process's environment without any LATCHKEY_* variable, plus `extra`. */
function env(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LATCHKEY_')));
  return { ...clean, ...extra };
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function latchkey(args: string[], extraEnv: NodeJS.ProcessEnv): Promise<Exit> {
  const child = spawn('npx', ['tsx', 'provisioning/cli.ts', ...args], {
    cwd: ROOT,
    env: env(extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child);
}

let anvil: Anvil;
let tmp: ReturnType<typeof tempDir>;
beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  tmp = tempDir();
});
afterAll(async () => {
  await anvil?.stop();
  tmp?.remove();
});

describe('latchkey (child processes)', () => {
  // Several CLI processes (tsx) and real transactions: minutes on a slow machine, seconds here.
  it('sets up a gateway from nothing: keygen, deploy, register, config', { timeout: 120_000 }, async () => {
    const fast = { LATCHKEY_KEY_PASSWORD: PASSWORD, LATCHKEY_KEYSTORE_FAST: '1' };
    const host = { LATCHKEY_HOST_KEY: anvil.accounts[0]?.privateKey };
    const keystore = tmp.path('gateway.json');

    const keygen = await latchkey(['keygen', '--out', keystore], fast);
    expect(keygen.code, keygen.stderr).toBe(0);
    const gateway = fields(keygen.stdout).address as string;

    const deploy = await latchkey(['deploy', '--rpc', anvil.url], host);
    expect(deploy.code, deploy.stderr).toBe(0);
    const { contract, block } = fields(deploy.stdout) as { contract: string; block: string };

    const register = await latchkey(
      [
        'register',
        '--rpc',
        anvil.url,
        '--contract',
        contract,
        '--signer',
        gateway,
        '--kind',
        'socket',
        '--price-per-hour',
        '0.01',
      ],
      host,
    );
    expect(register.code, register.stderr).toBe(0);
    const deviceId = fields(register.stdout).device as string;
    const device = await latchkeyAt(contract, anvil.provider).device(BigInt(deviceId));
    expect(device.signer).toBe(gateway);
    expect(device.pricePerSecond).toBe(10n ** 16n / 3600n);

    const out = tmp.path('config.json');
    const config = await latchkey(
      [
        'config',
        '--rpc',
        anvil.url,
        '--contract',
        contract,
        '--start-block',
        block,
        '--gateway-id',
        'gw-1',
        '--keystore',
        keystore,
        '--device',
        `${deviceId}:socket`,
        '--out',
        out,
      ],
      fast,
    );
    expect(config.code, config.stderr).toBe(0);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.gatewayKeystore).toBe(keystore);
    const c = parseConfig(written, { LATCHKEY_KEY_PASSWORD: PASSWORD });
    expect(new Wallet(c.gatewayKey).address).toBe(gateway);
    expect(c.chain.contract).toBe(contract);
    expect(c.chain.startBlock).toBe(Number(block));
    expect(c.devices.map((d) => [d.id, d.kind])).toEqual([[BigInt(deviceId), 'socket']]);
  });

  it('exits with code 2 and every problem on stderr for bad input', async () => {
    const r = await latchkey(['register', '--kind', 'door', '--price-per-hour', '-1'], {});
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(problems(r.stderr)).toEqual([
      'missing --rpc',
      'missing --contract',
      'missing --signer',
      '--kind: expected lock or socket, got door',
      '--price-per-hour: must not be negative, got -1',
      'no host key: set LATCHKEY_HOST_KEY or give --host-keystore <file>',
    ]);
  });

  it('asks for the keystore password on a terminal without echoing it', async () => {
    const out = tmp.path('tty.json');
    const secret = 'typed on the terminal';
    // util-linux `script` runs the CLI on a pseudo-terminal and copies it to our pipes
    const child = spawn('script', ['-qefc', `npx tsx provisioning/cli.ts keygen --out ${out}`, '/dev/null'], {
      cwd: ROOT,
      env: env({ LATCHKEY_KEYSTORE_FAST: '1' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    const prompts = ['Password for the new keystore', 'Repeat the password'];
    child.stdout?.on('data', (d: Buffer) => {
      screen += d.toString();
      if (prompts[0] && screen.includes(prompts[0])) {
        prompts.shift();
        child.stdin?.write(`${secret}\r`);
      }
    });
    const exit = await collect(child);
    child.stdin?.end();
    expect(exit.code, screen).toBe(0);
    expect(prompts).toEqual([]);
    expect(screen).not.toContain(secret);
    const address = /address: (0x[0-9a-fA-F]{40})/.exec(screen)?.[1];
    expect((await decryptKeystoreJson(readFileSync(out, 'utf8'), secret)).address).toBe(address);
  });
});
