// Where a latency phase's tail goes, seen from inside the benchmark process: the event loop's delay
// (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and every GC pause (PerformanceObserver 'gc'),
// and which of the slowest cycles overlapped a GC pause or spent most of their time in store commits.

import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { round } from './stats.js';

export interface PhaseDiagnostics {
  /** Event-loop delay over the phase (ms): how long a ready callback waited for the loop. */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** GC pauses over the phase. */
  gc: { count: number; totalMs: number; maxMs: number };
  /** The slowest 1 % of cycles (at least 1): how many overlapped a GC pause, and how much of their
   *  time was spent in store commits (median share). */
  tail: { n: number; fromMs: number; overlappingGc: number; commitShareMedian: number };
}

export interface Watch {
  /** GC pauses so far, as [start, end] in performance.now() ms. */
  gcPauses: [number, number][];
  stop(): { eventLoopDelay: PhaseDiagnostics['eventLoopDelay']; gc: PhaseDiagnostics['gc'] };
}

export function watchPhase(): Watch {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const gcPauses: [number, number][] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push([e.startTime, e.startTime + e.duration]);
  });
  obs.observe({ entryTypes: ['gc'] });
  return {
    gcPauses,
    stop() {
      h.disable();
      obs.disconnect();
      const ns = (v: number) => round(v / 1e6);
      const durations = gcPauses.map(([a, b]) => b - a);
      return {
        eventLoopDelay: { p50: ns(h.percentile(50)), p99: ns(h.percentile(99)), max: ns(h.max) },
        gc: {
          count: durations.length,
          totalMs: round(durations.reduce((a, b) => a + b, 0)),
          maxMs: round(Math.max(0, ...durations)),
        },
      };
    },
  };
}

/** The slowest 1 % of `cycles` ([start, end] ms with their commit time) against the GC pauses. */
export function tailOf(
  cycles: readonly { start: number; end: number; commitMs: number }[],
  gcPauses: readonly [number, number][],
): PhaseDiagnostics['tail'] {
  const n = Math.max(1, Math.ceil(cycles.length / 100));
  const slowest = [...cycles].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, n);
  const overlappingGc = slowest.filter((c) => gcPauses.some(([a, b]) => a < c.end && b > c.start)).length;
  const shares = slowest.map((c) => c.commitMs / (c.end - c.start)).sort((a, b) => a - b);
  const last = slowest.at(-1);
  return {
    n,
    fromMs: last ? round(last.end - last.start) : Number.NaN,
    overlappingGc,
    commitShareMedian: round(shares[Math.floor(shares.length / 2)] ?? Number.NaN, 2),
  };
}
