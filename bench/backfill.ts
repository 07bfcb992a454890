// Backfill benchmark: the agent's chain watcher catching up on a backlog of 10,000 rental events of one
// gateway's devices (Rented, with some Extended, Cancelled and Settled) on a real anvil, from the
// deployment block with the production defaults, into a fresh SQLite store. Twice: straight to anvil, and
// through a node that refuses eth_getLogs ranges wider than 500 blocks (the chunk must shrink). Measures
// catch-up time, throughput, RPC calls and chunk sizes, memory of the watcher's own process and the
// SQLite size; checks the store holds exactly the planned rentals. Prints a table, writes
// bench/results/backfill.json; exits 1 when the store is wrong, never on a number.
// Run: npm run bench:backfill  (BENCH_EVENTS=n changes the 10,000 events)

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcProxy } from '../agent/chain/test/proxy.js';
import { DEFAULTS } from '../agent/config.js';
import { assertContractsBuilt } from '../contracts/buildCheck.js';
import { addressOfPrivateKey } from '../contracts/eip712.js';
import { CHILD_NODE_ARGS, catchUp } from './backfill/catchUp.js';
import {
  ANVIL_ARGS,
  type BenchChain,
  DEPOSIT_FACTOR,
  PRICE_PER_SECOND,
  startBenchChain,
} from './backfill/chain.js';
import { checkStore } from './backfill/check.js';
import { type Backlog, planBacklog } from './backfill/plan.js';
import { GAP_BLOCKS, QUIET_BLOCKS, type SentBacklog, sendBacklog, TXS_PER_BLOCK } from './backfill/send.js';
import { mb, printTable, type Results, type RunResult, round, spans } from './backfill/table.js';
import { machineFacts, positiveIntEnv } from './env.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'backfill.json');

interface Sizes {
  events: number;
  /** Devices of the gateway; each takes at most ~2,000 events so its bookings stay within 25 days ahead. */
  devices: number;
  /** Rented events on another gateway's device, which the watcher's filter must leave out. */
  foreignEvents: number;
}

function sizes(): Sizes {
  const events = positiveIntEnv('BENCH_EVENTS', 10_000);
  return { events, devices: Math.max(8, Math.ceil(events / 2_000)), foreignEvents: Math.round(events / 10) };
}
const MAX_LOG_RANGE = 500;
const CATCH_UP_TIMEOUT_MS = 300_000;
const SEED = 37;

async function main(): Promise<number> {
  const started = performance.now();
  const step = (what: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${what}\n`);
  const size = sizes();
  assertContractsBuilt();
  const loadBefore = os.loadavg();
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    step(`anvil + contract, ${size.devices} devices of the gateway and 1 of another`);
    const chain = await startBenchChain(size.devices, 1);
    cleanups.push(() => chain.anvil.stop());
    const latest = await chain.anvil.provider.getBlock('latest');
    if (!latest) throw new Error('anvil has no latest block');
    const backlog = planBacklog({
      events: size.events,
      deviceIds: chain.deviceIds,
      guests: chain.guests.map((g) => g.address),
      foreign: {
        deviceIds: chain.foreignDeviceIds,
        events: size.foreignEvents,
        signer: chain.otherGateway.toLowerCase(),
      },
      signer: addressOfPrivateKey(chain.gatewayKey).toLowerCase(),
      // Bookings start two hours ahead, on a minute (the devices' calendar slot) so that back-to-back
      // bookings hold no common slot: every rental is still before its start while the backlog is
      // sent, so cancel and checkout work on any of them.
      firstStart: BigInt(Math.ceil((latest.timestamp + 7_200) / 60) * 60),
      pricePerSecond: PRICE_PER_SECOND,
      depositFactor: DEPOSIT_FACTOR,
      seed: SEED,
    });
    step(`signing and sending ${size.events + size.foreignEvents} transactions`);
    const sent = await sendBacklog(chain, backlog);
    step(`backlog on chain: ${sent.transactions} transactions, head ${sent.head}`);

    const confirmations = DEFAULTS.chain.confirmations;
    const expectCursor = sent.head - confirmations;
    const runs: RunResult[] = [];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-backfill-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const run = async (name: string, node: string, rpcUrl: string, db: string) => {
      step(`catch-up: ${name}`);
      const dbPath = path.join(dir, db);
      const { result, logs } = await catchUp(
        {
          rpcUrl,
          contract: chain.address,
          deviceIds: chain.deviceIds.map(String),
          dbPath,
          startBlock: chain.deployBlock,
          chunkSize: DEFAULTS.chain.chunkSize,
          confirmations,
          pollMs: DEFAULTS.chain.pollMs,
          expectCursor,
          timeoutMs: CATCH_UP_TIMEOUT_MS,
        },
        ROOT,
      );
      const check = checkStore(dbPath, backlog.rentals, expectCursor);
      runs.push(toRun(name, node, result, logs, check, size.events, chain, expectCursor));
    };

    await run('straight to anvil', 'anvil', chain.anvil.url, 'direct.db');
    const proxy = await new RpcProxy(chain.anvil.url).start();
    cleanups.push(() => proxy.stop());
    proxy.maxLogRange = MAX_LOG_RANGE;
    await run(
      `node refusing > ${MAX_LOG_RANGE} blocks`,
      `anvil behind a JSON-RPC proxy in the bench process that answers eth_getLogs over more than ${MAX_LOG_RANGE} blocks with "query returned more than 10000 results" (agent/chain/test/proxy.ts); every request takes one more local HTTP hop`,
      proxy.url,
      'limited.db',
    );
    const head = Number(await chain.anvil.provider.send('eth_blockNumber', []));
    if (head !== sent.head) throw new Error(`the head moved during the catch-ups (${sent.head} → ${head})`);

    const results: Results = {
      ...machineFacts(loadBefore),
      runSeconds: 0,
      setup: setupOf(size, chain, backlog, sent, confirmations),
      runs,
      correct: runs.every((r) => r.correct),
    };
    results.runSeconds = round((performance.now() - started) / 1000, 1);
    mkdirSync(path.dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    printTable(results);
    process.stdout.write(`\nwritten: ${path.relative(ROOT, RESULTS)} (${results.runSeconds} s)\n`);
    if (!results.correct) {
      process.stderr.write(
        'the store does not match the planned backlog: the numbers above measure a wrong result\n',
      );
      return 1;
    }
    return 0;
  } finally {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {}
    }
  }
}

function toRun(
  name: string,
  node: string,
  w: Awaited<ReturnType<typeof catchUp>>['result'],
  logs: string[],
  check: ReturnType<typeof checkStore>,
  events: number,
  chain: BenchChain,
  expectCursor: number,
): RunResult {
  const seconds = w.catchUpMs / 1000;
  const applied = w.notices.rental + w.notices.closed + w.notices.revoked;
  const problems = [...check.problems];
  if (applied !== events) problems.push(`the watcher announced ${applied} changes, expected ${events}`);
  if (w.notices.revoked !== 0) problems.push(`${w.notices.revoked} rentals revoked without a reorg`);
  const s = spans(w.getLogs);
  const blocks = expectCursor - chain.deployBlock + 1;
  return {
    name,
    node,
    catchUpSeconds: round(seconds, 2),
    polls: w.polls,
    eventsApplied: applied,
    eventsPerSecond: round(applied / seconds, 0),
    blocksScanned: blocks,
    blocksPerSecond: round(blocks / seconds, 0),
    getLogs: {
      calls: w.getLogs.length,
      refused: w.getLogs.filter((c) => !c.ok).length,
      answeredSpans: s.answered,
      refusedSpans: s.refused,
      maxLogsInOneCall: Math.max(0, ...w.getLogs.map((c) => c.logs)),
    },
    requests: w.requests,
    rpcSeconds: round(w.rpcMs / 1000, 2),
    storeTx: { count: w.storeTx.count, seconds: round(w.storeTx.ms / 1000, 2) },
    memory: {
      measures: `the watcher's own process (node ${CHILD_NODE_ARGS.join(' ')} bench/backfill/watch.ts): ChainWatcher + Store + the tsx loader, not the bench process (ethers, signed transactions, proxy); process.memoryUsage() every 50 ms; before = modules loaded and the store open`,
      before: mem(w.memory.before),
      peak: mem(w.memory.peak),
      after: mem(w.memory.after),
      afterGc: mem(w.memory.afterGc),
      vmHwmMB: w.memory.vmHwmBytes === undefined ? null : mb(w.memory.vmHwmBytes),
      samples: w.memory.samples,
      sampleMs: 50,
    },
    sqlite: {
      fileMB: mb(check.fileBytes),
      rentals: check.rentals,
      byStatus: check.byStatus,
      windowRows: check.windowRows,
    },
    logLines: w.logLines,
    logWarnings: logs.filter((l) => /"level":"(warn|error)"/.test(l)).slice(0, 10),
    correct: problems.length === 0,
    problems,
  };
}

const mem = (m: { rssBytes: number; heapUsedBytes: number }) => ({
  rssMB: mb(m.rssBytes),
  heapUsedMB: mb(m.heapUsedBytes),
});

function setupOf(size: Sizes, chain: BenchChain, backlog: Backlog, sent: SentBacklog, confirmations: number) {
  return {
    events: size.events,
    eventsByKind: backlog.events,
    rentals: backlog.rentals.size,
    devices: chain.deviceIds.length,
    guests: 'one guest account per device (its transactions keep their nonce order)',
    foreignEvents: `${size.foreignEvents} Rented events on a device of another gateway, left out by the topic filter`,
    blocks: sent.blocks,
    head: sent.head,
    deployBlock: chain.deployBlock,
    layout: `${QUIET_BLOCKS.toLocaleString('en-US')} quiet blocks, then ${sent.eventBlocks} blocks of ~${TXS_PER_BLOCK} transactions each followed by ${GAP_BLOCKS} empty blocks`,
    transactions: sent.transactions,
    signSeconds: round(sent.signSeconds, 1),
    sendSeconds: round(sent.sendSeconds, 1),
    anvil: `anvil ${ANVIL_ARGS.join(' ')} (see bench/backfill/chain.ts for why), automine off while the backlog is sent`,
    watcher: {
      from: 'the deployment block, fresh store (no cursor)',
      chunkSize: DEFAULTS.chain.chunkSize,
      confirmations,
      pollMs: DEFAULTS.chain.pollMs,
      log: 'info, JSON lines to stderr (the agent default)',
    },
    rentalsAtStart:
      'every booking starts ≥ 2 h after the backlog was sent: cancels and checkouts are before the start (checkout charges 0)',
    seed: SEED,
  };
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(
      `bench:backfill failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
