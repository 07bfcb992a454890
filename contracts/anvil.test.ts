import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeAddress } from 'ethers';
import { describe, expect, it } from 'vitest';
import { startAnvil } from './anvil.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
    return res.ok;
  } catch {
    return false;
  }
}

async function stopsAnswering(url: string, withinMs: number): Promise<boolean> {
  for (const until = Date.now() + withinMs; Date.now() < until; ) {
    if (!(await answers(url))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('startAnvil', () => {
  it('starts anvils side by side on free ports with their own dev accounts, and stop() ends them', async () => {
    const [a, b] = await Promise.all([
      startAnvil({ quiet: true }),
      startAnvil({ quiet: true, chainId: 1337 }),
    ]);
    try {
      expect(a.url).not.toBe(b.url);
      expect(a.chainId).toBe(31337);
      expect((await b.provider.getNetwork()).chainId).toBe(1337n);
      expect(a.accounts.length).toBeGreaterThanOrEqual(3);
      for (const account of a.accounts) expect(computeAddress(account.privateKey)).toBe(account.address);
      expect(await a.provider.getBalance(a.accounts[0]?.address ?? '')).toBeGreaterThan(0n);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(await answers(a.url)).toBe(false);
    expect(await answers(b.url)).toBe(false);
  });

  it('rejects with anvil’s own message when the port is taken', async () => {
    const a = await startAnvil({ quiet: true });
    try {
      const port = Number(new URL(a.url).port);
      await expect(startAnvil({ quiet: true, port })).rejects.toThrow(/already in use/i);
    } finally {
      await a.stop();
    }
  });

  it('does not outlive a parent process killed with SIGKILL', async () => {
    const script = `import { startAnvil } from './contracts/anvil.ts';
      const a = await startAnvil({ quiet: true }); console.log(a.url); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        parent.stdout.setEncoding('utf8');
        parent.stdout.on('data', (chunk: string) => {
          out += chunk;
          const m = /http:\/\/\S+/.exec(out);
          if (m) resolve(m[0]);
        });
        parent.once('exit', (code) => reject(new Error(`parent exited early (${code}): ${out}`)));
      });
      expect(await answers(url)).toBe(true);
      parent.kill('SIGKILL');
      expect(await stopsAnswering(url, 10_000)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
