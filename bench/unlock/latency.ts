// The latency phase of the unlock benchmark: sequential unlock/lock cycles against an agent in this
// process, publish → relay closed, with where the time goes (broker hop, durable commits).

import type { SimRelay } from '../../hardware/sim.js';
import type { BenchClient } from './client.js';
import { type Pair, runCycles } from './cycle.js';
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
  const measured = (await runCycles(client, deviceId, pairs, relay, probe)).slice(WARMUP);
  const wall = performance.now() - t0;
  const ms = measured.map((c) => c.ms);
  const commits = measured.reduce((a, c) => a + (c.commits ?? 0), 0);
  return {
    broker,
    measured: summarize(ms),
    toHandler: summarize(measured.map((c) => c.toHandlerMs ?? Number.NaN)),
    commitsPerUnlock: round(commits / measured.length, 2),
    commitMsBeforeSwitch: summarize(measured.map((c) => c.commitMs ?? Number.NaN)),
    cyclesPerSecond: round((pairs.length / wall) * 1000, 1),
    raw: ms.map((v) => round(v)),
  };
}
