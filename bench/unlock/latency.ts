// The latency phase of the unlock benchmark: sequential unlock/lock cycles against an agent in this
// process, publish → relay closed, with where the time goes (broker hop, durable commits).

import type { SimRelay } from '../../hardware/sim.js';
import type { BenchClient } from './client.js';
import { type Pair, runCycles } from './cycle.js';
import { type PhaseDiagnostics, tailOf, watchPhase } from './diag.js';
import type { Probe } from './probe.js';
import { round, type Summary, summarize } from './stats.js';

/** Cycles before measuring: JIT, SQLite page cache, MQTT connections settle. */
export const WARMUP = 50;

export interface LatencyResult {
  broker: string;
  measured: Summary;
  /** Publish → access handler (broker hop + MQTT client + bus). */
  toHandler: Summary;
  /** Store commits before the relay closes: per unlock and their total time. */
  commitsPerUnlock: number;
  commitMsBeforeSwitch: Summary;
  cyclesPerSecond: number;
  /** Event-loop delay, GC pauses and the slowest cycles, over the measured cycles. */
  diagnostics: PhaseDiagnostics;
  raw: number[];
}

export async function latencyPhase(
  broker: string,
  client: BenchClient,
  deviceId: bigint,
  pairs: Pair[],
  relay: SimRelay,
  probe: Probe,
): Promise<LatencyResult> {
  const t0 = performance.now();
  const warm = await runCycles(client, deviceId, pairs.slice(0, WARMUP), relay, probe);
  const watch = watchPhase();
  const measured = await runCycles(client, deviceId, pairs.slice(WARMUP), relay, probe);
  const seen = watch.stop();
  const wall = performance.now() - t0;
  const diagnostics: PhaseDiagnostics = {
    ...seen,
    tail: tailOf(
      measured.map((c) => ({ start: c.start, end: c.start + c.ms, commitMs: c.commitMs ?? 0 })),
      watch.gcPauses,
    ),
  };
  const ms = measured.map((c) => c.ms);
  const commits = measured.reduce((a, c) => a + (c.commits ?? 0), 0);
  return {
    broker,
    measured: summarize(ms),
    toHandler: summarize(measured.map((c) => c.toHandlerMs ?? Number.NaN)),
    commitsPerUnlock: round(commits / measured.length, 2),
    commitMsBeforeSwitch: summarize(measured.map((c) => c.commitMs ?? Number.NaN)),
    cyclesPerSecond: round(((warm.length + measured.length) / wall) * 1000, 1),
    diagnostics,
    raw: ms.map((v) => round(v)),
  };
}
