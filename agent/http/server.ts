// The gateway's LAN HTTP server: the guest page, health, Prometheus metrics and a POST endpoint
// for access tokens, so a paid guest on the gateway's Wi-Fi can unlock while the internet is down.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.js';
import type { ReplyEnvelope } from '../mqtt/topics.js';
import {
  applyLimits,
  DEFAULT_LIMITS,
  decodePath,
  type HttpLimits,
  type Refusal,
  RequestGuard,
} from './guards.js';

export interface HttpHandlers {
  /** Verifies and acts on an access token for a device; the body is the raw wire token. */
  access(deviceId: bigint, body: Buffer, source: string): Promise<ReplyEnvelope>;
  /** The device's current state, or undefined for a device this gateway does not drive. */
  device(deviceId: bigint): unknown;
  /** Public facts the guest page needs: chain, contract, devices, broker URL. */
  info(): unknown;
  health(): { ok: boolean } & Record<string, unknown>;
  metrics(): string;
}

export interface HttpOptions {
  host: string;
  port: number;
  /** Folder of static files served at / (the guest page); none when undefined. */
  staticDir: string | undefined;
  maxBodyBytes?: number;
  /** Names the gateway is reached by besides its addresses and hostname (checked against Host). */
  names?: readonly string[];
  /** Client addresses that may read /metrics and the full /health; default loopback. */
  trusted?: readonly string[];
  /** Bearer token that opens /metrics to other clients (a Prometheus on the LAN). */
  metricsToken?: string | undefined;
  /** Timeouts and the connection cap; DEFAULT_LIMITS where not given. */
  limits?: Partial<HttpLimits>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Headers of the guest page's files: no other site may frame the page (a framed page could be clicked
 * through into a wallet prompt), files are never sniffed into another type, and the gateway's address
 * is not sent to the wallet sites the no-wallet links open. No script-src: wallets inject their
 * providers into the page, and some in-app browsers do it as inline scripts.
 */
const PAGE_HEADERS = {
  'content-security-policy': "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** HTTP status for a refused token: client mistakes are 400, refusals 403, lockouts 429. */
function statusOf(e: ReplyEnvelope): number {
  if (e.status === 'ok') return 200;
  if (e.error.code === 'malformed' || e.error.code === 'too-large') return 400;
  if (e.error.code === 'rate-limited') return 429;
  if (e.error.code === 'unknown-device') return 404;
  if (e.error.code === 'unavailable' || e.error.code === 'relay-failed' || e.error.code === 'device-offline')
    return 503;
  return 403;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        // Stop buffering; the rest is drained and dropped, and the connection closed after the 413.
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseDeviceId(s: string | undefined): bigint | undefined {
  return s !== undefined && /^[1-9][0-9]{0,30}$/.test(s) ? BigInt(s) : undefined;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function refuse(res: ServerResponse, r: Refusal): void {
  json(res, r.status, { status: 'error', error: { code: r.code, message: r.message } });
}

export class HttpServer {
  private server: Server | undefined;
  private guard: RequestGuard | undefined;

  constructor(
    private readonly options: HttpOptions,
    private readonly handlers: HttpHandlers,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const limits = { ...DEFAULT_LIMITS, ...this.options.limits };
    this.guard = new RequestGuard(this.options);
    // Node checks the header and request timeouts every connectionsCheckingInterval (30 s by default).
    const checkEveryMs = Math.min(1_000, limits.headersMs);
    const server = createServer({ connectionsCheckingInterval: checkEveryMs }, (req, res) => {
      this.route(req, res).catch((e: unknown) => {
        this.log.error('request failed', { url: req.url, error: e });
        if (!res.headersSent)
          json(res, 500, { status: 'error', error: { code: 'internal', message: 'internal error' } });
        else res.destroy();
      });
    });
    applyLimits(server, limits);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.options.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const guard = this.guard as RequestGuard;
    const decoded = decodePath(req.url);
    if (!decoded) return refuse(res, { status: 400, code: 'bad-url', message: 'the URL does not decode' });
    const wrongHost = guard.checkHost(req);
    if (wrongHost) return refuse(res, wrongHost);
    const path = decoded.raw;
    const method = req.method ?? 'GET';
    // No CORS: a foreign page's preflight is refused, so its browser never sends the request.
    if (method === 'OPTIONS')
      return refuse(res, { status: 403, code: 'wrong-origin', message: 'cross-origin requests are refused' });
    if (method === 'GET' && path === '/health') {
      const h = this.handlers.health();
      // The LAN learns whether the gateway serves; rentals, relays and the clock are for this machine.
      return json(res, h.ok ? 200 : 503, guard.isTrusted(req) ? h : { ok: h.ok });
    }
    if (method === 'GET' && path === '/metrics') {
      if (!guard.mayReadMetrics(req))
        return refuse(res, { status: 403, code: 'forbidden', message: 'metrics are for this machine' });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.handlers.metrics());
      return;
    }
    if (method === 'GET' && path === '/api/info') return json(res, 200, this.handlers.info());
    const m = /^\/api\/devices\/([^/]+)(\/access)?$/.exec(path);
    if (m) {
      const deviceId = parseDeviceId(m[1]);
      if (deviceId === undefined) {
        return json(res, 404, {
          status: 'error',
          error: { code: 'unknown-device', message: 'no such device' },
        });
      }
      if (m[2] && method === 'POST') return this.access(req, res, deviceId);
      if (!m[2] && method === 'GET') {
        const state = this.handlers.device(deviceId);
        if (state === undefined) {
          return json(res, 404, {
            status: 'error',
            error: { code: 'unknown-device', message: `device ${deviceId} is not on this gateway` },
          });
        }
        return json(res, 200, { status: 'ok', data: state });
      }
      return json(res, 405, {
        status: 'error',
        error: { code: 'method-not-allowed', message: `${method} not allowed here` },
      });
    }
    if (method === 'GET' || method === 'HEAD') return this.serveStatic(decoded.decoded, res);
    return json(res, 405, {
      status: 'error',
      error: { code: 'method-not-allowed', message: `${method} not allowed here` },
    });
  }

  private async access(req: IncomingMessage, res: ServerResponse, deviceId: bigint): Promise<void> {
    // Checked before the gate sees the token: a refused request never counts towards a lockout.
    const refused = (this.guard as RequestGuard).checkWrite(req);
    if (refused) {
      res.setHeader('connection', 'close');
      return refuse(res, refused);
    }
    let body: Buffer;
    try {
      body = await readBody(req, this.options.maxBodyBytes ?? 4096);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        res.setHeader('connection', 'close');
        return json(res, 413, {
          status: 'error',
          error: { code: 'too-large', message: 'token payload too large' },
        });
      }
      throw e;
    }
    const source = `http:${req.socket.remoteAddress ?? 'unknown'}`;
    const envelope = await this.handlers.access(deviceId, body, source);
    json(res, statusOf(envelope), envelope);
  }

  /** `path` is already percent-decoded. */
  private async serveStatic(path: string, res: ServerResponse): Promise<void> {
    const root = this.options.staticDir;
    const notFound = () =>
      json(res, 404, { status: 'error', error: { code: 'not-found', message: 'not found' } });
    if (!root) return notFound();
    const rel = normalize(path === '/' ? '/index.html' : path);
    const file = join(root, rel);
    if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return notFound();
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      // Device pages (/d/<id>) are served by the single-page guest app.
      if (rel.startsWith(`${sep}d${sep}`)) return this.serveStatic('/index.html', res);
      return notFound();
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
      ...PAGE_HEADERS,
    });
    // pipeline, not pipe: a read error (the file removed or unreadable after stat) must end this
    // response, not surface as an unhandled 'error' event that takes the agent down.
    await pipeline(createReadStream(file), res).catch((e: unknown) => {
      this.log.warn('static file not served', { file: rel, error: e });
      res.destroy();
    });
  }
}
