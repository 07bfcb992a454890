// What every LAN HTTP request passes before a route sees it: the Host header names this gateway (no
// DNS rebinding), a token POST is JSON from the gateway's own origin (a foreign web page cannot send
// one without a CORS preflight, which is refused), the path decodes, and who counts as trusted for
// /metrics and the full /health. Plus the server's timeouts and connection cap.

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

export interface HttpLimits {
  /** Time for a client to send its request headers. */
  headersMs: number;
  /** Time for the whole request, body included. */
  requestMs: number;
  /** A connection with no request in flight and no bytes moving is closed after this. */
  idleMs: number;
  /** Open connections at most; more are closed at once. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  headersMs: 5_000,
  requestMs: 10_000,
  idleMs: 5_000,
  maxConnections: 64,
};

export interface GuardOptions {
  /** The address the server listens on (0.0.0.0 / :: mean every interface's). */
  host: string;
  /** Extra names the gateway is reached by (e.g. `latchkey.lan`); its hostname and `<hostname>.local` are added. */
  names?: readonly string[];
  /** Client addresses that may read /metrics and the full /health; default loopback. */
  trusted?: readonly string[];
  /** A bearer token that lets any client read /metrics. */
  metricsToken?: string | undefined;
}

export type Refusal = { status: number; code: string; message: string };

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];

function isLoopback(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

function withoutMapping(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** The host part of a Host header or URL authority: lower case, without port and IPv6 brackets. */
function hostOf(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']'));
  const colon = a.lastIndexOf(':');
  return colon >= 0 && a.indexOf(':') === colon ? a.slice(0, colon) : a;
}

export class RequestGuard {
  private readonly hosts = new Set<string>();
  private readonly trusted: ((address: string) => boolean) | Set<string>;
  private readonly metricsToken: Buffer | undefined;

  constructor(options: GuardOptions) {
    const me = hostname().toLowerCase();
    for (const name of [...LOOPBACK, me, `${me}.local`, ...(options.names ?? [])])
      this.hosts.add(hostOf(name));
    const wildcard = options.host === '0.0.0.0' || options.host === '::';
    if (!wildcard) this.hosts.add(hostOf(options.host));
    else
      for (const a of Object.values(networkInterfaces()).flat())
        if (a) this.hosts.add(a.address.toLowerCase().replace(/%.*$/, ''));
    this.trusted = options.trusted ? new Set(options.trusted.map(withoutMapping)) : isLoopback;
    this.metricsToken = options.metricsToken ? Buffer.from(options.metricsToken) : undefined;
  }

  /** Refuses a request whose Host header does not name this gateway (or that has none). */
  checkHost(req: IncomingMessage): Refusal | undefined {
    const host = req.headers.host;
    if (host !== undefined && this.hosts.has(hostOf(host))) return undefined;
    return { status: 421, code: 'wrong-host', message: 'this gateway does not answer to that host name' };
  }

  /**
   * Refuses a state-changing request unless it is JSON and, when a browser sends it, from a page of
   * this gateway: its Origin is this request's own scheme and Host.
   */
  checkWrite(req: IncomingMessage): Refusal | undefined {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) {
      return { status: 403, code: 'wrong-origin', message: 'requests from other web pages are refused' };
    }
    if (req.headers['sec-fetch-site'] === 'cross-site')
      return { status: 403, code: 'wrong-origin', message: 'requests from other web pages are refused' };
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json')
      return { status: 415, code: 'unsupported-media-type', message: 'send the token as application/json' };
    return undefined;
  }

  /** True for a client of this machine (or a configured trusted address). */
  isTrusted(req: IncomingMessage): boolean {
    const address = withoutMapping(req.socket.remoteAddress ?? '');
    return typeof this.trusted === 'function' ? this.trusted(address) : this.trusted.has(address);
  }

  /** Metrics go to trusted clients and to holders of the metrics token. */
  mayReadMetrics(req: IncomingMessage): boolean {
    if (this.isTrusted(req)) return true;
    const auth = req.headers.authorization;
    if (!this.metricsToken || !auth?.startsWith('Bearer ')) return false;
    const given = Buffer.from(auth.slice(7));
    return given.length === this.metricsToken.length && timingSafeEqual(given, this.metricsToken);
  }
}

/** The request path percent-decoded, or undefined when it does not decode (a 400, not an error). */
export function decodePath(url: string | undefined): { raw: string; decoded: string } | undefined {
  let raw: string;
  try {
    raw = new URL(url ?? '/', 'http://gateway').pathname;
  } catch {
    return undefined;
  }
  try {
    return { raw, decoded: decodeURIComponent(raw) };
  } catch {
    return undefined;
  }
}

/** Puts the timeouts and the connection cap on a server, before it listens. */
export function applyLimits(server: Server, limits: HttpLimits): void {
  server.headersTimeout = limits.headersMs;
  server.requestTimeout = limits.requestMs;
  server.keepAliveTimeout = limits.idleMs;
  server.maxConnections = limits.maxConnections;
  // A socket with no bytes moving for idleMs (also one that never sends a request) is destroyed.
  server.setTimeout(limits.idleMs, (socket) => socket.destroy());
}
