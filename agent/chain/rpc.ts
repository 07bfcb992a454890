// A JSON-RPC client over several HTTP endpoints: one is used until it fails (network error, timeout,
// HTTP 429/5xx, rate-limit reply), then the next. No quorum: the watcher checks what it is told itself.

import { LatchkeyError } from '../errors.js';
import { type Logger, redact } from '../log.js';

export interface RpcClientOptions {
  urls: string[];
  /** Per-request timeout; a slow endpoint counts as a failed one. */
  timeoutMs?: number;
  log: Logger;
}

/** A JSON-RPC error object returned by a node (the request reached it and it answered). */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown,
    readonly url: string,
  ) {
    super(message);
  }
}

export type RpcReply = { result: unknown } | { error: { code: number; message: string; data?: unknown } };

interface JsonRpcResponse {
  jsonrpc?: string;
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown; data?: unknown };
}

// Providers phrase rate limiting in many ways (Infura -32005, Alchemy 429, public nodes plain text).
const RATE_LIMITED = /rate.?limit|too many requests|request limit|exceeded .*(quota|capacity|requests)/i;

/** Why an endpoint was skipped; carried as the cause of CHAIN_UNAVAILABLE. */
class EndpointFailure extends Error {
  override readonly name = 'EndpointFailure';
}

export class RpcClient {
  private readonly urls: string[];
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private index = 0;
  private nextId = 1;

  constructor(options: RpcClientOptions) {
    if (!Array.isArray(options.urls) || options.urls.length === 0)
      throw new LatchkeyError('CONFIG_INVALID', 'rpc: at least one RPC URL is required');
    for (const url of options.urls) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new LatchkeyError('CONFIG_INVALID', `rpc: not a URL: ${url}`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw new LatchkeyError('CONFIG_INVALID', `rpc: only http(s) URLs are supported: ${url}`);
    }
    this.urls = [...options.urls];
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.log = options.log;
  }

  /** The endpoint requests go to now. */
  get url(): string {
    return this.urls[this.index]!;
  }

  /** Moves to the next endpoint (e.g. its head looks stale); a no-op with one URL. */
  rotate(reason: string): void {
    if (this.urls.length < 2) return;
    const from = this.url;
    this.index = (this.index + 1) % this.urls.length;
    this.log.warn('switching RPC endpoint', { from: redact(from), to: redact(this.url), reason });
  }

  /** How many endpoints there are. */
  get size(): number {
    return this.urls.length;
  }

  /** The result of `method`; throws RpcError for a node's error reply, CHAIN_UNAVAILABLE if all endpoints fail. */
  async call<T = unknown>(method: string, params: unknown[]): Promise<T> {
    const reply = await this.request(method, params);
    if ('error' in reply)
      throw new RpcError(reply.error.code, reply.error.message, reply.error.data, this.url);
    return reply.result as T;
  }

  /** The raw reply (result or error object); tries each endpoint once, starting with the current one. */
  async request(method: string, params: unknown[] | Record<string, unknown>): Promise<RpcReply> {
    const failures: string[] = [];
    for (let tried = 0; tried < this.urls.length; tried++) {
      const url = this.url;
      try {
        const reply = await this.post(url, method, params);
        if (tried > 0) this.log.warn('RPC endpoint failed over', { to: redact(url), failures });
        return reply;
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        failures.push(`${redact(url)}: ${reason}`);
        this.index = (this.index + 1) % this.urls.length;
      }
    }
    throw new LatchkeyError('CHAIN_UNAVAILABLE', `every RPC endpoint failed for ${method}`, {
      details: failures.join('\n'),
    });
  }

  private async post(
    url: string,
    method: string,
    params: unknown[] | Record<string, unknown>,
  ): Promise<RpcReply> {
    const id = this.nextId++;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      if (err.name === 'TimeoutError') throw new EndpointFailure(`timed out after ${this.timeoutMs} ms`);
      throw new EndpointFailure(err.cause?.code ?? err.message);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new EndpointFailure(`HTTP ${response.status}`);
    }
    let body: JsonRpcResponse;
    try {
      body = (await response.json()) as JsonRpcResponse;
    } catch {
      throw new EndpointFailure('reply is not JSON');
    }
    if (body === null || typeof body !== 'object')
      throw new EndpointFailure('reply is not a JSON-RPC object');
    if (body.error !== undefined && body.error !== null) {
      const code = typeof body.error.code === 'number' ? body.error.code : -32603;
      const message = typeof body.error.message === 'string' ? body.error.message : 'unknown error';
      if (code === 429 || RATE_LIMITED.test(message)) throw new EndpointFailure(`rate limited: ${message}`);
      return { error: { code, message, data: body.error.data } };
    }
    if (!('result' in body)) throw new EndpointFailure('reply has neither result nor error');
    return { result: body.result };
  }
}
