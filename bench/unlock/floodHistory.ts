// The flood rows of every full run, kept across runs: a valid unlock's p99 under a flood moves with the
// rest of the machine's load (two cores shared with the broker, the flood and anything else running),
// so one run is one sample. `npm run bench:unlock` appends its run and prints the spread.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { FloodResult } from './floodPhase.js';
import type { TextTable } from './textTable.js';

/** Runs kept: enough to show the spread, few enough to read. */
const KEEP = 12;

export interface FloodRunRow {
  agent: string;
  flood: 'session' | 'wallet';
  p50: number | null;
  p99: number | null;
  max: number | null;
  targetP99: number;
  cpuPercentOfOneCore: number;
}

export interface FloodRun {
  date: string;
  /** 1-minute load average before and after the run. */
  load: [number, number];
  rows: FloodRunRow[];
}

export function floodRunRows(
  floods: { agent: string; flood: 'session' | 'wallet'; result: FloodResult; targetP99: number }[],
): FloodRunRow[] {
  return floods.map(({ agent, flood, result, targetP99 }) => ({
    agent,
    flood,
    p50: result.valid.p50,
    p99: result.valid.p99,
    max: result.valid.max,
    targetP99,
    cpuPercentOfOneCore: result.cpu.duringFloodPercentOfOneCore,
  }));
}

export function readFloodRuns(file: string): FloodRun[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { runs: FloodRun[] }).runs : [];
}

/** Adds `run`, keeps the last KEEP runs, writes the file; returns them. */
export function appendFloodRun(file: string, run: FloodRun): FloodRun[] {
  const runs = [...readFloodRuns(file), run].slice(-KEEP);
  const doc = {
    measures:
      'the valid unlock during each 20 s flood of bench:unlock, one entry per full run (in-process: publish → relay switched; agent process: publish → reply), ms; load is the 1-minute load average before and after the run',
    runs,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return runs;
}

/** One line per run and flood target: p99 beside its target, and the spread over the runs kept. */
export function floodHistoryTable(runs: readonly FloodRun[]): TextTable {
  const rows: string[][] = [['run', 'load', 'agent', 'flood', 'p50', 'p99', 'target p99', 'verdict']];
  const f = (v: number | null) => (v === null ? 'not in time' : v.toFixed(2));
  for (const run of runs)
    for (const r of run.rows)
      rows.push([
        run.date.slice(0, 16).replace('T', ' '),
        `${run.load[0].toFixed(2)} → ${run.load[1].toFixed(2)}`,
        r.agent,
        r.flood === 'session' ? 'forged session tokens, same rental' : 'bad wallet tokens, another rental',
        f(r.p50),
        f(r.p99),
        String(r.targetP99),
        r.p99 !== null && r.p99 <= r.targetP99 ? 'PASS' : 'MISS',
      ]);
  const session = runs.flatMap((run) => run.rows.filter((r) => r.flood === 'session'));
  const known = session.map((r) => r.p99).filter((v): v is number => v !== null);
  const within = session.filter((r) => r.p99 !== null && r.p99 <= r.targetP99).length;
  const spread = known.length
    ? `; forged-session-token floods: p99 ${Math.min(...known).toFixed(2)}–${Math.max(...known).toFixed(2)} ms, ${within} of ${session.length} within target`
    : '';
  return { title: `Floods by run (last ${runs.length} full runs${spread})`, rows };
}
