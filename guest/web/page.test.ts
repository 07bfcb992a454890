// The guest page in a real headless Chromium against the real stack (anvil, the embedded broker, the
// agent with sim relays), with a test wallet injected into the page that really sends and signs with
// an anvil account: sticker → rent → confirmations → unlock → checkout with the chain's numbers.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatEther, Interface } from 'ethers';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Embedded, startEmbedded } from '../../agent/embedded.js';
import { latchkeyAbi } from '../../contracts/generated/latchkey.js';
import { ROOT, StateLog, settled, testLog } from '../../test/system.js';
import { injectWallets, type TestWalletOptions, type WalletCall } from '../../test/wallet.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = join(ROOT, 'docs/screenshots');
const iface = new Interface(latchkeyAbi);

let e: Embedded;
let states: StateLog;
let context: BrowserContext;
const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));

beforeAll(async () => {
  if (missing) return;
  execFileSync(process.execPath, [join(ROOT, 'guest/build.mjs')], { stdio: 'ignore' });
  // One block a second, one confirmation: the page has confirmations to count, as on a real chain.
  e = await startEmbedded({ log: testLog, blockTime: 1, staticDir: join(ROOT, 'guest/public') });
  states = new StateLog(e.agent);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: FLAGS,
    headless: true,
    viewport: { width: 360, height: 640 },
    deviceScaleFactor: 1,
  });
  mkdirSync(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await e?.stop();
  rmSync(profile, { recursive: true, force: true });
});

function guestKey(i: number): string {
  const a = e.guests[i];
  if (!a) throw new Error(`no dev account ${i}`);
  return a.privateKey;
}

async function open(
  path: string,
  wallets: TestWalletOptions[],
): Promise<{ page: Page; calls: WalletCall[] }> {
  const page = await context.newPage();
  const calls = await injectWallets(page, e.anvil.provider, e.anvil.chainId, wallets);
  await page.goto(`${e.httpUrl}${path}`);
  return { page, calls };
}

const note = (page: Page) => page.locator('#note');
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });

/** The rental the page's wallet made, from the chain's Rented logs of `guest`. */
async function rentedBy(guest: string, deviceId: bigint) {
  const logs = await e.anvil.provider.getLogs({
    address: e.contractAddress,
    topics: iface.encodeFilterTopics('Rented', [null, deviceId, guest]),
    fromBlock: 0,
  });
  const last = logs.at(-1);
  if (!last) throw new Error(`no rental of device ${deviceId} by ${guest}`);
  return iface.parseLog(last)?.args as unknown as { rentalId: bigint; deposit: bigint };
}

const ethText = (wei: bigint) => `${formatEther(wei).replace(/\.0$/, '')} ETH`;

describe.skipIf(missing)('the guest page in Chromium', () => {
  it('rents the lock, unlocks it over the broker and checks out with the chain’s numbers', async () => {
    const { page } = await open('/d/1', [{ privateKey: guestKey(0) }]);
    await expect.poll(() => page.locator('#price').textContent()).toContain('per hour');
    await expect.poll(() => page.locator('#deposit').textContent()).toContain('ETH');
    await shot(page, 'device');

    await page.click('#connect');
    await page.locator('#rent').waitFor();
    const address = e.guests[0]?.address as string;
    const since = states.mark();
    await page.click('#rent');
    await page.locator('#progress').getByText('Confirmations').waitFor({ timeout: 20_000 });
    await shot(page, 'renting');
    await page.locator('#rental').waitFor({ timeout: 30_000 });
    const rented = await rentedBy(address, 1n);

    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    expect(await note(page).textContent()).toContain('via the internet broker');
    expect(states.closures(1n, since)).toBeGreaterThanOrEqual(1);
    await expect.poll(() => page.locator('#relay').textContent(), { timeout: 10_000 }).toBe('Unlocked');
    await shot(page, 'unlocked');

    await page.click('#checkout');
    await page.locator('#summary').waitFor({ timeout: 30_000 });
    const onChain = await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    expect(await page.locator('#sum-deposit').textContent()).toBe(ethText(rented.deposit));
    expect(await page.locator('#sum-charge').textContent()).toBe(ethText(onChain.charge));
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(onChain.refund));
    expect(onChain.charge + onChain.refund).toBe(rented.deposit);
    expect(await page.locator(`[data-tx="${onChain.txHash}"]`).count()).toBe(1);
    await shot(page, 'checkout');
    await page.close();
  }, 120_000);
});

if (missing) describe.skip('chromium missing: apt-get install chromium', () => {});
