// The hot-path table of the unlock benchmark: session-token unlock latency measured once per change to
// the unlock path, one change at a time, each row a run of `BENCH_HOTPATH=<label> npm run bench:unlock`
// on the tree with that change (rows of the same label are replaced), beside the physical floor.
// Kept in bench/results/unlock-hotpath.json and printed by every full run too.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { LatencyResult } from './latency.js';
import { round, type Summary } from './stats.js';
import type { Targets } from './table.js';
import { alignedLines, type TextTable } from './textTable.js';

export interface HotPathFloor {
  measures: string;
  mqttRoundTrip: { aedes: Summary; mosquitto: Summary };
  commit: Summary;
}

interface BrokerRow {
  p50: number;
  p99: number;
  max: number;
  toHandlerP50: number;
  commitsPerUnlock: number;
  commitP50: number;
  commitP99: number;
  eventLoopDelayP99: number;
  gcCount: number;
  gcMaxMs: number;
  /** Of the slowest 1 %: how many overlapped a GC pause; their median share of time in commits. */
  tailOverlappingGc: string;
  tailCommitShare: number;
}

export interface HotPathRow {
  label: string;
  date: string;
  loadBefore: number;
  n: number;
  aedes: BrokerRow;
  mosquitto: BrokerRow;
  floor: HotPathFloor;
}

function brokerRow(l: LatencyResult): BrokerRow {
  const d = l.diagnostics;
  return {
    p50: l.measured.p50,
    p99: l.measured.p99,
    max: l.measured.max,
    toHandlerP50: l.toHandler.p50,
    commitsPerUnlock: l.commitsPerUnlock,
    commitP50: l.commitMsBeforeSwitch.p50,
    commitP99: l.commitMsBeforeSwitch.p99,
    eventLoopDelayP99: d.eventLoopDelay.p99,
    gcCount: d.gc.count,
    gcMaxMs: d.gc.maxMs,
    tailOverlappingGc: `${d.tail.overlappingGc}/${d.tail.n}`,
    tailCommitShare: d.tail.commitShareMedian,
  };
}

export function hotPathRow(
  label: string,
  loadBefore: number[],
  latency: { aedes: LatencyResult; mosquitto: LatencyResult },
  floor: HotPathFloor,
): HotPathRow {
  return {
    label,
    date: new Date().toISOString(),
    loadBefore: round(loadBefore[0] ?? Number.NaN, 2),
    n: latency.aedes.measured.n,
    aedes: brokerRow(latency.aedes),
    mosquitto: brokerRow(latency.mosquitto),
    floor,
  };
}

export function readHotPath(file: string): HotPathRow[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { rows: HotPathRow[] }).rows : [];
}

/** Adds `row` (replacing a row of the same label) and writes the file; returns all rows. */
export function appendHotPath(file: string, row: HotPathRow): HotPathRow[] {
  const rows = [...readHotPath(file).filter((r) => r.label !== row.label), row];
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        measures:
          'session-token unlock, publish → relay closed, in-process agent (as the main table), one row per change to the unlock path; load is the 1-minute load average before the run on this shared machine',
        machine: `${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}`,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  return rows;
}

/** The hot-path rows and, under them, the floor measured with the last one. */
export function hotPathTable(rows: readonly HotPathRow[], targets: Targets): TextTable {
  const f = (v: number) => v.toFixed(2);
  const table: string[][] = [
    [
      'hot path, one change at a time',
      'load',
      'broker',
      'p50',
      'p99',
      'max',
      '→handler',
      'commits',
      'commit p50/p99',
      'loop delay p99',
      'GC n/max',
      'slowest 1%: GC, commit share',
    ],
  ];
  for (const r of rows)
    for (const [name, b] of [
      ['aedes', r.aedes],
      ['Mosquitto', r.mosquitto],
    ] as const)
      table.push([
        name === 'aedes' ? r.label : '',
        name === 'aedes' ? f(r.loadBefore) : '',
        name,
        f(b.p50),
        f(b.p99),
        f(b.max),
        f(b.toHandlerP50),
        String(b.commitsPerUnlock),
        `${f(b.commitP50)}/${f(b.commitP99)}`,
        f(b.eventLoopDelayP99),
        `${b.gcCount}/${f(b.gcMaxMs)}`,
        `${b.tailOverlappingGc}, ${b.tailCommitShare}`,
      ]);
  const last = rows.at(-1);
  if (last) {
    const { mqttRoundTrip, commit } = last.floor;
    for (const [name, rtt] of [
      ['aedes', mqttRoundTrip.aedes],
      ['Mosquitto', mqttRoundTrip.mosquitto],
    ] as const)
      table.push([
        name === 'aedes' ? `floor (with "${last.label}")` : '',
        '',
        name,
        f(rtt.p50 + commit.p50),
        f(rtt.p99 + commit.p99),
        '',
        `rtt ${f(rtt.p50)}/${f(rtt.p99)}`,
        '1',
        `${f(commit.p50)}/${f(commit.p99)}`,
      ]);
  }
  return {
    title: `Session-token unlock (ms; targets p50 ≤ ${targets.sessionP50Ms}, p99 ≤ ${targets.sessionP99Ms}); floor = MQTT round trip + one commit, p50 and p99 summed`,
    rows: table,
  };
}

export function printHotPath(rows: readonly HotPathRow[], targets: Targets): void {
  if (rows.length === 0) return;
  const t = hotPathTable(rows, targets);
  process.stdout.write(`\n${t.title}\n\n${alignedLines(t.rows).join('\n')}\n`);
}
