// One catch-up of the agent's chain watcher in its own process, so its memory is the watcher's and the
// store's alone (not the bench's ethers, senders and signed transactions): a fresh SQLite store, the
// watcher from the start block until its cursor reaches the expected block, then one JSON line on stdout.
// Counts every JSON-RPC request and times the RPC and store work by wrapping RpcClient.request and
// Store.tx; samples process.memoryUsage() every SAMPLE_MS. argv[2]: WatchArgs as JSON.

import { readFileSync } from 'node:fs';
import { RpcClient, type RpcReply } from '../../agent/chain/rpc.js';
import { ChainWatcher, type Confirmations } from '../../agent/chain/watcher.js';
import { createLogger } from '../../agent/log.js';
import { Store } from '../../agent/store/store.js';

export interface WatchArgs {
  rpcUrl: string;
  contract: string;
  deviceIds: string[];
  dbPath: string;
  startBlock: number;
  chunkSize: number;
  confirmations: number;
  pollMs: number;
  /** The cursor block that means caught up: the head minus the confirmations. */
  expectCursor: number;
  timeoutMs: number;
}

export interface Memory {
  rssBytes: number;
  heapUsedBytes: number;
}

export interface WatchResult {
  catchUpMs: number;
  /** Polls until the cursor reached expectCursor (1 when the first poll took the whole backlog). */
  polls: number;
  cursor: number | undefined;
  notices: { rental: number; closed: number; revoked: number };
  requests: Record<string, number>;
  /** Every eth_getLogs call in order: its block range, whether the node answered, and how many logs. */
  getLogs: { from: number; to: number; ok: boolean; logs: number }[];
  rpcMs: number;
  storeTx: { count: number; ms: number };
  memory: {
    before: Memory;
    after: Memory;
    /** After a full GC once caught up: what the watcher and store keep. */
    afterGc: Memory;
    /** Highest process.memoryUsage() sample during the catch-up. */
    peak: Memory;
    samples: number;
    /** VmHWM of /proc/self/status: the process's peak RSS over its whole life, module loading included. */
    vmHwmBytes: number | undefined;
  };
  logLines: number;
}

const SAMPLE_MS = 50;

function parseArgs(raw: string | undefined): WatchArgs {
  if (!raw) throw new Error('usage: watch.ts <WatchArgs as JSON>');
  return JSON.parse(raw) as WatchArgs;
}

function vmHwm(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const memory = (): Memory => {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
};

async function main(): Promise<WatchResult> {
  const args = parseArgs(process.argv[2]);
  const requests: Record<string, number> = {};
  const getLogs: WatchResult['getLogs'] = [];
  let rpcMs = 0;
  const request = RpcClient.prototype.request;
  RpcClient.prototype.request = async function (this: RpcClient, method, params): Promise<RpcReply> {
    const t0 = performance.now();
    try {
      const reply = await request.call(this, method, params);
      if (method === 'eth_getLogs' && Array.isArray(params)) {
        const filter = params[0] as { fromBlock: string; toBlock: string };
        const ok = 'result' in reply;
        getLogs.push({
          from: Number(filter.fromBlock),
          to: Number(filter.toBlock),
          ok,
          logs: ok && Array.isArray(reply.result) ? reply.result.length : 0,
        });
      }
      return reply;
    } finally {
      rpcMs += performance.now() - t0;
      requests[method] = (requests[method] ?? 0) + 1;
    }
  };
  const storeTx = { count: 0, ms: 0 };
  const tx = Store.prototype.tx;
  Store.prototype.tx = function <T>(this: Store, fn: () => T): T {
    const t0 = performance.now();
    try {
      return tx.call(this, fn) as T;
    } finally {
      storeTx.ms += performance.now() - t0;
      storeTx.count++;
    }
  };

  let logLines = 0;
  // The agent's default level (info), as JSON lines on stderr, as a gateway logs.
  const log = createLogger('latchkey', {
    level: 'info',
    json: true,
    write: (line) => {
      logLines++;
      process.stderr.write(`${line}\n`);
    },
  });
  const store = new Store(args.dbPath);
  store.start();
  const watcher = new ChainWatcher({
    rpcUrls: [args.rpcUrl],
    contract: args.contract,
    deviceIds: args.deviceIds.map((id) => BigInt(id)),
    confirmations: args.confirmations as Confirmations,
    pollMs: args.pollMs,
    chunkSize: args.chunkSize,
    startBlock: args.startBlock,
    store,
    log,
  });
  const notices = { rental: 0, closed: 0, revoked: 0 };
  watcher.on('rental', () => notices.rental++);
  watcher.on('closed', () => notices.closed++);
  watcher.on('revoked', () => notices.revoked++);
  let polls = 0;
  const caughtUp = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `cursor ${watcher.processedBlock} short of ${args.expectCursor} after ${args.timeoutMs} ms`,
          ),
        ),
      args.timeoutMs,
    );
    const check = () => {
      if ((watcher.processedBlock ?? -1) >= args.expectCursor) {
        clearTimeout(timer);
        resolve();
      }
    };
    watcher.on('head', check);
    watcher.on('alarm', (e) => reject(e));
  });
  const poll = watcher.poll.bind(watcher);
  watcher.poll = () => {
    polls++;
    return poll();
  };

  (globalThis as { gc?: () => void }).gc?.();
  const before = memory();
  const peak = { ...before };
  let samples = 0;
  const sampler = setInterval(() => {
    const m = memory();
    samples++;
    peak.rssBytes = Math.max(peak.rssBytes, m.rssBytes);
    peak.heapUsedBytes = Math.max(peak.heapUsedBytes, m.heapUsedBytes);
  }, SAMPLE_MS);

  const t0 = performance.now();
  await watcher.start();
  await caughtUp;
  const catchUpMs = performance.now() - t0;
  clearInterval(sampler);
  const after = memory();
  peak.rssBytes = Math.max(peak.rssBytes, after.rssBytes);
  peak.heapUsedBytes = Math.max(peak.heapUsedBytes, after.heapUsedBytes);
  (globalThis as { gc?: () => void }).gc?.();
  const afterGc = memory();
  const cursor = watcher.processedBlock;
  await watcher.stop();
  store.stop();
  return {
    catchUpMs,
    polls,
    cursor,
    notices,
    requests,
    getLogs,
    rpcMs,
    storeTx,
    memory: { before, after, afterGc, peak, samples, vmHwmBytes: vmHwm() },
    logLines,
  };
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`watch failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
