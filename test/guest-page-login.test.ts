// The guest page's broker login, in a real Chromium: a page served by the gateway reads the guest login
// from /api/info, connects to the embedded broker over WebSocket with a client id of its own,
// subscribes to the replies under that id, publishes a signed token and gets the door opened.

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import type { Rental } from '../contracts/typedData.js';
import type { Guest } from '../guest/client.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';
import { actWhenLive, embeddedSetup, guestOf, ok, ROOT, testLog, waitFor } from './system.js';

const missing = chromiumMissing;

const page = mkdtempSync(join(tmpdir(), 'latchkey-page-'));
let e: Embedded;
let guest: Guest;
let lock: Rental;

beforeAll(async () => {
  if (missing) return;
  copyFileSync(join(ROOT, 'node_modules/mqtt/dist/mqtt.min.js'), join(page, 'mqtt.min.js'));
  writeFileSync(join(page, 'index.html'), '<!doctype html><script src="/mqtt.min.js"></script>');
  e = await startEmbedded({ log: testLog, blockTime: 0, staticDir: page });
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  guest = await guestOf(account, embeddedSetup(e));
  lock = (await guest.rent(1n, 3600)).rental;
  await waitFor(() => e.agent.store.getRental(lock.id), 'the agent to see the rental');
  // automine can put chain time a little ahead: wait until the rental is live for the agent
  ok(await actWhenLive(guest, lock, 'lock', 'http'), 'lock');
}, 60_000);

afterAll(async () => {
  await e?.stop();
  rmSync(page, { recursive: true, force: true });
});

describe.skipIf(missing)('the guest page logs in to the broker over WebSocket', () => {
  it('with the login from /api/info and its own client id, and gets its reply', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
    try {
      const tab = await browser.newPage();
      await tab.goto(`${e.httpUrl}/`);
      const clientId = await tab.evaluate(async () => {
        const info = await (await fetch('/api/info')).json();
        const bytes = crypto.getRandomValues(new Uint8Array(8));
        const id = `latchkey-guest-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
        // biome-ignore lint/suspicious/noExplicitAny: the browser bundle's global
        const mqtt = (window as any).mqtt;
        const client = mqtt.connect(info.mqttWsUrl, {
          clientId: id,
          username: info.mqttUsername,
          password: info.mqttPassword,
          reconnectPeriod: 0,
        });
        await new Promise((resolve, reject) => {
          client.once('connect', resolve);
          client.once('error', reject);
        });
        await client.subscribeAsync(`latchkey/${info.gatewayId}/+/reply/${id}/+`, { qos: 1 });
        // biome-ignore lint/suspicious/noExplicitAny: handed to the next evaluate
        (window as any).latchkey = { client, gatewayId: info.gatewayId };
        return id;
      });
      const signed = await guest.token(lock, 'unlock');
      const token = { ...signed, id: `${clientId}/1` };
      const reply = await tab.evaluate(
        async ({ token, device }) => {
          // biome-ignore lint/suspicious/noExplicitAny: set by the evaluate above
          const { client, gatewayId } = (window as any).latchkey;
          const answered = new Promise((resolve) =>
            client.on('message', (_topic: string, payload: Uint8Array) =>
              resolve(JSON.parse(new TextDecoder().decode(payload))),
            ),
          );
          await client.publishAsync(`latchkey/${gatewayId}/${device}/access`, JSON.stringify(token), {
            qos: 1,
          });
          return answered;
        },
        { token, device: '1' },
      );
      expect(reply).toMatchObject({ status: 'ok', data: { action: 'unlock' } });
    } finally {
      await browser.close();
    }
  });
});

if (missing) describe.skip('chromium missing: apt-get install chromium', () => {});
