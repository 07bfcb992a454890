// The flood phase of the unlock benchmark: invalid tokens from a child process at a fixed rate while
// valid unlock/lock tokens arrive open-loop, with the agent's pace, CPU and the valid tokens' latency.

import { fork } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { bytesToHex } from '../../contracts/eip712.js';
import type { SimRelay } from '../../hardware/sim.js';
import { type BenchClient, ReplyTimeout } from './client.js';
import { type Pair, refusal } from './cycle.js';
import {
  FLOOD_MIX,
  type FloodMix,
  type FloodPlan,
  type FloodReport,
  SESSION_FLOOD_MIX,
} from './floodPlan.js';
import type { Probe, ValidTrack } from './probe.js';
import { round } from './stats.js';
import type { BenchToken } from './tokens.js';
import { sleepUntil, withTimeout } from './wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FLOOD_SCRIPT = path.join(ROOT, 'bench', 'unlock', 'flood.ts');

/**
 * One valid token every 20 ms: 500 measured unlocks (and their 500 relocks) over the 20 s flood. Not
 * denser: each valid token costs the agent a synchronous commit (an fsync), and 100 of them a second
 * would be the run's own load on the agent rather than a guest's.
 */
export const FLOOD = { rate: 1000, durationMs: 20_000, maxDrainMs: 6_000, validGapMs: 20 };
/** Valid unlock/lock pairs sent during a flood (one token every validGapMs). */
export const FLOOD_PAIRS = FLOOD.durationMs / (2 * FLOOD.validGapMs);

export interface FloodResult {
  target: string;
  plan: { rate: number; durationMs: number; mix: FloodMix };
  sent: number;
  achievedRate: number;
  /** The agent's replies to flood tokens, counted by a separate MQTT connection of the flood process. */
  replies: {
    expected: number;
    duringFlood: number;
    total: number;
    perSecondDuringFlood: number;
    lastAfterFloodMs: number;
    unansweredAtStop: number;
    perSecond: number[];
  };
  /** In-process only: answers the access handler produced (the agent's real pace), per second. */
  handled?: {
    pacePerSecond: number | null;
    total: number;
    /** When the last answer was produced, counted from the flood's last token. */
    lastAfterFloodMs: number | null;
    perSecond: number[];
    /**
     * Answers produced back to back (less than BURST_GAP_MS apart): the size of the burst the median
     * answer was part of, and the largest. A valid token that arrives with a burst waits for the
     * forged tokens ahead of it in the burst.
     */
    bursts: { medianAnswerInBurstOf: number; largest: number };
  };
  /** What the agent answered from the flood start until the end of the phase, by outcome. */
  outcomes: Record<string, number> | null;
  /** Flood tokens that cost a signature check: a recovery (wallet), a P-256 verify (session). */
  reachedRecovery: number | null;
  cpu: {
    /** From 'go' until this process noticed the flood's last token (late when this process is the busy agent). */
    duringFloodPercentOfOneCore: number;
    untilEndPercentOfOneCore: number;
    /**
     * CPU time per token the agent answered (any outcome, from its own counters), from the flood's start
     * to the final count: less sensitive to other load on the machine than the share of a core.
     */
    msPerAnsweredToken: number | null;
    measuredOn: string;
  };
  /** GET /health on the agent's LAN HTTP port, sent halfway through the flood; null: no answer in the phase. */
  httpHealthMidFloodMs: number | null;
  /** Durable store commits during the flood (in-process agent only). */
  storeCommits?: { count: number; totalMs: number };
  /** Lines of the broker log that mention dropped messages. */
  brokerDrops: string[];
  valid: {
    sending: string;
    measures: string;
    sent: number;
    answered: number;
    /** Percentiles over all sent valid unlocks; null where the rank falls on one not done in time. */
    p50: number | null;
    p99: number | null;
    max: number | null;
    /** Per unlock: publish → relay closed / → handler / → reply (ms; null: not within the phase). */
    toSwitch: (number | null)[];
    toHandler: (number | null)[];
    toReply: (number | null)[];
  };
}

interface FloodProcess {
  go(): void;
  published: Promise<void>;
  done: Promise<FloodReport>;
}

async function startFlood(plan: FloodPlan): Promise<FloodProcess> {
  const child = fork(FLOOD_SCRIPT, [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const deferred = <T>() => {
    let resolve: (v: T) => void = () => {};
    let reject: (e: Error) => void = () => {};
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    return { promise, resolve, reject };
  };
  const ready = deferred<void>();
  const published = deferred<void>();
  const done = deferred<FloodReport>();
  child.on('message', (m: unknown) => {
    if (m === 'ready') ready.resolve();
    else if ((m as { type?: string }).type === 'published') published.resolve();
    else done.resolve(m as FloodReport);
  });
  child.once('exit', (code) => {
    const e = new Error(`flood process exited with ${code} before reporting`);
    for (const d of [ready, published, done]) d.reject(e);
  });
  child.send(plan);
  await ready.promise;
  return { go: () => child.send('go'), published: published.promise, done: done.promise };
}

function parseAccessTotals(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^latchkey_access_total\{outcome="([^"]+)"\} (\d+)$/gm))
    out[m[1] as string] = Number(m[2]);
  return out;
}

/** Answers closer together than this belong to one burst (an answer costs the agent ~0.1–0.4 ms). */
const BURST_GAP_MS = 0.5;

function burstsOf(times: readonly number[]): { medianAnswerInBurstOf: number; largest: number } {
  const sizes: number[] = [];
  let n = 0;
  for (let i = 0; i < times.length; i++) {
    n++;
    const next = times[i + 1];
    if (next === undefined || next - (times[i] as number) >= BURST_GAP_MS) {
      sizes.push(n);
      n = 0;
    }
  }
  // Each answer weighs once: sort the bursts by size and walk to the answer in the middle.
  sizes.sort((a, b) => a - b);
  let seen = 0;
  let median = 0;
  for (const size of sizes) {
    seen += size;
    if (seen >= times.length / 2) {
      median = size;
      break;
    }
  }
  return { medianAnswerInBurstOf: median, largest: sizes.at(-1) ?? 0 };
}

/** Nearest-rank percentile where null (not done in time) ranks above every number. */
export function censoredPercentile(values: (number | null)[], q: number): number | null {
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const v = sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1];
  return v === undefined || !Number.isFinite(v) ? null : round(v);
}

const since = (t: number | null | undefined, t0: number) =>
  t === undefined || t === null ? null : round(t - t0);

/**
 * Floods the agent with invalid tokens from a child process while valid unlock/lock tokens arrive
 * open-loop (one every FLOOD.validGapMs, whatever the agent's backlog, like guests at the door).
 */
export async function floodPhase(opts: {
  target: string;
  url: string;
  gatewayId: string;
  deviceId: bigint;
  rentalId: bigint;
  /** The device and rental the flood attacks (another guest's); the valid tokens use deviceId. */
  floodDeviceId: bigint;
  floodRentalId: bigint;
  floodAction: 'unlock' | 'on';
  /** What the flood forges (default 'wallet': the FLOOD_MIX of wallet tokens and junk). */
  scheme?: 'wallet' | 'session';
  separator: Uint8Array;
  wrongKey: string;
  client: BenchClient;
  pairs: Pair[];
  httpUrl: string;
  relay?: SimRelay;
  probe?: Probe;
  cpuMs: () => number;
  cpuMeasuredOn: string;
  metrics: () => Promise<string>;
  brokerLog: () => string;
}): Promise<FloodResult> {
  const { client, deviceId, relay, probe, pairs } = opts;
  const flood = await startFlood({
    url: opts.url,
    topic: `latchkey/${opts.gatewayId}/${opts.floodDeviceId}/access`,
    rentalId: opts.floodRentalId.toString(),
    action: opts.floodAction,
    separator: bytesToHex(opts.separator),
    wrongKey: opts.wrongKey,
    rate: FLOOD.rate,
    durationMs: FLOOD.durationMs,
    maxDrainMs: FLOOD.maxDrainMs,
    scheme: opts.scheme ?? 'wallet',
  });
  await client.prepare(deviceId, pairs.flat());
  const tracks: ValidTrack[] = [];
  if (probe) {
    probe.valid.clear();
    probe.awaitingClose.length = 0;
  }
  const onSwitch = (s: { closed: boolean }) => {
    const v = s.closed ? probe?.awaitingClose.shift() : undefined;
    if (v) v.switched = performance.now();
  };
  relay?.on('switch', onSwitch);
  const brokerLogFrom = opts.brokerLog().length;
  const before = parseAccessTotals(await opts.metrics());
  const commitsFrom = probe?.commits.length ?? 0;
  const answeredFrom = probe?.answered.length ?? 0;
  const cpu0 = opts.cpuMs();
  const t0 = performance.now();
  const deadline = t0 + FLOOD.durationMs + FLOOD.maxDrainMs + 1_000;
  let publishedAt: { t: number; cpu: number; commits: number } | undefined;
  void flood.published.then(() => {
    publishedAt = { t: performance.now(), cpu: opts.cpuMs(), commits: probe?.commits.length ?? 0 };
  });
  flood.go();
  let httpHealthMidFloodMs: number | null = null;
  const health = sleep(FLOOD.durationMs / 2).then(async () => {
    const t = performance.now();
    try {
      const res = await fetch(`${opts.httpUrl}/health`, {
        signal: AbortSignal.timeout(FLOOD.durationMs + FLOOD.maxDrainMs),
      });
      await res.text();
      httpHealthMidFloodMs = round(performance.now() - t, 1);
    } catch {}
  });

  const settled: Promise<unknown>[] = [];
  const faults: unknown[] = [];
  const send = (token: BenchToken, track?: ValidTrack) => {
    const p = client.send(deviceId, token, deadline - performance.now()).then(
      (reply) => {
        if (reply.status !== 'ok') throw refusal(token.access.action, reply);
        if (track) track.reply = performance.now();
      },
      (e: unknown) => {
        if (!(e instanceof ReplyTimeout)) throw e;
        if (track) track.reply = null;
      },
    );
    // A refused valid token fails the run, even if it is answered after the phase stopped waiting.
    settled.push(
      p.catch((e: unknown) => {
        faults.push(e);
      }),
    );
  };
  for (let k = 0; k < pairs.length; k++) {
    const [unlock, lock] = pairs[k] as Pair;
    await sleepUntil(t0 + 2 * k * FLOOD.validGapMs);
    const track: ValidTrack = { sent: performance.now() };
    tracks.push(track);
    probe?.valid.set(unlock.id, track);
    send(unlock, track);
    await sleepUntil(t0 + (2 * k + 1) * FLOOD.validGapMs);
    send(lock);
  }
  const report = await flood.done;
  const cpuEnd = opts.cpuMs();
  const tEnd = performance.now();
  await Promise.race([Promise.all(settled), sleepUntil(deadline)]);
  if (faults.length > 0) throw faults[0];
  await health;
  relay?.off('switch', onSwitch);
  probe?.valid.clear();
  client.release(deviceId, pairs.flat());
  let outcomes: Record<string, number> | null = null;
  let cpuAtOutcomes = cpuEnd;
  try {
    const after = parseAccessTotals(await withTimeout(opts.metrics(), 15_000, 'metrics'));
    cpuAtOutcomes = opts.cpuMs();
    outcomes = {};
    for (const [k, v] of Object.entries(after))
      if (v - (before[k] ?? 0) > 0) outcomes[k] = v - (before[k] ?? 0);
  } catch {}

  const end = publishedAt ?? { t: tEnd, cpu: cpuEnd, commits: probe?.commits.length ?? 0 };
  const toSwitch = tracks.map((v) => since(v.switched, v.sent));
  const toReply = tracks.map((v) => since(v.reply, v.sent));
  const primary = relay ? toSwitch : toReply;
  const commits = probe?.commits.slice(commitsFrom, end.commits) ?? [];
  let handled: FloodResult['handled'];
  if (probe) {
    const times = probe.answered.slice(answeredFrom);
    const perSecond: number[] = [];
    for (const t of times) {
      const s = Math.floor((t - t0) / 1000);
      perSecond[s] = (perSecond[s] ?? 0) + 1;
    }
    // The pace: answers per second over the whole seconds between the first and the last one.
    const full = perSecond.slice(1, -1);
    handled = {
      bursts: burstsOf(times),
      pacePerSecond: full.length ? Math.round(full.reduce((a, n) => a + (n ?? 0), 0) / full.length) : null,
      total: times.length,
      lastAfterFloodMs: times.length ? Math.round((times.at(-1) as number) - t0 - report.elapsedMs) : null,
      perSecond: Array.from(perSecond, (n) => n ?? 0),
    };
  }
  const answeredTotal = outcomes ? Object.values(outcomes).reduce((a, n) => a + n, 0) : 0;
  return {
    target: opts.target,
    plan: {
      rate: FLOOD.rate,
      durationMs: FLOOD.durationMs,
      mix: opts.scheme === 'session' ? SESSION_FLOOD_MIX : FLOOD_MIX,
    },
    sent: report.sent,
    achievedRate: Math.round((report.sent / report.elapsedMs) * 1000),
    replies: {
      expected: report.expectedReplies,
      duringFlood: report.repliesDuringFlood,
      total: report.replies,
      perSecondDuringFlood: Math.round((report.repliesDuringFlood / report.elapsedMs) * 1000),
      lastAfterFloodMs: report.lastReplyAfterFloodMs,
      unansweredAtStop: report.unansweredAtStop,
      perSecond: report.repliesPerSecond,
    },
    ...(handled ? { handled } : {}),
    outcomes,
    reachedRecovery: outcomes ? (outcomes['not-renter'] ?? 0) + (outcomes['bad-signature'] ?? 0) : null,
    cpu: {
      duringFloodPercentOfOneCore: round(((end.cpu - cpu0) / (end.t - t0)) * 100, 1),
      untilEndPercentOfOneCore: round(((cpuEnd - cpu0) / (tEnd - t0)) * 100, 1),
      msPerAnsweredToken: answeredTotal ? round((cpuAtOutcomes - cpu0) / answeredTotal, 3) : null,
      measuredOn: opts.cpuMeasuredOn,
    },
    httpHealthMidFloodMs,
    ...(probe
      ? {
          storeCommits: {
            count: commits.length,
            totalMs: round(
              commits.reduce((a, c) => a + c.ms, 0),
              1,
            ),
          },
        }
      : {}),
    brokerDrops: opts
      .brokerLog()
      .slice(brokerLogFrom)
      .split('\n')
      .filter((l) => /drop/i.test(l))
      .slice(0, 5),
    valid: {
      sending: `${pairs.length} unlock + ${pairs.length} lock tokens, one every ${FLOOD.validGapMs} ms, open-loop`,
      measures: relay ? 'publish → relay closed' : 'publish → reply received',
      sent: pairs.length,
      answered: primary.filter((v) => v !== null).length,
      p50: censoredPercentile(primary, 0.5),
      p99: censoredPercentile(primary, 0.99),
      max: censoredPercentile(primary, 1),
      toSwitch,
      toHandler: tracks.map((v) => since(v.entered, v.sent)),
      toReply,
    },
  };
}
