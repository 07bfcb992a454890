// The guest page's session key in a real Chromium, against the whole embedded system: guest/session.ts
// bundled with esbuild and served by the gateway's own LAN page. One wallet signature (the grant) buys
// unlock, lock, unlock and checkout; a reload keeps the key (IndexedDB); a browser that cannot keep a
// key signs each action with the wallet; a key the gateway no longer holds falls back to the wallet.
// The injected wallet counts its signature requests and signs as MetaMask does (eth_signTypedData_v4).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignTypedDataVersion, signTypedData } from '@metamask/eth-sig-util';
import { build } from 'esbuild';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import type { DevAccount } from '../contracts/anvil.js';
import type { Rental } from '../contracts/typedData.js';
import type { Guest } from '../guest/client.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';
import { actWhenLive, embeddedSetup, guestOf, ok, ROOT, testLog, waitFor } from './system.js';

const missing = chromiumMissing;

const page = mkdtempSync(join(tmpdir(), 'latchkey-session-page-'));
const profiles: string[] = [];
let e: Embedded;
let account: DevAccount;
let guest: Guest;
let lock: Rental;

beforeAll(async () => {
  if (missing) return;
  await build({
    entryPoints: [join(ROOT, 'guest/session.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(page, 'session.js'),
    logLevel: 'warning',
  });
  writeFileSync(
    join(page, 'index.html'),
    '<!doctype html><script type="module">import * as s from "/session.js"; window.latchkeySession = s;</script>',
  );
  e = await startEmbedded({ log: testLog, blockTime: 0, staticDir: page });
  const a = e.guests[0];
  if (!a) throw new Error('no guest account');
  account = a;
  guest = await guestOf(account, embeddedSetup(e));
  lock = (await guest.rent(1n, 3600)).rental;
  await waitFor(() => e.agent.store.getRental(lock.id), 'the agent to see the rental');
  ok(await actWhenLive(guest, lock, 'lock', 'http'), 'lock'); // chain time may run a little ahead
}, 90_000);

afterAll(async () => {
  await guest?.close();
  await e?.stop();
  rmSync(page, { recursive: true, force: true });
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

/** A browser with a fresh profile and an injected wallet that signs with the guest's key and counts. */
async function browserWithWallet(opts: { noIndexedDb?: boolean } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));
  profiles.push(profile);
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    headless: true,
  });
  const requests: string[] = [];
  await context.exposeBinding('walletSign', (_source, address: string, json: string) => {
    const typed = JSON.parse(json);
    requests.push(typed.primaryType);
    if (address.toLowerCase() !== account.address.toLowerCase()) throw new Error('unknown account');
    return signTypedData({
      privateKey: Buffer.from(account.privateKey.slice(2), 'hex'),
      data: typed,
      version: SignTypedDataVersion.V4,
    });
  });
  await context.addInitScript(
    ({ noIndexedDb }) => {
      // biome-ignore lint/suspicious/noExplicitAny: the injected provider, as a wallet extension adds it
      const w = window as any;
      w.ethereum = {
        request: ({ method, params }: { method: string; params: [string, string] }) => {
          if (method !== 'eth_signTypedData_v4') throw new Error(`unsupported ${method}`);
          return w.walletSign(params[0], params[1]);
        },
      };
      if (noIndexedDb) Object.defineProperty(window, 'indexedDB', { value: undefined });
    },
    { noIndexedDb: opts.noIndexedDb ?? false },
  );
  const tab = await context.newPage();
  await tab.goto(`${e.httpUrl}/`);
  await tab.waitForFunction(() => 'latchkeySession' in window);
  /** One button press of the page: act() over LAN HTTP to the gateway that served it. */
  const press = (action: string, on: Rental = lock) =>
    tab.evaluate(
      async ({ action, rental, address, chainId, contract }) => {
        // biome-ignore lint/suspicious/noExplicitAny: the bundle's exports on window
        const s = (window as any).latchkeySession;
        const r = { chainId, contract, rentalId: BigInt(rental.id), end: BigInt(rental.end) };
        const store = s.sessionKeysSupported() ? s.indexedDbSessions() : undefined;
        const out = await s.act({
          rental: r,
          action,
          // biome-ignore lint/suspicious/noExplicitAny: the injected provider
          wallet: (window as any).ethereum,
          address,
          store,
          send: async (m: unknown) =>
            (
              await fetch(`/api/devices/${BigInt(rental.id) >> 64n}/access`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(m),
              })
            ).json(),
        });
        return {
          code: out.reply.status === 'ok' ? 'ok' : out.reply.error.code,
          via: out.via,
          data: out.reply.data,
        };
      },
      {
        action,
        rental: { id: on.id.toString(), end: on.end.toString() },
        address: account.address,
        chainId: e.anvil.chainId,
        contract: e.contractAddress,
      },
    );
  return { context, tab, requests, press };
}

describe.skipIf(missing)('the session key in Chromium', () => {
  it('one wallet signature per rental: unlock, lock, unlock, a reload, more, then checkout', async () => {
    const b = await browserWithWallet();
    const other = await browserWithWallet({ noIndexedDb: true });
    try {
      expect(await b.press('unlock')).toMatchObject({ code: 'ok', via: 'session' });
      expect(b.requests).toEqual(['Session']);
      expect(await b.press('lock')).toMatchObject({ code: 'ok', via: 'session' });
      expect(await b.press('unlock')).toMatchObject({ code: 'ok', via: 'session' });
      expect(b.requests).toEqual(['Session']);
      expect(e.agent.store.getSessionKey(lock.id)).toBeDefined();

      await b.tab.reload();
      await b.tab.waitForFunction(() => 'latchkeySession' in window);
      expect(await b.press('lock')).toMatchObject({ code: 'ok', via: 'session' });
      expect(b.requests).toEqual(['Session']);
      // The key in IndexedDB is a CryptoKey that cannot be exported.
      const exported = await b.tab.evaluate(async () => {
        // biome-ignore lint/suspicious/noExplicitAny: the bundle's exports on window
        const s = (window as any).latchkeySession;
        const [record] = await s.indexedDbSessions().all();
        try {
          await crypto.subtle.exportKey('pkcs8', record.privateKey);
          return 'exported';
        } catch {
          return `refused (extractable: ${record.privateKey.extractable})`;
        }
      });
      expect(exported).toBe('refused (extractable: false)');

      // A browser that cannot keep a key: every action is signed by the wallet, and accepted.
      expect(await other.press('unlock')).toMatchObject({ code: 'ok', via: 'wallet' });
      expect(await other.press('lock')).toMatchObject({ code: 'ok', via: 'wallet' });
      expect(other.requests).toEqual(['Access', 'Access']);

      const checkout = await b.press('checkout');
      expect(checkout).toMatchObject({ code: 'ok', via: 'session' });
      expect(JSON.stringify(checkout.data)).toContain('receipt');
      expect(b.requests).toEqual(['Session']);
    } finally {
      await b.context.close();
      await other.context.close();
    }
  }, 120_000);
});

describe.skipIf(missing)('a key the gateway no longer holds', () => {
  it('is replaced by another browser’s grant; the first browser falls back to the wallet', async () => {
    const rental = (await guest.rent(2n, 3600)).rental;
    await waitFor(() => e.agent.store.getRental(rental.id), 'the agent to see the socket rental');
    ok(await actWhenLive(guest, rental, 'off', 'http'), 'off');
    const first = await browserWithWallet();
    const second = await browserWithWallet();
    try {
      expect(await first.press('on', rental)).toMatchObject({ code: 'ok', via: 'session' });
      // grants its own key, which replaces the first browser's
      expect(await second.press('off', rental)).toMatchObject({ code: 'ok', via: 'session' });
      expect(await first.press('on', rental)).toMatchObject({ code: 'ok', via: 'wallet' });
      expect(first.requests).toEqual(['Session', 'Access']);
      expect(second.requests).toEqual(['Session']);
    } finally {
      await first.context.close();
      await second.context.close();
    }
  }, 120_000);
});
