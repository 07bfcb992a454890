// The backfill benchmark's results as written to bench/results/backfill.json, and the table printed from them.

import type { MachineFacts } from '../env.js';
import type { StoreCheck } from './check.js';
import type { WatchResult } from './watch.js';

export interface MemoryMB {
  rssMB: number;
  heapUsedMB: number;
}

export interface RunResult {
  name: string;
  node: string;
  catchUpSeconds: number;
  polls: number;
  eventsApplied: number;
  eventsPerSecond: number;
  blocksScanned: number;
  blocksPerSecond: number;
  getLogs: {
    calls: number;
    refused: number;
    /** Block span of the answered calls → how many (the last one stops at the confirmed head). */
    answeredSpans: Record<string, number>;
    refusedSpans: Record<string, number>;
    maxLogsInOneCall: number;
  };
  requests: Record<string, number>;
  rpcSeconds: number;
  storeTx: { count: number; seconds: number };
  memory: {
    measures: string;
    before: MemoryMB;
    peak: MemoryMB;
    after: MemoryMB;
    afterGc: MemoryMB;
    vmHwmMB: number | null;
    samples: number;
    sampleMs: number;
  };
  sqlite: {
    fileMB: number;
    rentals: number;
    byStatus: Record<string, number>;
    windowRows: StoreCheck['windowRows'];
  };
  logLines: number;
  /** The watcher's warn and error log lines (the first 10). */
  logWarnings: string[];
  correct: boolean;
  problems: string[];
}

export interface Results extends MachineFacts {
  runSeconds: number;
  setup: Record<string, unknown>;
  runs: RunResult[];
  correct: boolean;
}

const MB = 1024 * 1024;
export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
export const mb = (bytes: number) => round(bytes / MB, 1);

/** Answered and refused eth_getLogs calls by block span. */
export function spans(calls: WatchResult['getLogs']): {
  answered: Record<string, number>;
  refused: Record<string, number>;
} {
  const answered: Record<string, number> = {};
  const refused: Record<string, number> = {};
  for (const c of calls) {
    const into = c.ok ? answered : refused;
    const span = String(c.to - c.from + 1);
    into[span] = (into[span] ?? 0) + 1;
  }
  return { answered, refused };
}

const spanText = (s: Record<string, number>) =>
  Object.entries(s)
    .sort((a, b) => Number(b[0]) - Number(a[0]))
    .map(([span, n]) => `${span}×${n}`)
    .join(', ') || '—';

export function printTable(r: Results): void {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const rows: [string, ...string[]][] = [['', ...r.runs.map((run) => run.name)]];
  const add = (label: string, f: (run: RunResult) => string) => rows.push([label, ...r.runs.map(f)]);
  add('catch-up time', (x) => `${x.catchUpSeconds} s`);
  add('events applied', (x) => fmt(x.eventsApplied));
  add('events / s', (x) => fmt(Math.round(x.eventsPerSecond)));
  add('blocks scanned / s', (x) => fmt(Math.round(x.blocksPerSecond)));
  add('eth_getLogs calls (refused)', (x) => `${x.getLogs.calls} (${x.getLogs.refused})`);
  add('  answered spans', (x) => spanText(x.getLogs.answeredSpans));
  add('  refused spans', (x) => spanText(x.getLogs.refusedSpans));
  add('  most logs in one call', (x) => fmt(x.getLogs.maxLogsInOneCall));
  add('eth_getBlockByNumber calls', (x) => fmt(x.requests.eth_getBlockByNumber ?? 0));
  add('time in RPC / SQLite tx', (x) => `${x.rpcSeconds} s / ${x.storeTx.seconds} s`);
  add(
    'RSS before → peak → after',
    (x) => `${x.memory.before.rssMB} → ${x.memory.peak.rssMB} → ${x.memory.after.rssMB} MB`,
  );
  add(
    'heapUsed before → peak → after',
    (x) => `${x.memory.before.heapUsedMB} → ${x.memory.peak.heapUsedMB} → ${x.memory.after.heapUsedMB} MB`,
  );
  add('heapUsed after GC', (x) => `${x.memory.afterGc.heapUsedMB} MB`);
  add('peak RSS of the process (VmHWM)', (x) => (x.memory.vmHwmMB === null ? '—' : `${x.memory.vmHwmMB} MB`));
  add('SQLite file after', (x) => `${x.sqlite.fileMB} MB`);
  add('store = planned backlog', (x) => (x.correct ? 'yes' : 'NO'));

  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const render = (row: string[]) =>
    `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  const s = r.setup as { events: number; blocks: number; layout: string };
  console.log(
    `\nChain watcher catch-up: ${fmt(s.events)} events over ${fmt(s.blocks)} blocks (${s.layout}); node ${r.node}, ${r.cpu.cores}× ${r.cpu.model}, load ${r.loadAverage.before.join(' ')}\n`,
  );
  const [head, ...body] = rows;
  console.log(render(head!));
  console.log(rule);
  for (const row of body) console.log(render(row));
  console.log(`\nmemory: ${r.runs[0]?.memory.measures ?? ''}`);
  for (const run of r.runs) for (const p of run.problems) console.log(`  ${run.name}: ${p}`);
}
