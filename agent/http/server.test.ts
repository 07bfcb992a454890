import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import type { ReplyEnvelope } from '../mqtt/topics.js';
import { HttpServer } from './server.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-http-'));
writeFileSync(join(dir, 'index.html'), '<h1>guest</h1>');
// A file that stats as a regular file but fails when read (EIO), as a file on a failing SD card would.
symlinkSync('/proc/self/mem', join(dir, 'unreadable.bin'));
const received: { deviceId: bigint; body: string; source: string }[] = [];
const server = new HttpServer(
  { host: '127.0.0.1', port: 0, staticDir: dir },
  {
    async access(deviceId, body, source): Promise<ReplyEnvelope> {
      received.push({ deviceId, body: body.toString(), source });
      return body.toString() === 'good'
        ? { status: 'ok', data: { relay: 'closed' } }
        : { status: 'error', error: { code: 'nonce-used', message: 'token already used' } };
    },
    device: (id) => (id === 1n ? { deviceId: 1n, relay: 'open' } : undefined),
    info: () => ({ chainId: 31337 }),
    health: () => ({ ok: true }),
    metrics: () => 'latchkey_up 1\n',
  },
  silentLogger,
);
let base = '';
const json = { 'content-type': 'application/json' };

beforeAll(async () => {
  await server.start();
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server.stop());

describe('HttpServer', () => {
  it('serves the guest page at /d/<device>, never to be framed by another site', async () => {
    const res = await fetch(`${base}/d/7`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<h1>guest</h1>');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('passes tokens to the access handler and maps refusals to 403', async () => {
    const ok = await fetch(`${base}/api/devices/1/access`, { method: 'POST', headers: json, body: 'good' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok', data: { relay: 'closed' } });
    const refused = await fetch(`${base}/api/devices/1/access`, {
      method: 'POST',
      headers: json,
      body: 'replayed',
    });
    expect(refused.status).toBe(403);
    expect(received.map((r) => r.body)).toEqual(['good', 'replayed']);
    expect(received[0]?.source).toMatch(/^http:/);
  });

  it('refuses an oversized body without calling the handler', async () => {
    const before = received.length;
    const res = await fetch(`${base}/api/devices/1/access`, {
      method: 'POST',
      headers: json,
      body: 'x'.repeat(100_000),
    });
    expect(res.status).toBe(413);
    expect(received.length).toBe(before);
  });

  it('serves device state, health, metrics and 404s', async () => {
    expect(await (await fetch(`${base}/api/devices/1`)).json()).toEqual({
      status: 'ok',
      data: { deviceId: '1', relay: 'open' },
    });
    expect((await fetch(`${base}/api/devices/2`)).status).toBe(404);
    expect(
      (await fetch(`${base}/api/devices/abc/access`, { method: 'POST', headers: json, body: 'good' })).status,
    ).toBe(404);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('latchkey_up 1');
  });

  it('serves the guest page, also for device links, and never files outside its folder', async () => {
    expect(await (await fetch(`${base}/`)).text()).toContain('guest');
    expect(await (await fetch(`${base}/d/7`)).text()).toContain('guest');
    expect((await fetch(`${base}/..%2f..%2fetc%2fpasswd`)).status).toBe(404);
    expect((await fetch(`${base}/nope.js`)).status).toBe(404);
  });

  it('ends the response of a static file that fails to read, and keeps serving', async () => {
    await expect(fetch(`${base}/unreadable.bin`).then((r) => r.arrayBuffer())).rejects.toThrow();
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect(await (await fetch(`${base}/`)).text()).toBe('<h1>guest</h1>');
  });
});
