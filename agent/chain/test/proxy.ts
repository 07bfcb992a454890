// A small JSON-RPC proxy in front of anvil for fault tests: it records requests and can answer 429,
// hang, hide the newest blocks (a lagging or stuck node), refuse wide eth_getLogs ranges or rewrite answers.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** '429': HTTP 429; 'rpc-limit': HTTP 200 with a JSON-RPC rate-limit error, as Infura answers. */
export type ProxyMode = 'pass' | '429' | 'rpc-limit' | 'hang';

interface Request {
  jsonrpc: '2.0';
  id: unknown;
  method: string;
  params?: unknown[];
}

export class RpcProxy {
  mode: ProxyMode = 'pass';
  /** Blocks above this head are hidden, as on a node that is behind or stuck; from the real head. */
  headCap: ((realHead: number) => number) | undefined;
  /** Added before every answer, to stretch a backfill out. */
  delayMs = 0;
  /** Requests for these methods get no answer (the caller's timeout or a kill ends them). */
  readonly hangMethods = new Set<string>();
  /** A method's successful result is replaced by what its function returns (a node that lies). */
  readonly rewrite = new Map<string, (result: unknown, params: unknown[]) => unknown>();
  /** eth_getLogs over more blocks than this fails like a node's result limit. */
  maxLogRange: number | undefined;
  /** Every request that reached the proxy, in order. */
  readonly requests: { method: string; params: unknown[] }[] = [];
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The block ranges of the eth_getLogs calls seen so far. */
  logRanges(): { from: number; to: number }[] {
    return this.requests
      .filter((r) => r.method === 'eth_getLogs')
      .map((r) => {
        const f = r.params[0] as { fromBlock: string; toBlock: string };
        return { from: Number(f.fromBlock), to: Number(f.toBlock) };
      });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Request;
    this.requests.push({ method: body.method, params: body.params ?? [] });
    if (this.mode === '429') {
      res.writeHead(429, { 'content-type': 'text/plain' }).end('Too Many Requests');
      return;
    }
    if (this.mode === 'rpc-limit') {
      const error = { code: -32005, message: 'daily request count exceeded, request rate limited' };
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: body.id, error }));
      return;
    }
    if (this.mode === 'hang' || this.hangMethods.has(body.method)) {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const reply = (await this.answer(body)) as { result?: unknown };
    const rewrite = this.rewrite.get(body.method);
    if (rewrite && 'result' in reply) reply.result = rewrite(reply.result, body.params ?? []);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  }

  private async answer(body: Request): Promise<unknown> {
    const params = body.params ?? [];
    if (body.method === 'eth_getLogs' && this.maxLogRange !== undefined) {
      const f = params[0] as { fromBlock: string; toBlock: string };
      if (Number(f.toBlock) - Number(f.fromBlock) + 1 > this.maxLogRange)
        return {
          jsonrpc: '2.0',
          id: body.id,
          error: { code: -32005, message: 'query returned more than 10000 results' },
        };
    }
    if (!this.headCap) return this.forward(body);
    const real = Number(
      ((await this.forward({ ...body, method: 'eth_blockNumber', params: [] })) as { result: string }).result,
    );
    const head = Math.min(real, this.headCap(real));
    const hex = `0x${head.toString(16)}`;
    switch (body.method) {
      case 'eth_blockNumber':
        return { jsonrpc: '2.0', id: body.id, result: hex };
      case 'eth_getBlockByNumber': {
        const tag = params[0] as string;
        if (tag === 'latest' || tag === 'pending') return this.forward({ ...body, params: [hex, params[1]] });
        if (tag.startsWith('0x') && Number(tag) > head) return { jsonrpc: '2.0', id: body.id, result: null };
        return this.forward(body);
      }
      case 'eth_getLogs': {
        const f = params[0] as { fromBlock: string; toBlock: string };
        if (Number(f.fromBlock) > head) return { jsonrpc: '2.0', id: body.id, result: [] };
        const to = Math.min(Number(f.toBlock), head);
        return this.forward({ ...body, params: [{ ...f, toBlock: `0x${to.toString(16)}` }] });
      }
      default:
        return this.forward(body);
    }
  }

  private async forward(body: Request): Promise<unknown> {
    const res = await fetch(this.target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.json();
  }
}

/** A URL on which nothing listens (a port that was just free). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
