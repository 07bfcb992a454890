// `npm start -- --lan` as a phone on the same network meets it: the embedded system bound to this
// machine's real LAN address serves the page and /api/info there, /api/info names a broker WebSocket
// on that address, the guest logs in to it there, and the sticker QR code decodes to the device URL.
// The terminal's narration of a rental, an unlock, a refusal and a checkout, from the same run.

import { join } from 'node:path';
import { formatEther } from 'ethers';
import jsQRModule from 'jsqr';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded, embeddedHost, lanAddress, startEmbedded } from '../agent/embedded.js';
import { decodeState } from '../agent/mqtt/topics.js';
import { narrate, qrText, settlementOf } from '../agent/terminal.js';
import type { Guest } from '../guest/client.js';
import { receiptOf } from '../guest/client.js';
import { actWhenLive, embeddedSetup, guestOf, ok, ROOT, settled, testLog, waitFor } from './system.js';

const address = lanAddress();
if (!address) {
  if (process.env.CI === 'true')
    throw new Error('LAN mode test: this machine has no non-internal IPv4 address');
  console.warn('skipping LAN mode tests: no non-internal IPv4 address on this machine');
}

// jsqr is CommonJS with a default export in its types: under NodeNext the function is `.default`.
type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsQR = ((jsQRModule as unknown as { default?: Decode }).default ?? jsQRModule) as Decode;

/** Renders the half-block QR text as RGBA pixels (4 px a module) and decodes it. */
function decodeQr(text: string): string | undefined {
  const rows = text.split('\n').filter((l) => l.length > 0);
  const width = Math.max(...rows.map((r) => [...r].length));
  const scale = 4;
  const w = width * scale;
  const h = rows.length * 2 * scale;
  const data = new Uint8ClampedArray(w * h * 4).fill(255);
  rows.forEach((row, y) => {
    [...row].forEach((ch, x) => {
      const top = ch === '█' || ch === '▀';
      const bottom = ch === '█' || ch === '▄';
      for (const [dark, half] of [
        [top, 0],
        [bottom, 1],
      ] as const) {
        if (!dark) continue;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) {
            const px = ((y * 2 + half) * scale + dy) * w + x * scale + dx;
            data.fill(0, px * 4, px * 4 + 3);
          }
      }
    });
  });
  return jsQR(data, w, h)?.data;
}

describe.skipIf(!address)('LAN mode', () => {
  let e: Embedded;
  let guest: Guest;
  const lines: string[] = [];
  let stopNarrating: () => void;

  beforeAll(async () => {
    e = await startEmbedded({
      log: testLog,
      host: address as string,
      blockTime: 0,
      staticDir: join(ROOT, 'guest', 'public'),
      configOverrides: (c) => ({ ...c, chain: { ...c.chain, pollMs: 100 } }),
    });
    stopNarrating = narrate(e.agent, {
      write: (l) => lines.push(l),
      settlement: (id) => settlementOf(e.contract, id),
    });
    const account = e.guests[0];
    if (!account) throw new Error('no guest account');
    guest = await guestOf(account, embeddedSetup(e));
  }, 60_000);

  afterAll(async () => {
    stopNarrating?.();
    await e?.stop();
  });

  it('serves the page and /api/info on the LAN address, with the broker WebSocket there', async () => {
    expect(e.httpUrl).toMatch(new RegExp(`^http://${address?.replaceAll('.', '\\.')}:\\d+$`));
    const page = await fetch(`${e.httpUrl}/d/1`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const info = (await (await fetch(`${e.httpUrl}/api/info`)).json()) as Record<string, string>;
    expect(new URL(info.mqttWsUrl as string).hostname).toBe(address);
    expect(info.mqttUsername).toBe('guest');
    // A token POST from the page served on the LAN address passes the Origin guard (and reaches the
    // gate, which finds it malformed).
    const post = await fetch(`${e.httpUrl}/api/devices/1/access`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: e.httpUrl },
      body: '{}',
    });
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('malformed');

    // The guest logs in to the broker through the LAN address and reads the lock's retained state.
    const clientId = `latchkey-guest-${Math.random().toString(16).slice(2, 10)}`;
    const client = await mqtt.connectAsync(info.mqttWsUrl as string, {
      clientId,
      username: info.mqttUsername as string,
      password: info.mqttPassword as string,
      reconnectPeriod: 0,
    });
    try {
      const state = new Promise<Buffer>((resolve) => client.on('message', (_t, p) => resolve(p)));
      await client.subscribeAsync(`latchkey/${info.gatewayId}/1/state`);
      expect(decodeState(await state).kind).toBe('lock');
    } finally {
      await client.endAsync();
    }
    // Without the password the broker refuses.
    await expect(
      mqtt.connectAsync(info.mqttWsUrl as string, {
        clientId: `${clientId}x`,
        username: 'guest',
        password: 'wrong',
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow();
  });

  it('prints a QR code that decodes to the sticker URL', async () => {
    const url = `${e.httpUrl}/d/2`;
    expect(decodeQr(await qrText(url))).toBe(url);
  });

  it('narrates a rental, an unlock, a refusal and a checkout with its refund', async () => {
    const { rental } = await guest.rent(1n, 3600);
    ok(await actWhenLive(guest, rental, 'unlock', 'http'), 'unlock');
    // A lock does not switch power: refused, with the reason.
    const refused = await guest.act(rental, 'on', 'http');
    expect(refused.status).toBe('error');
    const reply = await guest.act(rental, 'checkout', 'http');
    ok(reply, 'checkout');
    const signed = receiptOf(reply);
    const onChain = await settled(e.anvil.provider, e.contractAddress, rental.id, 30_000);
    await waitFor(() => lines.some((l) => l.includes('settled')), 'the settlement line', 30_000);
    const text = lines.join('\n');
    expect(text).toContain(`lock 1: rental ${rental.id} by 0x`);
    expect(text).toContain(`deposit ${formatEther(rental.deposit)} ETH`);
    expect(text).toContain(`lock 1: unlocked for rental ${rental.id} (via LAN HTTP)`);
    expect(text).toMatch(/lock 1: refused \([a-z-]+\) .+/);
    expect(text).toContain(
      `lock 1: checked out rental ${rental.id}, ${signed?.receipt.secondsUsed} s and 0 Wh used, receipt signed`,
    );
    const price = DEMO_PRICES.lock.pricePerSecond;
    expect(onChain.charge).toBeLessThanOrEqual(price * 3600n);
    expect(text).toContain(
      `lock 1: rental ${rental.id} settled, charged ${formatEther(onChain.charge)} ETH, refunded ${formatEther(onChain.refund)} ETH (tx ${onChain.txHash})`,
    );
    // Short human lines, not JSON.
    for (const l of lines) expect(l).not.toMatch(/^\s*\{/);
  }, 60_000);

  it("shows a socket's energy during the rental on the state topic and over HTTP, in on/off words", async () => {
    const info = (await (await fetch(`${e.httpUrl}/api/info`)).json()) as Record<string, string>;
    const { rental } = await guest.rent(2n, 3600);
    ok(await actWhenLive(guest, rental, 'on', 'http'), 'power on');
    const client = await mqtt.connectAsync(info.mqttWsUrl as string, {
      clientId: `latchkey-guest-${Math.random().toString(16).slice(2, 10)}`,
      username: info.mqttUsername as string,
      password: info.mqttPassword as string,
      reconnectPeriod: 0,
    });
    try {
      const seen: ReturnType<typeof decodeState>[] = [];
      client.on('message', (_t, p) => seen.push(decodeState(p)));
      await client.subscribeAsync(`latchkey/${info.gatewayId}/2/state`);
      await waitFor(() => seen.some((m) => m.status === 'on'), 'the socket on, retained');
      // What the socket's meter reports reaches the controller as it does from a real meter.
      e.agent.controllers.get(2n)?.reportEnergy(3);
      const live = await waitFor(
        () => seen.find((m) => m.energyWh === 3 && m.rentalId === rental.id.toString()),
        'the energy on the state topic',
      );
      expect(live).toMatchObject({ kind: 'socket', relay: 'closed', status: 'on' });
      const http = (await (await fetch(`${e.httpUrl}/api/devices/2`)).json()) as {
        data: { status: string; energyWh: number };
      };
      expect(http.data).toMatchObject({ status: 'on', energyWh: 3 });
      ok(await guest.act(rental, 'off', 'http'), 'power off');
      await waitFor(() => seen.at(-1)?.status === 'off', 'the socket off');
    } finally {
      await client.endAsync();
    }
  }, 60_000);
});

describe('lanAddress', () => {
  const lo = { address: '127.0.0.1', netmask: '255.0.0.0', mac: '00:00:00:00:00:00', cidr: null };
  it('takes the first non-internal IPv4 address, and none when there is none', () => {
    const v6 = { ...lo, address: 'fe80::1', family: 'IPv6' as const, internal: false, scopeid: 2 };
    expect(
      lanAddress({
        lo: [{ ...lo, family: 'IPv4', internal: true }],
        wlan0: [v6, { ...lo, address: '192.168.1.20', family: 'IPv4', internal: false }],
        eth1: [{ ...lo, address: '10.0.0.5', family: 'IPv4', internal: false }],
      }),
    ).toBe('192.168.1.20');
    expect(lanAddress({ lo: [{ ...lo, family: 'IPv4', internal: true }], wlan0: [v6] })).toBeUndefined();
  });
});

describe('embeddedHost', () => {
  const none = () => undefined;
  const found = () => '192.168.1.20';
  it('is loopback without --lan, the LAN address with it, and the given one with --lan-address', () => {
    expect(embeddedHost([], found)).toBe('127.0.0.1');
    expect(embeddedHost(['--lan'], found)).toBe('192.168.1.20');
    expect(embeddedHost(['--lan', '--lan-address', '10.0.0.5'], found)).toBe('10.0.0.5');
    expect(embeddedHost(['--lan-address=10.0.0.6'], none)).toBe('10.0.0.6');
  });
  it('says so when there is no LAN address, and refuses what it does not understand', () => {
    expect(() => embeddedHost(['--lan'], none)).toThrow(/no LAN address.*--lan-address/);
    expect(() => embeddedHost(['--lna'], found)).toThrow(/not understood: --lna/);
    expect(() => embeddedHost(['--lan', '--lan-address'], found)).toThrow(/without an address/);
  });
});
