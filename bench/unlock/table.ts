// The unlock benchmark's results as written to bench/results/unlock.json, and the table printed from them.

import type { MachineFacts } from '../env.js';
import { censoredPercentile, type FloodResult } from './floodPhase.js';
import type { HotPathFloor } from './hotpath.js';
import type { LatencyResult } from './latency.js';
import type { Summary } from './stats.js';
import { alignedLines, type TextTable } from './textTable.js';
import type { VerifyResult } from './verify.js';

export interface Targets {
  p50Ms: number;
  p99Ms: number;
  floodP99Ms: number;
  rssMB: number;
  readyMs: number;
  sessionP50Ms: number;
  sessionP99Ms: number;
  sessionFloodP99Ms: number;
}

/** Resident memory split: the process's own (anon) and pages mapped from files (mostly the node binary). */
export interface RssSplit {
  anonMB: number;
  fileMB: number;
}

export interface Results extends MachineFacts {
  runSeconds: number;
  setup: Record<string, string | number>;
  targets: Targets;
  latency: { method: string; aedes: LatencyResult; mosquitto: LatencyResult };
  verify: VerifyResult;
  /** The physical floor: one MQTT round trip through each broker, one commit of an unlock's writes. */
  floor: HotPathFloor;
  flood: { aedes: FloodResult; mosquitto: FloodResult; agentProcess: FloodResult };
  session: {
    method: string;
    latency: { aedes: LatencyResult; mosquitto: LatencyResult };
    flood: { aedes: FloodResult; mosquitto: FloodResult; agentProcess: FloodResult };
  };
  memory: {
    agentProcess: {
      measures: string;
      idleMB: number;
      afterCyclesMB: number;
      afterRunMB: number;
      peakMB: number;
      run: string;
      settledMB: number;
      settledAfterSeconds: number;
      split: { idle: RssSplit; afterRun: RssSplit; settled: RssSplit };
      baseline: { nodeMB: number } & RssSplit;
    };
    benchProcess: {
      measures: string;
      idle: { rssMB: number; heapUsedMB: number };
      afterRun: { rssMB: number; heapUsedMB: number };
    };
  };
  start: {
    coldProcess: {
      measures: string;
      medianStartMs: number;
      runs: { startMs: number; readyAfterSpawnMs: number; onlineAfterSpawnMs: number }[];
    };
    warmInProcess: {
      measures: string;
      medianStartMs: number;
      runs: { startMs: number; metricSeconds: number | undefined; onlineMs: number }[];
    };
  };
  agentProcessReplyLatency: Summary & { measures: string };
  verdicts: Record<string, 'PASS' | 'MISS'>;
  agentErrorLogs: string[];
}

/** The main table: every measure beside its target and verdict. */
export function resultsTable(r: Results): TextTable {
  const TARGETS = r.targets;
  const rows: string[][] = [['measure', 'value', 'target', 'verdict']];
  const ms = (v: number | null) => (v === null ? 'not in time' : `${v.toFixed(2)} ms`);
  const add = (label: string, value: string, target = '', verdict = '') =>
    rows.push([label, value, target, verdict]);
  for (const [key, name] of [
    ['aedes', 'aedes'],
    ['mosquitto', 'Mosquitto'],
  ] as const) {
    const l = r.latency[key];
    add(
      `unlock ${name}: p50 (n=${l.measured.n})`,
      ms(l.measured.p50),
      `≤ ${TARGETS.p50Ms} ms`,
      r.verdicts[`${key}P50`],
    );
    add(`unlock ${name}: p99`, ms(l.measured.p99), `≤ ${TARGETS.p99Ms} ms`, r.verdicts[`${key}P99`]);
    add(`unlock ${name}: max`, ms(l.measured.max));
    add(`  publish → agent handler, p50`, ms(l.toHandler.p50));
    add(
      `  store commits before switch`,
      `${l.commitsPerUnlock}, together p50 ${ms(l.commitMsBeforeSwitch.p50)}`,
    );
    const s = r.session.latency[key];
    add(
      `unlock ${name}, session token: p50 (n=${s.measured.n})`,
      ms(s.measured.p50),
      `≤ ${TARGETS.sessionP50Ms} ms`,
      r.verdicts[`session${name === 'aedes' ? 'Aedes' : 'Mosquitto'}P50`],
    );
    add(
      `unlock ${name}, session token: p99`,
      ms(s.measured.p99),
      `≤ ${TARGETS.sessionP99Ms} ms`,
      r.verdicts[`session${name === 'aedes' ? 'Aedes' : 'Mosquitto'}P99`],
    );
    const floor =
      s.toHandler.p50 === null || s.commitMsBeforeSwitch.p50 === null
        ? null
        : s.toHandler.p50 + s.commitMsBeforeSwitch.p50;
    add(
      `  floor: publish → handler + commits, p50`,
      `${ms(floor)} (${ms(s.toHandler.p50)} + ${s.commitsPerUnlock} commits ${ms(s.commitMsBeforeSwitch.p50)})`,
    );
    const d = s.diagnostics;
    add(
      `  loop delay p99 / GC pauses / slowest 1 %`,
      `${ms(d.eventLoopDelay.p99)} / ${d.gc.count}, max ${ms(d.gc.maxMs)} / ${d.tail.n} from ${ms(d.tail.fromMs)}: ${d.tail.overlappingGc} overlap GC, median ${Math.round(d.tail.commitShareMedian * 100)} % in commits`,
    );
    const rtt = r.floor.mqttRoundTrip[key];
    add(
      `  physical floor: MQTT round trip + one commit, p50 / p99`,
      `${ms(rtt.p50 + r.floor.commit.p50)} / ${ms(rtt.p99 + r.floor.commit.p99)} (rtt ${ms(rtt.p50)} / ${ms(rtt.p99)}, commit ${ms(r.floor.commit.p50)} / ${ms(r.floor.commit.p99)})`,
    );
  }
  const v = r.verify;
  add(
    'verifyAccess, valid tokens',
    `${v.ours.verifyAccess.opsPerSecond} ops/s (${v.ours.verifyAccess.microsPerOp} µs)`,
  );
  add(
    '  parse / digest / recovery / rest',
    `${v.splitMicros.parse} / ${v.splitMicros.digest} / ${v.splitMicros.recovery} / ${v.splitMicros.rest} µs`,
  );
  add(
    'ethers verifyTypedData',
    `${v.ethers.verifyTypedData.opsPerSecond} ops/s (${v.ethers.verifyTypedData.microsPerOp} µs)`,
  );
  add(
    '  TypedDataEncoder.hash / recoverAddress',
    `${v.ethers.typedDataHash.microsPerOp} / ${v.ethers.recoverAddress.microsPerOp} µs`,
  );
  add(
    '  ethers ÷ ours: digest / recovery / full',
    `${v.ratios.digest}× / ${v.ratios.recovery}× / ${v.ratios.full}×`,
  );
  add(
    'verifyAccess, session tokens',
    `${v.session.verifyAccess.opsPerSecond} ops/s (${v.session.verifyAccess.microsPerOp} µs, of which P-256 verify ${v.session.p256Verify.microsPerOp} µs)`,
  );
  add(
    'secp256k1 recovery: @noble/secp256k1 / @noble/curves',
    `${v.secp256k1.nobleSecp256k1.microsPerOp} / ${v.secp256k1.nobleCurves.microsPerOp} µs (curves ${v.secp256k1.curvesVersion} ${v.secp256k1.curvesSpeedup}× as fast)`,
  );
  for (const [label, f, verdict, inProcess] of [
    [
      'session tokens, forged ones at the same rental, aedes',
      r.session.flood.aedes,
      r.verdicts.sessionFloodAedesP99,
      true,
    ],
    [
      'session tokens, forged ones at the same rental, Mosquitto',
      r.session.flood.mosquitto,
      r.verdicts.sessionFloodMosquittoP99,
      true,
    ],
    [
      'session tokens, forged ones at the same rental, Mosquitto, agent process',
      r.session.flood.agentProcess,
      r.verdicts.sessionFloodProcessP99,
      false,
    ],
    ['aedes, agent in-process', r.flood.aedes, r.verdicts.floodAedesP99, true],
    ['Mosquitto, agent in-process', r.flood.mosquitto, r.verdicts.floodMosquittoP99, true],
    ['Mosquitto, agent process', r.flood.agentProcess, r.verdicts.floodProcessP99, false],
  ] as const) {
    add(
      `flood, ${label}: valid p50 / p99`,
      `${ms(f.valid.p50)} / ${ms(f.valid.p99)} (${f.valid.answered}/${f.valid.sent} ${inProcess ? 'switched' : 'answered'} in time; ${inProcess ? 'to switch' : 'to reply'})`,
      `p99 ≤ ${label.startsWith('session') ? TARGETS.sessionFloodP99Ms : TARGETS.floodP99Ms} ms`,
      verdict ?? '',
    );
    add(
      '  flood sent / agent pace',
      `${f.achievedRate}/s${f.handled ? `; agent handled ${f.handled.pacePerSecond}/s, in bursts (median answer in a burst of ${f.handled.bursts.medianAnswerInBurstOf}, largest ${f.handled.bursts.largest})` : ''}; flood replies seen ${f.replies.total}/${f.replies.expected} by +${f.replies.lastAfterFloodMs} ms`,
    );
    add(
      `  CPU (${inProcess ? 'whole bench process' : 'agent process alone'})`,
      `${f.cpu.duringFloodPercentOfOneCore}% of a core; ${f.cpu.msPerAnsweredToken ?? '?'} ms CPU per answer; ${f.reachedRecovery ?? '?'} signature checks${f.storeCommits ? `; ${f.storeCommits.count} commits, ${Math.round(f.storeCommits.totalMs)} ms` : ''}`,
    );
    add(
      '  valid unlock: → handler p50 / → reply p50',
      `${ms(censoredPercentile(f.valid.toHandler, 0.5))} / ${ms(censoredPercentile(f.valid.toReply, 0.5))}; GET /health mid-flood ${f.httpHealthMidFloodMs === null ? 'no answer' : `${f.httpHealthMidFloodMs} ms`}`,
    );
  }
  const m = r.memory;
  add(
    'RSS agent process: idle / after run',
    `${m.agentProcess.idleMB} / ${m.agentProcess.afterRunMB} MB (after cycles ${m.agentProcess.afterCyclesMB}, peak ${m.agentProcess.peakMB})`,
    `≤ ${TARGETS.rssMB} MB`,
    r.verdicts.rss,
  );
  const { idle, afterRun, settled } = m.agentProcess.split;
  add(`  after ${m.agentProcess.settledAfterSeconds} s idle`, `${m.agentProcess.settledMB} MB`);
  add(
    '  of which anon / file-backed: idle; after run; settled',
    `${idle.anonMB} / ${idle.fileMB}; ${afterRun.anonMB} / ${afterRun.fileMB}; ${settled.anonMB} / ${settled.fileMB} MB`,
  );
  const base = m.agentProcess.baseline;
  add('  bare node (same flags): RSS, anon / file', `${base.nodeMB} MB, ${base.anonMB} / ${base.fileMB} MB`);
  add(
    '  bench process RSS (heapUsed): idle / after',
    `${m.benchProcess.idle.rssMB} (${m.benchProcess.idle.heapUsedMB}) / ${m.benchProcess.afterRun.rssMB} (${m.benchProcess.afterRun.heapUsedMB}) MB`,
  );
  add(
    'start → ready, agent process, median of 5',
    `${r.start.coldProcess.medianStartMs} ms [${r.start.coldProcess.runs.map((x) => x.startMs).join(', ')}]`,
    `≤ ${TARGETS.readyMs} ms`,
    r.verdicts.ready,
  );
  add(
    '  spawn → ready / → MQTT online',
    `${r.start.coldProcess.runs.map((x) => `${x.readyAfterSpawnMs}/${x.onlineAfterSpawnMs}`).join(', ')} ms`,
  );
  add(
    '  warm, in-process, median of 5',
    `${r.start.warmInProcess.medianStartMs} ms [${r.start.warmInProcess.runs.map((x) => x.startMs).join(', ')}]`,
  );
  add(
    'agent process: publish → reply p50 / p99',
    `${ms(r.agentProcessReplyLatency.p50)} / ${ms(r.agentProcessReplyLatency.p99)} (n=${r.agentProcessReplyLatency.n})`,
  );
  return {
    title: `Latchkey unlock benchmark — ${r.cpu.model} × ${r.cpu.cores}, Node ${r.node}, load average ${r.loadAverage.before[0]} → ${r.loadAverage.after[0]}`,
    rows,
  };
}

export function printTable(r: Results): void {
  const t = resultsTable(r);
  process.stdout.write(`\n${t.title}\n\n${alignedLines(t.rows).join('\n')}\n`);
  if (r.agentErrorLogs.length > 0)
    process.stdout.write(
      `\nagent error logs (${r.agentErrorLogs.length}, first lines):\n${r.agentErrorLogs
        .slice(0, 6)
        .map((x) => `  ${x.slice(0, 240)}`)
        .join('\n')}\n`,
    );
}

/**
 * The headline tables, as the issue asks for them: the two kinds of token side by side on each broker
 * beside the physical floor, the checks' throughput, and a valid token's latency under 1,000 forged
 * tokens a second with the agent's CPU.
 */
export function summaryTables(r: Results): TextTable[] {
  const T = r.targets;
  const f = (v: number | null) => (v === null ? 'not in time' : v.toFixed(2));
  const latency: string[][] = [
    ['broker', 'token', 'n', 'p50', 'p99', 'max', 'target p50 / p99', 'verdict', 'floor p50 / p99'],
  ];
  for (const [key, name] of [
    ['aedes', 'Aedes'],
    ['mosquitto', 'Mosquitto'],
  ] as const) {
    const rtt = r.floor.mqttRoundTrip[key];
    const floor = `${f(rtt.p50 + r.floor.commit.p50)} / ${f(rtt.p99 + r.floor.commit.p99)}`;
    for (const [token, l, p50, p99, verdicts] of [
      ['wallet', r.latency[key], T.p50Ms, T.p99Ms, [`${key}P50`, `${key}P99`]],
      [
        'session',
        r.session.latency[key],
        T.sessionP50Ms,
        T.sessionP99Ms,
        [`session${name}P50`, `session${name}P99`],
      ],
    ] as const)
      latency.push([
        key === 'aedes' ? 'aedes' : 'Mosquitto',
        token,
        String(l.measured.n),
        f(l.measured.p50),
        f(l.measured.p99),
        f(l.measured.max),
        `${p50} / ${p99}`,
        verdicts.map((k) => r.verdicts[k]).join(' / '),
        floor,
      ]);
  }
  const v = r.verify;
  const rate = (label: string, x: { opsPerSecond: number; microsPerOp: number }) => [
    label,
    String(x.opsPerSecond),
    String(x.microsPerOp),
  ];
  const verify: string[][] = [
    ['check, one core', 'ops/s', 'µs each'],
    rate('wallet token: verifyAccess (secp256k1 recovery)', v.ours.verifyAccess),
    rate('session token: verifyAccess (P-256, node:crypto)', v.session.verifyAccess),
    rate('  of which the P-256 verify', v.session.p256Verify),
    rate('secp256k1 recovery, @noble/secp256k1 (used)', v.secp256k1.nobleSecp256k1),
    rate(`secp256k1 recovery, @noble/curves ${v.secp256k1.curvesVersion}`, v.secp256k1.nobleCurves),
    rate('ethers verifyTypedData', v.ethers.verifyTypedData),
  ];
  const flood: string[][] = [
    [
      'agent',
      'flood of 1,000/s',
      'valid unlocks in time',
      'p50',
      'p99',
      'max',
      'target p99',
      'verdict',
      'CPU, % of a core',
      'CPU of',
    ],
  ];
  for (const [agent, s, w, sv, wv] of [
    ['aedes, in-process', r.session.flood.aedes, r.flood.aedes, 'sessionFloodAedesP99', 'floodAedesP99'],
    [
      'Mosquitto, in-process',
      r.session.flood.mosquitto,
      r.flood.mosquitto,
      'sessionFloodMosquittoP99',
      'floodMosquittoP99',
    ],
    [
      'Mosquitto, agent process',
      r.session.flood.agentProcess,
      r.flood.agentProcess,
      'sessionFloodProcessP99',
      'floodProcessP99',
    ],
  ] as const)
    for (const [kind, x, target, verdict] of [
      ['forged session tokens, same rental', s, T.sessionFloodP99Ms, sv],
      ['bad wallet tokens, another rental', w, T.floodP99Ms, wv],
    ] as const)
      flood.push([
        agent,
        kind,
        `${x.valid.answered}/${x.valid.sent}`,
        f(x.valid.p50),
        f(x.valid.p99),
        f(x.valid.max),
        verdict ? String(target) : '',
        verdict ? (r.verdicts[verdict] ?? '') : '',
        String(x.cpu.duringFloodPercentOfOneCore),
        x.cpu.measuredOn,
      ]);
  return [
    {
      title: 'Token published → relay switched, ms (in-process agent); floor = MQTT round trip + one commit',
      rows: latency,
    },
    { title: 'Signature checks', rows: verify },
    {
      title: `A valid unlock during a ${r.session.flood.aedes.plan.durationMs / 1000} s flood (flood from its own process); in-process: publish → relay switched, agent process: publish → reply; ms`,
      rows: flood,
    },
  ];
}
