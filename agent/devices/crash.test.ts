// kill -9 for real (RELIABILITY 21, 23, 25): a child process switches a socket on and is SIGKILLed;
// the restart drives the relay open first, keeps the metering persisted before the crash, resumes
// the live rental and produces exactly one receipt at its end.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it, vi } from 'vitest';
import { SimRelay } from '../../hardware/sim.js';
import { rentalOf, tempStore, testController, unixNow } from './testkit.js';

const CHILD = fileURLToPath(new URL('./crash.child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let child: ChildProcess | undefined;
let env: ReturnType<typeof tempStore> | undefined;

afterEach(() => {
  vi.useRealTimers();
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  env?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(p: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve(signal ?? code)));
}

it('a socket killed with SIGKILL while on: opened at boot, metering kept, resumed, one receipt', async () => {
  env = tempStore();
  const { store, path, dir } = env;
  const relayFile = join(dir, 'relay');
  writeFileSync(relayFile, 'open');
  const rental = rentalOf(1n, 1n, unixNow() - 60, unixNow() + 3600);
  store.putRental(rental);

  child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, relayFile, rental.id.toString()], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const gone = exited(child);

  // wait until the socket is on and some usage is on disk
  for (let i = 0; ; i++) {
    const rt = store.getDeviceRuntime(1n);
    if (rt?.relayClosed && rt.usedSeconds >= 0.5) break;
    if (child.exitCode !== null || i > 300) throw new Error(`child did not switch the socket on: ${stderr}`);
    await sleep(50);
  }
  child.kill('SIGKILL');
  expect(await gone).toBe('SIGKILL');

  // the hardware outlived the process: still energised
  expect(readFileSync(relayFile, 'utf8')).toBe('closed');
  const before = store.getDeviceRuntime(1n)!;
  expect(before).toMatchObject({ rentalId: rental.id, relayClosed: true });
  expect(before.usedSeconds).toBeGreaterThanOrEqual(0.5);
  expect(store.getReceipt(rental.id)).toBeUndefined();

  // restart, with fake time from here on to reach the rental end
  vi.useFakeTimers({ now: Date.now() });
  const boot = () => {
    const relay = new SimRelay({ closed: readFileSync(relayFile, 'utf8') === 'closed' });
    relay.on('switch', (s) => writeFileSync(relayFile, s.closed ? 'closed' : 'open'));
    const ctl = testController(relay, store);
    const receipts: unknown[] = [];
    ctl.on('receipt', (r) => receipts.push(r));
    return { relay, ctl, receipts };
  };
  const { relay, ctl, receipts } = boot();
  await ctl.start();
  expect(relay.switches.map((s) => s.closed)).toEqual([false, true]); // opened first, then resumed
  expect(ctl.state()).toMatchObject({
    phase: 'closed',
    rentalId: rental.id,
    usedSeconds: Math.floor(before.usedSeconds),
  });
  const remaining = Number(rental.end) - unixNow();

  await vi.advanceTimersByTimeAsync(remaining * 1000);
  expect(readFileSync(relayFile, 'utf8')).toBe('open');
  expect(receipts).toHaveLength(1);
  expect(store.getReceipt(rental.id)?.receipt.secondsUsed).toBe(
    BigInt(Math.floor(before.usedSeconds + remaining)),
  );
  await ctl.stop();

  // a further restart finds nothing left to do
  const again = boot();
  await again.ctl.start();
  expect(again.receipts).toHaveLength(0);
  expect(again.relay.isClosed()).toBe(false);
  expect(store.pendingReceipts()).toHaveLength(1);
  await again.ctl.stop();
});
