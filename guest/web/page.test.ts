// The guest page in a real headless Chromium against the real stack (anvil, the embedded broker, the
// agent with sim relays), with a test wallet injected into the page that really sends and signs with
// an anvil account: sticker → rent → confirmations → unlock → checkout with the chain's numbers.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatEther, Interface, Wallet } from 'ethers';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded, startEmbedded } from '../../agent/embedded.js';
import { type BrokerUnderTest, startAedes } from '../../agent/mqtt/testkit.js';
import { latchkeyAt } from '../../contracts/deploy.js';
import { latchkeyAbi } from '../../contracts/generated/latchkey.js';
import { rentDevice } from '../../contracts/rental.js';
import { SimShelly } from '../../hardware/test/mqttDeviceSims.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from '../../test/chromium.js';
import { startMosquitto } from '../../test/mosquitto.js';
import { ROOT, registerDevices, StateLog, settled, testLog } from '../../test/system.js';
import { injectWallets, type TestWalletOptions, type WalletCall } from '../../test/wallet.js';

const missing = chromiumMissing;
const SHOTS = join(ROOT, 'docs/screenshots');
/** For what the page shows after chain reads: time enough on a loaded 2-core CI machine. */
const SLOW = { timeout: 15_000 };
const iface = new Interface(latchkeyAbi);

const PRICE_PER_WH = 100_000_000_000n; // 1e11 wei: the energy stays inside the deposit
let plugBroker: BrokerUnderTest;
let plug: SimShelly;
let e: Embedded;
let states: StateLog;
let context: BrowserContext;
const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));

beforeAll(async () => {
  if (missing) return;
  execFileSync(process.execPath, [join(ROOT, 'guest/build.mjs')], { stdio: 'ignore' });
  // One block a second, one confirmation: the page has confirmations to count, as on a real chain.
  // A metering socket too: a Shelly plug (simulated at the protocol level) on the host's own broker.
  plugBroker = await startAedes();
  plug = new SimShelly(plugBroker.url, 'shellyplusplugs-page');
  await plug.connect();
  e = await startEmbedded({
    log: testLog,
    blockTime: 1,
    staticDir: join(ROOT, 'guest/public'),
    devWallet: true,
    configOverrides: (c) => ({
      ...c,
      devices: [
        ...c.devices,
        {
          id: 3n,
          kind: 'socket' as const,
          pulseSeconds: 5,
          relay: { driver: 'shelly', url: plugBroker.url, prefix: 'shellyplusplugs-page' },
        },
      ],
    }),
  });
  states = new StateLog(e.agent);
  const [plugId] = await registerDevices(e.contract, e.gateway.address, [
    {
      kind: 'socket',
      pricePerSecond: DEMO_PRICES.socket.pricePerSecond,
      pricePerWh: PRICE_PER_WH,
      maxWatts: 400, // 100 Wh of energy in 15 minutes
    },
  ]);
  expect(plugId).toBe(3n);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    headless: true,
    viewport: { width: 360, height: 640 },
    deviceScaleFactor: 1,
  });
  mkdirSync(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await e?.stop();
  await plug?.stop();
  await plugBroker?.stop();
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
  opts: { noIndexedDb?: boolean } = {},
): Promise<{ page: Page; calls: WalletCall[] }> {
  const page = await context.newPage();
  const calls = await injectWallets(page, e.anvil.provider, e.anvil.chainId, wallets);
  // A browser that cannot keep a session key (IndexedDB missing, as in some in-app browsers).
  if (opts.noIndexedDb)
    await page.addInitScript(() => Object.defineProperty(window, 'indexedDB', { value: undefined }));
  await page.goto(`${e.httpUrl}${path}`);
  return { page, calls };
}

const note = (page: Page) => page.locator('#note');

/** Waits for a screen's element; a timeout says what the page said last. */
async function screen(page: Page, selector: string, timeout = 30_000): Promise<void> {
  try {
    await page.locator(selector).waitFor({ timeout });
  } catch (err) {
    const said = await note(page)
      .textContent()
      .catch(() => null);
    throw new Error(`${selector} did not show; the page said: ${said}`, { cause: err });
  }
}
/** A screenshot of the screen as a guest first sees it (scrolled to the top), or of `at` in view. */
async function shot(page: Page, name: string, at?: string): Promise<void> {
  if (at) await page.locator(at).scrollIntoViewIfNeeded();
  else await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

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

/** The typed-data kinds (`Session`, `Access`) the page asked the wallet to sign, in order. */
const signatures = (calls: WalletCall[]) =>
  calls
    .filter((c) => c.method === 'eth_signTypedData_v4')
    .map((c) => (JSON.parse((c.params as string[])[1] as string) as { primaryType: string }).primaryType);

const ethText = (wei: bigint) => `${formatEther(wei).replace(/\.0$/, '')} ETH`;

describe.skipIf(missing)('the guest page in Chromium', () => {
  it('rents the lock, unlocks it over the broker and checks out with the chain’s numbers', async () => {
    const { page } = await open('/d/1', [{ privateKey: guestKey(0) }]);
    await expect.poll(() => page.locator('#price').textContent(), SLOW).toContain('per hour');
    await expect.poll(() => page.locator('#deposit').textContent(), SLOW).toContain('ETH');
    await shot(page, 'device');

    await page.click('#connect');
    await page.locator('#rent').waitFor();
    const address = e.guests[0]?.address as string;
    const since = states.mark();
    await page.click('#rent');
    await page.locator('#progress').getByText('Confirmations').waitFor({ timeout: 20_000 });
    await shot(page, 'renting');
    await screen(page, '#rental', 30_000);
    const rented = await rentedBy(address, 1n);

    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    expect(await note(page).textContent()).toContain('via the internet broker');
    expect(states.closures(1n, since)).toBeGreaterThanOrEqual(1);
    await expect.poll(() => page.locator('#relay').textContent(), { timeout: 10_000 }).toBe('Unlocked');
    await shot(page, 'unlocked');

    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    const onChain = await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    expect(await page.locator('#sum-deposit').textContent()).toBe(ethText(rented.deposit));
    expect(await page.locator('#sum-charge').textContent()).toBe(ethText(onChain.charge));
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(onChain.refund));
    expect(onChain.charge + onChain.refund).toBe(rented.deposit);
    expect(await page.locator(`[data-tx="${onChain.txHash}"]`).count()).toBe(1);
    await shot(page, 'checkout');
    // Coming back later: the past rental is read from the chain's logs, with the same refund.
    await page.reload();
    await expect
      .poll(() => page.locator('#past-refund').textContent(), { timeout: 15_000 })
      .toBe(ethText(onChain.refund));
    await page.close();
  }, 120_000);

  it('asks the wallet once per rental: unlock, lock, unlock, a reload, lock and checkout on one signature', async () => {
    const { page, calls } = await open('/d/1', [{ privateKey: guestKey(6) }]);
    await page.click('#connect');
    await page.locator('#rent:not([disabled])').click();
    await screen(page, '#rental', 30_000);
    const rented = await rentedBy(e.guests[6]?.address as string, 1n);
    await expect
      .poll(() => page.locator('#keys').textContent(), SLOW)
      .toBe(
        'Your first action asks your wallet for one signature for this rental; after that, no more wallet prompts.',
      );
    expect(signatures(calls)).toEqual([]);

    const since = states.mark();
    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    expect(signatures(calls)).toEqual(['Session']);
    expect(await page.locator('#keys').textContent()).toBe(
      'One signature for this rental is done: this browser signs every action itself, with no wallet prompt.',
    );
    // The gateway holds the key the wallet granted, for this rental.
    const key = e.agent.store.getSessionKey(rented.rentalId);
    expect(key).toBeDefined();
    await page.click('#act-lock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/^Locked\./);
    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    expect(states.closures(1n, since)).toBeGreaterThanOrEqual(2);
    expect(signatures(calls)).toEqual(['Session']);

    // A reload mid-rental: the key is still in IndexedDB and still granted, so no new prompt.
    await page.reload();
    await screen(page, '#rental', 20_000);
    await expect
      .poll(() => page.locator('#keys').textContent(), SLOW)
      .toBe(
        'One signature for this rental is done: this browser signs every action itself, with no wallet prompt.',
      );
    await page.click('#act-lock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/^Locked\./);
    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    const onChain = await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(onChain.refund));
    expect(signatures(calls)).toEqual(['Session']);
    expect(e.agent.store.getSessionKey(rented.rentalId)).toEqual(key);
    await page.close();
  }, 120_000);

  it('signs each action with the wallet in a browser without IndexedDB', async () => {
    const { page, calls } = await open('/d/2', [{ privateKey: guestKey(7) }], { noIndexedDb: true });
    await page.click('#connect');
    await page.locator('#rent:not([disabled])').waitFor();
    await page.click('[data-seconds="900"]');
    await page.locator('#rent:not([disabled])').click();
    await screen(page, '#rental', 30_000);
    const rented = await rentedBy(e.guests[7]?.address as string, 2n);
    await expect
      .poll(() => page.locator('#keys').textContent(), SLOW)
      .toBe('This browser cannot keep a key for this rental, so your wallet signs each action.');
    await page.click('#act-on');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is on\./);
    await page.click('#act-off');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is off\./);
    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    expect(signatures(calls)).toEqual(['Access', 'Access', 'Access']);
    expect(e.agent.store.getSessionKey(rented.rentalId)).toBeUndefined();
    await page.close();
  }, 120_000);

  it('falls back to the wallet when the gateway answers no-session, then grants a fresh key', async () => {
    const { page, calls } = await open('/d/1', [{ privateKey: guestKey(6) }]);
    await page.click('#connect');
    await page.locator('#rent:not([disabled])').click();
    await screen(page, '#rental', 30_000);
    const rented = await rentedBy(e.guests[6]?.address as string, 1n);
    await expect.poll(() => page.locator('#keys').textContent(), SLOW).toMatch(/^Your first action asks/);
    // The page's key for this rental, marked granted although the gateway never saw it (as when a
    // gateway lost it): its tokens are answered no-session.
    const marked = await page.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const req = indexedDB.open('latchkey-sessions', 1);
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            const tx = req.result.transaction('sessions', 'readwrite');
            const store = tx.objectStore('sessions');
            const all = store.getAll();
            all.onsuccess = () => {
              for (const r of all.result as { granted: boolean }[]) store.put({ ...r, granted: true });
              tx.oncomplete = () => resolve(all.result.length);
            };
          };
        }),
    );
    expect(marked).toBe(1);
    expect(e.agent.store.getSessionKey(rented.rentalId)).toBeUndefined();
    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    expect(signatures(calls)).toEqual(['Access']);
    expect(await page.locator('#keys').textContent()).toMatch(/^Your first action asks/);
    // The next action grants a new key once; the one after needs nothing.
    await page.click('#act-lock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/^Locked\./);
    expect(signatures(calls)).toEqual(['Access', 'Session']);
    expect(e.agent.store.getSessionKey(rented.rentalId)).toBeDefined();
    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    expect(signatures(calls)).toEqual(['Access', 'Session']);
    await page.close();
  }, 120_000);

  it('adds the chain to a wallet that does not know it (nested 4902), powers the socket and checks out', async () => {
    const { page, calls } = await open('/d/2', [
      { privateKey: guestKey(1), startChainId: 1, nested4902: true, name: 'Phone wallet' },
    ]);
    await expect.poll(() => page.locator('#price').textContent(), SLOW).toContain('per kWh');
    await page.click('#connect');
    await expect
      .poll(() => calls.map((c) => c.method), SLOW)
      .toEqual(expect.arrayContaining(['wallet_switchEthereumChain', 'wallet_addEthereumChain']));
    await page.click('[data-seconds="900"]');
    await expect.poll(() => page.locator('#rent').textContent(), SLOW).toMatch(/Rent for/);
    await page.click('#rent');
    await screen(page, '#rental', 30_000);
    const rented = await rentedBy(e.guests[1]?.address as string, 2n);
    const since = states.mark();
    await page.click('#act-on');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is on\./);
    await states.until(2n, (s) => s.relay === 'closed', 'the socket powered', since);
    await expect.poll(() => page.locator('#relay').textContent(), { timeout: 10_000 }).toBe('Power is on');
    expect(await page.locator('#energy').textContent()).toMatch(/Energy used: \d+ Wh/);
    await page.click('#act-off');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is off\./);
    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    const onChain = await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    expect(await page.locator('#sum-charge').textContent()).toBe(ethText(onChain.charge));
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(onChain.refund));
    expect(await page.locator('#summary th small').first().textContent()).toMatch(/s × .* \+ 0 Wh × /);
    await page.close();
  }, 120_000);

  it('shows the energy a metering socket used and charges it at checkout, to the wei', async () => {
    const { page } = await open('/d/3', [{ privateKey: guestKey(3) }]);
    await expect.poll(() => page.locator('#price').textContent(), SLOW).toContain('per kWh');
    await page.click('#connect');
    await page.locator('#rent:not([disabled])').waitFor();
    await page.click('[data-seconds="900"]');
    await page.locator('#rent:not([disabled])').waitFor();
    await expect
      .poll(() => page.locator('#energy-allowance').textContent(), SLOW)
      .toMatch(/^Includes up to 100 Wh of energy/);
    await page.click('#rent');
    await screen(page, '#rental', 30_000);
    const rented = await rentedBy(e.guests[3]?.address as string, 3n);
    await page.click('#act-on');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is on\./);
    expect(plug.on).toBe(true);
    await plug.addEnergy(25);
    await plug.addEnergy(12);
    // Shown while the socket is still on: the agent republishes the state as the meter counts.
    await expect.poll(() => page.locator('#energy').textContent(), SLOW).toBe('Energy used: 37 Wh');
    await page.click('#act-off');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is off\./);
    await expect.poll(() => page.locator('#energy').textContent(), SLOW).toBe('Energy used: 37 Wh');
    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    const onChain = await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    const small = await page.locator('#summary th small').first().textContent();
    const seconds = BigInt(/^(\d+) s ×/.exec(small ?? '')?.[1] ?? '-1');
    expect(small).toContain(`37 Wh × ${ethText(PRICE_PER_WH)}/Wh`);
    expect(onChain.charge).toBe(seconds * DEMO_PRICES.socket.pricePerSecond + 37n * PRICE_PER_WH);
    expect(await page.locator('#sum-charge').textContent()).toBe(ethText(onChain.charge));
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(onChain.refund));
    await page.close();
  }, 120_000);

  it('lets the guest pick one of two wallets, and says so when the guest declines the signature', async () => {
    const { page } = await open('/d/1', [
      { privateKey: guestKey(0), name: 'First wallet', rdns: 'org.example.first' },
      { privateKey: guestKey(2), name: 'Second wallet', rdns: 'org.example.second', declineSignatures: true },
    ]);
    await page.click('#connect');
    await page.locator('#wallet-picker').waitFor();
    expect(await page.locator('#wallet-picker button').allTextContents()).toEqual([
      'First wallet',
      'Second wallet',
    ]);
    await page.click('[data-wallet="org.example.second"]');
    const second = e.guests[2]?.address as string;
    await expect.poll(() => page.locator('#wallet').textContent(), SLOW).toContain(second.slice(0, 6));
    await page.click('#rent');
    await screen(page, '#rental', 30_000);
    await page.click('#act-unlock');
    await expect
      .poll(() => note(page).textContent(), { timeout: 10_000 })
      .toBe('You declined the request in your wallet. Nothing was sent.');
    await page.close();
  }, 120_000);

  it('offers deep links into wallet apps when the browser has no wallet', async () => {
    const { page } = await open('/d/1', []);
    await page.locator('#no-wallet').waitFor();
    const links = await page
      .locator('#no-wallet a')
      .evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    const here = `${new URL(e.httpUrl).host}/d/1`;
    expect(links).toEqual([
      `https://metamask.app.link/dapp/${here}`,
      `https://go.cb-w.com/dapp?cb_url=${encodeURIComponent(`${e.httpUrl}/d/1`)}`,
      `https://link.trustwallet.com/open_url?coin_id=60&url=${encodeURIComponent(`${e.httpUrl}/d/1`)}`,
    ]);
    await shot(page, 'no-wallet', '#no-wallet');
    // `/` lists the gateway's devices, each linking to its sticker page.
    await page.goto(`${e.httpUrl}/`);
    await page.locator('.list a').first().waitFor();
    expect(
      await page.locator('.list a').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).pathname)),
    ).toEqual(['/d/1', '/d/2', '/d/3']);
    await page.close();
  });

  it('rents, powers and checks out with the development wallet of the embedded default', async () => {
    const { page } = await open('/d/2', []);
    await page.locator('#dev-wallet').click();
    const address = e.guests[0]?.address as string;
    await expect.poll(() => page.locator('#wallet').textContent(), SLOW).toContain(address.slice(0, 6));
    await page.locator('#rent:not([disabled])').click();
    await screen(page, '#rental', 30_000);
    await page.click('#act-on');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Power is on\./);
    await page.click('#checkout');
    await screen(page, '#summary', 30_000);
    const rented = await rentedBy(address, 2n);
    const onChain = await settled(e.anvil.provider, e.contractAddress, rented.rentalId);
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(onChain.refund));
    await page.close();
  }, 90_000);

  it('finds the open rental from the chain after a reload and unlocks over LAN HTTP when the broker is down', async () => {
    await e.broker.stop();
    const { page } = await open('/d/1', [{ privateKey: guestKey(2), preconnected: true }]);
    // No local state: the rental comes from the chain's logs of this wallet.
    await screen(page, '#rental', 20_000);
    await page.reload();
    await screen(page, '#rental', 20_000);
    const since = states.mark();
    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/Unlocked for 5 seconds/);
    expect(await note(page).textContent()).toContain('via the gateway’s Wi-Fi');
    expect(states.closures(1n, since)).toBe(1);

    // Extend by an hour: the top-up on the button is what the chain takes, the new end is shown.
    const before = await rentedBy(e.guests[2]?.address as string, 1n);
    const label = await page.locator('#extend').textContent();
    await page.click('#extend');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/^Ends at /);
    const extended = await e.anvil.provider.getLogs({
      address: e.contractAddress,
      topics: iface.encodeFilterTopics('Extended', [before.rentalId]),
      fromBlock: 0,
    });
    const args = iface.parseLog(extended[0] as (typeof extended)[number])?.args as unknown as {
      deposit: bigint;
    };
    expect(label).toBe(`Add 1 hour (${ethText(args.deposit - before.deposit)})`);
    await page.close();
  }, 90_000);

  it('switches a wallet on another chain, and says how much is missing when it cannot pay', async () => {
    // A wallet on another chain that knows the gateway's: switched, nothing added.
    const { page, calls } = await open('/d/2', [
      { privateKey: Wallet.createRandom().privateKey, startChainId: 10, knownChains: [e.anvil.chainId] },
    ]);
    await page.click('#connect');
    await expect.poll(() => calls.map((c) => c.method), SLOW).toContain('wallet_switchEthereumChain');
    expect(calls.map((c) => c.method)).not.toContain('wallet_addEthereumChain');
    await page.locator('#rent:not([disabled])').waitFor();
    await page.click('#rent');
    await expect
      .poll(() => note(page).textContent(), { timeout: 15_000 })
      .toMatch(
        /^Not enough money: the deposit is [0-9.]+ ETH plus about [0-9.]+ ETH for the network fee, and your wallet has 0 ETH\.$/,
      );
    expect(calls.some((c) => c.method === 'eth_sendTransaction')).toBe(false);
    await page.close();
  }, 60_000);

  it('words a refusal before the start, then cancels the booking for the fee it showed', async () => {
    const account = e.guests[4];
    if (!account) throw new Error('no dev account 4');
    const asGuest = latchkeyAt(e.contractAddress, new Wallet(account.privateKey, e.anvil.provider));
    // The host charges for cancelling within an hour of the start; the booking starts in 10 minutes.
    const { slotSeconds, cancelWindow } = await e.contract.device(2n);
    await (await e.contract.setCalendar(2n, slotSeconds, 3600)).wait();
    const head = await e.anvil.provider.getBlock('latest');
    const start = BigInt((head?.timestamp ?? 0) + 600);
    const { rental } = await rentDevice(asGuest, 2n, 900, { start });
    await (await e.contract.setCalendar(2n, slotSeconds, cancelWindow)).wait();
    const { page } = await open('/d/2', [{ privateKey: account.privateKey, preconnected: true }]);
    await screen(page, '#rental', 20_000);
    expect(await page.locator('#time-left').textContent()).toMatch(/^Starts at /);
    expect(await page.locator('#checkout').count()).toBe(0);
    expect(await page.locator('#cancel').textContent()).toMatch(
      /^Cancel booking \([\d.]+ ETH back, [\d.]+ ETH fee to the host\)$/,
    );
    await page.click('#act-on');
    await expect
      .poll(() => note(page).textContent(), { timeout: 30_000 })
      .toMatch(/^Your rental has not started yet\./);

    await page.click('#cancel');
    await screen(page, '#summary', 30_000);
    const log = (await e.contract.queryFilter('Cancelled')).find(
      (l) => 'args' in l && l.args.rentalId === rental.id,
    );
    if (!log || !('args' in log)) throw new Error('no Cancelled log');
    const { fee, refund } = log.args;
    expect(fee).toBeGreaterThan(0n);
    expect(fee + refund).toBe(rental.deposit);
    expect(await page.locator('#summary h2').textContent()).toBe('Booking cancelled');
    expect(await page.locator('#sum-charge').textContent()).toBe(ethText(fee));
    expect(await page.locator('#sum-refund').textContent()).toBe(ethText(refund));
    expect(await page.locator('#summary [data-tx]').last().getAttribute('data-tx')).toBe(log.transactionHash);
    await page.close();
  }, 90_000);

  // The clock stays installed in the browser context for the tests after this one.
  it('words a refusal: a token that expired on the way (the phone’s clock is behind)', async () => {
    const { page } = await open('/d/1', [{ privateKey: guestKey(2), preconnected: true }]);
    await page.clock.install({ time: Date.now() - 10 * 60_000 });
    await page.reload();
    await screen(page, '#rental', 20_000);
    await page.click('#act-unlock');
    await expect
      .poll(() => note(page).textContent(), { timeout: 30_000 })
      .toMatch(/^The request expired before it arrived\./);
    await page.close();
  }, 90_000);

  // Last: it locks this machine's address out of the LAN HTTP for a minute.
  it('words a refusal: the gateway rate-limits a source that sent a flood of bad tokens', async () => {
    for (let i = 0; i < 25; i++) {
      await fetch(`${e.httpUrl}/api/devices/1/access`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"junk":true}',
      });
    }
    const { page } = await open('/d/1', [{ privateKey: guestKey(2), preconnected: true }]);
    await screen(page, '#rental', 20_000);
    await page.click('#act-unlock');
    await expect.poll(() => note(page).textContent(), { timeout: 30_000 }).toMatch(/^Too many requests/);
    await page.close();
  }, 90_000);
});

const noMosquitto = !existsSync('/usr/sbin/mosquitto');
if (noMosquitto && process.env.CI)
  throw new Error('/usr/sbin/mosquitto is missing: apt-get install mosquitto');

describe.skipIf(missing || noMosquitto)('the guest page with Mosquitto (MQTT 5)', () => {
  it('unlocks over MQTT 5 with a response topic, the agent on the same Mosquitto', async () => {
    const mosquitto = await startMosquitto({ wsPort: 0 });
    let m: Embedded | undefined;
    let own: BrowserContext | undefined;
    const ownProfile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));
    try {
      m = await startEmbedded({
        log: testLog,
        blockTime: 1,
        staticDir: join(ROOT, 'guest/public'),
        configOverrides: (c) => ({ ...c, mqtt: { ...c.mqtt, url: mosquitto.url } }),
      });
      const system = m;
      // Its own browser profile: the clock test above leaves the shared context's clock behind.
      own = await chromium.launchPersistentContext(ownProfile, {
        executablePath: CHROMIUM,
        args: CHROMIUM_FLAGS,
        headless: true,
        viewport: { width: 360, height: 640 },
      });
      const page = await own.newPage();
      await injectWallets(page, system.anvil.provider, system.anvil.chainId, [{ privateKey: guestKey(5) }]);
      // The gateway's facts as they are, but for the broker the guests reach: this Mosquitto.
      await page.route('**/api/info', async (route) => {
        const info = await (await route.fetch()).json();
        await route.fulfill({ json: { ...info, mqttWsUrl: mosquitto.wsUrl } });
      });
      await page.goto(`${system.httpUrl}/d/1`);
      await page.click('#connect');
      await page.locator('#rent:not([disabled])').click();
      await screen(page, '#rental', 30_000);
      await page.click('#act-unlock');
      await expect
        .poll(() => note(page).textContent(), { timeout: 30_000 })
        .toMatch(/Unlocked for 5 seconds/);
      expect(await note(page).textContent()).toContain('via the internet broker');
      // Mosquitto logs each client's protocol: p5 is MQTT 5.
      expect(mosquitto.output()).toMatch(/as latchkey-guest-[0-9a-f]+ \(p5,/);
      await page.close();
    } finally {
      await own?.close();
      await m?.stop();
      await mosquitto.stop();
      rmSync(ownProfile, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(missing)('the guest page on an HTTPS host', () => {
  it('says that the browser will not let it reach a ws:// broker on the LAN (mixed content)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-https-'));
    let server: Server | undefined;
    let ctx: BrowserContext | undefined;
    try {
      // The page built for another host, with the gateway's facts baked in and its broker on the LAN.
      const broker = 'ws://gateway.lan:9001';
      const config = {
        gatewayId: e.config.gatewayId,
        chainId: String(e.anvil.chainId),
        contract: e.contractAddress,
        devices: [{ id: '1', kind: 'lock', pulseSeconds: 5 }],
        mqttWsUrl: broker,
        rpcUrl: e.anvil.url,
      };
      const site = join(dir, 'site');
      execFileSync(process.execPath, [join(ROOT, 'guest/build.mjs'), '--out', site], {
        env: { ...process.env, LATCHKEY_PAGE_CONFIG: JSON.stringify(config) },
        stdio: 'ignore',
      });
      execFileSync(
        'openssl',
        [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
          ...[
            '-keyout',
            join(dir, 'key.pem'),
            '-out',
            join(dir, 'cert.pem'),
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
          ],
        ],
        { stdio: 'ignore' },
      );
      const https = createHttpsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (req, res) => {
          const path = new URL(req.url ?? '/', 'https://x').pathname;
          const file = join(site, path === '/' || path.startsWith('/d/') ? 'index.html' : path.slice(1));
          if (!file.startsWith(site) || !existsSync(file)) {
            res.writeHead(404).end();
            return;
          }
          const type = file.endsWith('.js')
            ? 'text/javascript'
            : file.endsWith('.css')
              ? 'text/css'
              : 'text/html';
          res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
        },
      );
      server = https;
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
      const port = (https.address() as AddressInfo).port;
      ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
        executablePath: CHROMIUM,
        args: CHROMIUM_FLAGS,
        headless: true,
        ignoreHTTPSErrors: true,
        viewport: { width: 360, height: 640 },
      });
      const page = await ctx.newPage();
      await page.goto(`https://127.0.0.1:${port}/d/1`);
      await expect
        .poll(() => page.locator('#price').textContent(), { timeout: 15_000 })
        .toContain('per hour');
      await expect
        .poll(() => note(page).textContent(), { timeout: 15_000 })
        .toBe(
          `This page is loaded over HTTPS, so the browser will not let it reach the gateway’s broker at ${broker}. ` +
            'Open the page from the gateway itself (http://…) while on its Wi-Fi.',
        );
    } finally {
      await ctx?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

if (missing) describe.skip('chromium missing: apt-get install chromium', () => {});
