// A web page of another site, opened in a real Chromium on the renter's phone (here: this machine),
// tries to drive the gateway's LAN HTTP: text/plain "simple" POSTs that need no CORS preflight, JSON
// POSTs that do, a form post. None reaches the access gate, so none can lock the renter's own address
// out: the renter's token, sent right after from the same address, opens the door.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import type { Rental } from '../contracts/typedData.js';
import type { Guest } from '../guest/client.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';
import { histogramProblems, promtoolCheck, promtoolMissing } from './promtool.js';
import { actWhenLive, embeddedSetup, guestOf, testLog, waitFor } from './system.js';

const missing = chromiumMissing;

let e: Embedded;
let guest: Guest;
let lock: Rental;
let foreign: Server;

beforeAll(async () => {
  if (missing) return;
  e = await startEmbedded({ log: testLog, blockTime: 0 });
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  guest = await guestOf(account, embeddedSetup(e));
  lock = (await guest.rent(1n, 3600)).rental;
  await waitFor(() => e.agent.store.getRental(lock.id), 'the agent to see the rental');
  foreign = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>ads</h1>'),
  );
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => foreign?.close(resolve));
  await e?.stop();
});

describe.skipIf(missing)('LAN HTTP driven by another web site in Chromium', () => {
  it('lets no cross-site request reach the gate, so the renter is never locked out', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
    try {
      const page = await browser.newPage();
      // localhost:<port> is another origin than the gateway's 127.0.0.1:<port>, from the same address.
      await page.goto(`http://localhost:${(foreign.address() as AddressInfo).port}/`);
      const target = `${e.httpUrl}/api/devices/1/access`;
      const outcome = await page.evaluate(async (url) => {
        const junk = JSON.stringify({ access: {}, signature: '0x00' });
        const simple = Array.from({ length: 25 }, () =>
          fetch(url, {
            method: 'POST',
            mode: 'no-cors',
            headers: { 'content-type': 'text/plain' },
            body: junk,
          }).then(
            () => 'sent',
            () => 'failed',
          ),
        );
        const preflighted = Array.from({ length: 5 }, () =>
          fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: junk }).then(
            () => 'answered',
            () => 'blocked',
          ),
        );
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = url;
        form.enctype = 'text/plain';
        form.target = 'sink';
        const frame = document.createElement('iframe');
        frame.name = 'sink';
        document.body.append(form, frame);
        const posted = new Promise((resolve) => frame.addEventListener('load', () => resolve('posted')));
        form.submit();
        return Promise.all([Promise.all(simple), Promise.all(preflighted), posted]);
      }, target);
      expect(outcome[1]).toEqual(Array(5).fill('blocked')); // the preflight is refused
      // Nothing reached the access gate: no refusal was counted against 127.0.0.1.
      const counted = ['malformed', 'rate-limited'].map((o) =>
        e.agent.metrics.get('latchkey_access_total', { outcome: o }),
      );
      expect(counted).toEqual([undefined, undefined]);

      const reply = await actWhenLive(guest, lock, 'unlock', 'http');
      expect(reply).toMatchObject({ status: 'ok' });

      // The agent's real /metrics after traffic is valid Prometheus text.
      const metrics = await (await fetch(`${e.httpUrl}/metrics`)).text();
      expect(metrics).toContain('latchkey_access_seconds_bucket');
      if (!promtoolMissing) expect(promtoolCheck(metrics)).toEqual({ code: 0, output: '' });
      expect(histogramProblems(metrics)).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

if (missing) describe.skip('chromium missing: apt-get install chromium', () => {});
