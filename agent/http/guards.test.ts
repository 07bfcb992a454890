// The LAN HTTP server's guards, against the real server driven by real HTTP clients: Host and Origin
// checks, JSON-only token POSTs, loopback-only metrics, a minimal /health for the LAN, malformed
// URLs, timeouts and the connection cap.

import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import type { ReplyEnvelope } from '../mqtt/topics.js';
import { type HttpOptions, HttpServer } from './server.js';

const calls: string[] = [];
const logLines: string[] = [];

function serverWith(options: Partial<HttpOptions> = {}) {
  return new HttpServer(
    { host: '127.0.0.1', port: 0, staticDir: undefined, names: ['gateway.lan'], ...options },
    {
      async access(_deviceId, body): Promise<ReplyEnvelope> {
        calls.push(body.toString());
        return { status: 'ok', data: {} };
      },
      device: () => ({ relay: 'open' }),
      info: () => ({ chainId: '31337' }),
      health: () => ({ ok: true, devices: [{ rentalId: '42', leaseEndsAt: 1 }] }),
      metrics: () => 'latchkey_up 1\n',
    },
    createLogger('http', { write: (l) => logLines.push(l) }),
  );
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const token = JSON.stringify({ access: {}, signature: '0x' });
const json = { 'content-type': 'application/json' };

describe('LAN HTTP guards', () => {
  const server = serverWith();
  let port = 0;
  beforeAll(async () => {
    await server.start();
    port = server.port;
  });
  afterAll(() => server.stop());

  it('takes a token POST only as application/json, from the same origin or from a non-browser client', async () => {
    calls.length = 0;
    const ok = await send(port, '/api/devices/1/access', { method: 'POST', headers: json, body: token });
    expect(ok.status).toBe(200);
    const sameOrigin = await send(port, '/api/devices/1/access', {
      method: 'POST',
      headers: { ...json, host: `gateway.lan:${port}`, origin: `http://gateway.lan:${port}` },
      body: token,
    });
    expect(sameOrigin.status).toBe(200);
    expect(calls).toHaveLength(2);

    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const r = await send(port, '/api/devices/1/access', {
        method: 'POST',
        headers: { 'content-type': type },
        body: token,
      });
      expect(r.status, type).toBe(415);
    }
    expect((await send(port, '/api/devices/1/access', { method: 'POST', body: token })).status).toBe(415);
    const foreign = await send(port, '/api/devices/1/access', {
      method: 'POST',
      headers: { ...json, origin: 'https://evil.example' },
      body: token,
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await send(port, '/api/devices/1/access', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    // none of the refused requests reached the access gate (so none counts towards a lockout)
    expect(calls).toHaveLength(2);
  });

  it('answers only to its own names and addresses (DNS rebinding)', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `gateway.lan:${port}`, `GATEWAY.LAN`]) {
      expect((await send(port, '/health', { headers: { host } })).status, host).toBe(200);
    }
    for (const host of ['evil.example', `evil.example:${port}`, 'gateway.lan.evil.example']) {
      const r = await send(port, '/api/info', { headers: { host } });
      expect(r.status, host).toBe(421);
      expect(r.body).not.toContain('31337');
    }
    calls.length = 0;
    await send(port, '/api/devices/1/access', {
      method: 'POST',
      headers: { ...json, host: 'evil.example' },
      body: token,
    });
    expect(calls).toHaveLength(0);
  });

  it('serves /metrics and the full /health on loopback only; the LAN gets whether it serves', async () => {
    expect((await send(port, '/metrics')).body).toContain('latchkey_up 1');
    expect(JSON.parse((await send(port, '/health')).body)).toMatchObject({ devices: [{ rentalId: '42' }] });
  });

  it('answers a malformed URL with 400 and no error log line', async () => {
    logLines.length = 0;
    for (const path of ['/%E0%A4%A', '/d/%zz', '/api/devices/%ff']) {
      expect((await send(port, path)).status, path).toBe(400);
    }
    expect(logLines.filter((l) => l.includes('"level":"error"') || l.startsWith('error'))).toEqual([]);
  });
});

describe('LAN HTTP to a client that is not trusted', () => {
  // Trusted (metrics, full health) are loopback clients by default; here only 127.0.0.1, and the client
  // connects from 127.0.0.2, as a phone on the LAN would from its own address.
  const server = serverWith({ trusted: ['127.0.0.1'] });
  let port = 0;
  beforeAll(async () => {
    await server.start();
    port = server.port;
  });
  afterAll(() => server.stop());

  it('refuses /metrics and tells /health as serving or not only', async () => {
    const from = { localAddress: '127.0.0.2' };
    expect((await send(port, '/metrics', from)).status).toBe(403);
    expect(
      (await send(port, '/metrics', { ...from, headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(403);
    expect(JSON.parse((await send(port, '/health', from)).body)).toEqual({ ok: true });
    expect((await send(port, '/metrics')).status).toBe(200);
  });

  it('serves /metrics to a client with the metrics token', async () => {
    const withToken = serverWith({ trusted: ['127.0.0.1'], metricsToken: 'scrape-secret-0123456789' });
    await withToken.start();
    try {
      const r = await send(withToken.port, '/metrics', {
        localAddress: '127.0.0.2',
        headers: { authorization: 'Bearer scrape-secret-0123456789' },
      });
      expect(r.body).toContain('latchkey_up 1');
    } finally {
      await withToken.stop();
    }
  });
});

describe('LAN HTTP connection limits', () => {
  const server = serverWith({ limits: { headersMs: 300, requestMs: 600, idleMs: 300, maxConnections: 4 } });
  let port = 0;
  beforeAll(async () => {
    await server.start();
    port = server.port;
  });
  afterAll(() => server.stop());

  const open = async (): Promise<Socket> => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume(); // read what the server sends, so its closing is seen
    await once(s, 'connect');
    return s;
  };

  it('closes connections that send nothing, send headers slowly, or idle after a response', async () => {
    const silent = await open();
    const slow = await open();
    slow.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // never finishes its headers
    const idle = await open();
    idle.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const slowBody = await open();
    slowBody.write(
      `POST /api/devices/1/access HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
    );
    await Promise.all([silent, slow, idle, slowBody].map((s) => once(s, 'close')));
  });

  it('caps the number of open connections and serves again when they close', async () => {
    const held = await Promise.all([open(), open(), open(), open()]);
    const extra = await open();
    await once(extra, 'close'); // over the cap: closed at once
    for (const s of held) s.destroy();
    // The server counts a connection as gone once it has seen it close: retry until it has.
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = await send(port, '/health').then(
        (r) => r.status,
        () => new Promise<number>((resolve) => setTimeout(() => resolve(0), 100)),
      );
    }
    expect(status).toBe(200);
  });
});
