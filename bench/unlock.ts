// Unlock benchmark: token published → relay switched latency on aedes (embedded) and on Mosquitto,
// pure verification throughput against ethers, valid-token latency under a flood of invalid tokens with
// the agent's CPU, the agent's resident memory and its start-to-ready time. Prints a table with the
// targets and writes bench/results/unlock.json; exits 1 on errors (e.g. a valid token refused), never
// on a missed target. Run: npm run bench:unlock  (BENCH_UNLOCKS=n changes the 2,000 unlocks per broker)

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent } from '../agent/agent.js';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import { createLogger, type Level } from '../agent/log.js';
import { domainSeparator, hexToBytes } from '../contracts/eip712.js';
import { domain } from '../contracts/typedData.js';
import { Guest } from '../guest/client.js';
import type { SimRelay } from '../hardware/sim.js';
import { type Mosquitto, startMosquitto } from '../test/mosquitto.js';
import { machineFacts, positiveIntEnv } from './env.js';
import {
  type AgentProcess,
  buildAgent,
  GATEWAY_NODE_FLAGS,
  type ProcUsage,
  procUsage,
  spawnAgent,
} from './unlock/agentProcess.js';
import { BenchClient } from './unlock/client.js';
import { runCycles } from './unlock/cycle.js';
import { appendFloodRun, floodHistoryTable, floodRunRows } from './unlock/floodHistory.js';
import { FLOOD, FLOOD_PAIRS, floodPhase } from './unlock/floodPhase.js';
import { commitFloor, mqttRoundTrip } from './unlock/floor.js';
import {
  appendHotPath,
  type HotPathFloor,
  hotPathRow,
  hotPathTable,
  printHotPath,
  readHotPath,
} from './unlock/hotpath.js';
import { latencyPhase, WARMUP } from './unlock/latency.js';
import { instrument, type Probe, simRelayOf } from './unlock/probe.js';
import { median, round, summarize } from './unlock/stats.js';
import { printTable, type Results, resultsTable, summaryTables, type Targets } from './unlock/table.js';
import { alignedLines, markdownDocument } from './unlock/textTable.js';
import {
  type BenchSessionKey,
  sessionKeyPair,
  sessionPairs,
  signGrant,
  signToken,
  unlockLockPairs,
} from './unlock/tokens.js';
import { benchVerify } from './unlock/verify.js';
import { watchOnline, withTimeout } from './unlock/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'unlock.json');
const HOTPATH_RESULTS = path.join(ROOT, 'bench', 'results', 'unlock-hotpath.json');
const FLOOD_RUNS = path.join(ROOT, 'bench', 'results', 'unlock-floods.json');
/** The same tables as printed, in Markdown. */
const TABLES = path.join(ROOT, 'bench', 'results', 'unlock.md');
/** BENCH_HOTPATH=<label>: only the session-token latency and the floor, as a row of the hot-path table. */
const HOTPATH_LABEL = process.env.BENCH_HOTPATH ?? '';
const HOTPATH_ONLY = HOTPATH_LABEL !== '';
const FLOOR_SAMPLES = 1000;

const UNLOCKS = positiveIntEnv('BENCH_UNLOCKS', 2000);
const COLD_STARTS = 5;
const WARM_STARTS = 5;
const CHILD_CYCLES = 200;
/** Idle time after the run before the agent's RSS is read again. */
const SETTLE_MS = 15_000;
const RENTAL_SECONDS = 2 * 3600;
/** Below the agent's maxValiditySeconds (300): tokens are signed just before each phase. */
const VALID_FOR = 280;
const TARGETS: Targets = {
  p50Ms: 5,
  p99Ms: 15,
  floodP99Ms: 50,
  rssMB: 100,
  readyMs: 1500,
  sessionP50Ms: 1.5,
  sessionP99Ms: 5,
  sessionFloodP99Ms: 20,
};
const MB = 1024 * 1024;

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const started = performance.now();
  const level = (process.env.LATCHKEY_LOG_LEVEL as Level | undefined) ?? 'warn';
  // In-process agents log to stderr; their error lines are kept for the report.
  const agentErrorLogs: string[] = [];
  const log = createLogger('latchkey', {
    level,
    json: true,
    write: (line) => {
      process.stderr.write(`${line}\n`);
      if (line.includes('"level":"error"')) agentErrorLogs.push(`in-process: ${line}`);
    },
  });
  const loadBefore = os.loadavg();
  const cleanups: (() => Promise<void> | void)[] = [];
  const step = (what: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${what}\n`);

  try {
    step('pure verification throughput');
    const verify = benchVerify();

    step('starting Mosquitto, anvil + contract, aedes and the agent');
    const mosquitto: Mosquitto = await startMosquitto();
    cleanups.push(() => mosquitto.stop());
    const e: Embedded = await startEmbedded({ log, blockTime: 0, ports: {}, brokerLogins: false });
    cleanups.push(() => e.stop());
    const lock = e.devices.find((d) => d.kind === 'lock');
    const guestAccount = e.guests[0];
    const wrongAccount = e.guests[1];
    if (!lock || !guestAccount || !wrongAccount)
      throw new Error('embedded system has no lock or too few guests');
    const chainId = BigInt(e.anvil.chainId);
    const separator = domainSeparator(domain(chainId, e.contractAddress));
    const key = hexToBytes(guestAccount.privateKey);
    const guest = new Guest({
      privateKey: guestAccount.privateKey,
      provider: e.anvil.provider,
      contract: e.contractAddress,
      chainId,
      gatewayId: e.config.gatewayId,
    });
    const { rental } = await guest.rent(lock.id, RENTAL_SECONDS);
    // The flood targets another guest's rental (the socket's): its wrong-key tokens are throttled per
    // rental, so the valid tokens measured under the flood (on the lock) show what other guests see.
    const socket = e.devices.find((d) => d.kind === 'socket');
    if (!socket) throw new Error('the embedded system has no socket');
    const { rental: targeted } = await guest.rent(socket.id, RENTAL_SECONDS);
    // The bench signs with the same digest + noble signer the agent verifies; it must equal a wallet's.
    const nowS = Math.floor(Date.now() / 1000);
    const byWallet = await guest.token(rental, 'unlock', { nonce: 42n, now: nowS });
    const byBench = signToken(
      separator,
      key,
      { rentalId: rental.id, action: 'unlock', nonce: 42n, validUntil: nowS + 120 },
      byWallet.id,
    );
    if (byWallet.signature !== byBench.signature)
      throw new Error('bench-signed token differs from the wallet-signed one (eth_signTypedData_v4)');
    await withTimeout(
      (async () => {
        while (
          e.agent.store.getRental(rental.id)?.status !== 'open' ||
          e.agent.store.getRental(targeted.id)?.status !== 'open'
        )
          await sleep(50);
      })(),
      10_000,
      'the agent did not see the rental',
    );
    // start() resolves before the MQTT subscription is in place: wait for the retained 'online'.
    const aedesOnline = await watchOnline(e.broker.url, e.config.gatewayId);
    await withTimeout(aedesOnline.online, 10_000, 'the agent did not come online on aedes');
    await aedesOnline.close();
    const memIdleInProcess = process.memoryUsage();
    const signMicros: number[] = [];
    const pairsFor = (n: number) => {
      const t = performance.now();
      const pairs = unlockLockPairs(separator, key, rental.id, Math.floor(Date.now() / 1000) + VALID_FOR, n);
      signMicros.push(((performance.now() - t) / (2 * n)) * 1000);
      return pairs;
    };

    // The guest's session key for the lock's rental: granted once per agent (each has its own store),
    // then its tokens are measured like the wallet's, and flooded with forged ones at the same rental.
    const sessionKey: BenchSessionKey = sessionKeyPair();
    const grant = Buffer.from(JSON.stringify(signGrant(separator, key, rental.id, rental.end, sessionKey)));
    const grantOn = async (agent: Agent) => {
      const reply = await agent.access(lock.id, grant, 'bench-grant', 'mqtt');
      if (reply.status !== 'ok') throw new Error(`the session grant was refused: ${reply.error.code}`);
    };
    const sessionPairsFor = (n: number) =>
      sessionPairs(separator, sessionKey, rental.id, Math.floor(Date.now() / 1000) + VALID_FOR, n);

    const selfCpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    /** Where a flood is aimed and measured: the agent under test and how its CPU is read. */
    interface FloodTarget {
      target: string;
      url: string;
      gatewayId: string;
      client: BenchClient;
      httpPort: number;
      cpuMs: () => number;
      cpuMeasuredOn: string;
      metrics: () => Promise<string>;
      brokerLog: () => string;
      relay?: SimRelay;
      probe?: Probe;
    }
    /**
     * 1,000 tokens a second with wrong signatures while the guest's valid ones are measured: 'wallet'
     * floods another guest's rental (the socket's) with wallet tokens, 'session' forges session tokens
     * for the very rental whose guest's session tokens are measured.
     */
    const floodAt = (scheme: 'wallet' | 'session', t: FloodTarget) => {
      step(
        scheme === 'wallet'
          ? `flood: ${FLOOD.rate} invalid tokens/s for ${FLOOD.durationMs / 1000} s, ${t.target}`
          : `session flood: ${FLOOD.rate} forged session tokens/s for ${FLOOD.durationMs / 1000} s, ${t.target}`,
      );
      const aim =
        scheme === 'wallet'
          ? {
              floodDeviceId: socket.id,
              floodRentalId: targeted.id,
              floodAction: 'on' as const,
              pairs: pairsFor(FLOOD_PAIRS),
            }
          : {
              floodDeviceId: lock.id,
              floodRentalId: rental.id,
              floodAction: 'unlock' as const,
              scheme: 'session' as const,
              pairs: sessionPairsFor(FLOOD_PAIRS),
            };
      return floodPhase({
        target: scheme === 'wallet' ? t.target : `${t.target}, forged session tokens at the measured rental`,
        url: t.url,
        gatewayId: t.gatewayId,
        deviceId: lock.id,
        rentalId: rental.id,
        ...aim,
        separator,
        wrongKey: wrongAccount.privateKey,
        client: t.client,
        httpUrl: `http://127.0.0.1:${t.httpPort}`,
        ...(t.relay ? { relay: t.relay } : {}),
        ...(t.probe ? { probe: t.probe } : {}),
        cpuMs: t.cpuMs,
        cpuMeasuredOn: t.cpuMeasuredOn,
        metrics: t.metrics,
        brokerLog: t.brokerLog,
      });
    };
    /** An in-process agent as a flood target. */
    const inProcess = (
      target: string,
      url: string,
      client: BenchClient,
      agent: Agent,
      relay: SimRelay,
      probe: Probe,
      cpuMeasuredOn: string,
      brokerLog: () => string,
    ): FloodTarget => ({
      target,
      url,
      gatewayId: e.config.gatewayId,
      client,
      httpPort: agent.httpPort,
      cpuMs: selfCpuMs,
      cpuMeasuredOn,
      metrics: async () => agent.metrics.render(),
      brokerLog,
      relay,
      probe,
    });

    /** The agent on Mosquitto: the same wiring as the embedded one, its MQTT URL pointed at Mosquitto. */
    const startMqAgent = async () => {
      const mqDir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-mq-'));
      cleanups.push(() => rmSync(mqDir, { recursive: true, force: true }));
      const agent = new Agent(
        { ...e.config, dataDir: mqDir, mqtt: { ...e.config.mqtt, url: mosquitto.url } },
        log.child('agent'),
      );
      const online = await watchOnline(mosquitto.url, e.config.gatewayId);
      await agent.start();
      cleanups.push(() => agent.stop());
      await withTimeout(online.online, 10_000, 'the agent did not come online on Mosquitto');
      await online.close();
      if (agent.store.getRental(rental.id)?.status !== 'open')
        throw new Error('the agent on Mosquitto lacks the rental');
      const client = await BenchClient.connect(mosquitto.url, e.config.gatewayId);
      cleanups.push(() => client.close());
      return { agent, client, probe: instrument(agent), relay: simRelayOf(agent, lock.id) };
    };

    const floorNow = async (): Promise<HotPathFloor> => {
      step(`the floor: ${FLOOR_SAMPLES} MQTT round trips on each broker, ${FLOOR_SAMPLES} unlock commits`);
      return {
        measures:
          'MQTT: QoS 1 publish → the same client receives it through the broker (one hop in, one out, as a token reaching the agent plus its reply); commit: one transaction of an unlock’s writes (nonce, relay runtime, two audit rows) on the agent’s Store, WAL, synchronous=FULL, in os.tmpdir() like the agents’ stores',
        mqttRoundTrip: {
          aedes: await mqttRoundTrip(e.broker.url, FLOOR_SAMPLES),
          mosquitto: await mqttRoundTrip(mosquitto.url, FLOOR_SAMPLES),
        },
        commit: await commitFloor(FLOOR_SAMPLES, lock.id, rental.id),
      };
    };

    if (HOTPATH_ONLY) {
      // Session-token latency on both brokers and the floor, appended as one row of the hot-path table.
      step(`hot path only: ${UNLOCKS} session-token unlocks on aedes and on Mosquitto, then the floor`);
      await grantOn(e.agent);
      const client = await BenchClient.connect(e.broker.url, e.config.gatewayId);
      cleanups.push(() => client.close());
      const onAedes = await latencyPhase(
        'aedes (embedded, in-process), session tokens',
        client,
        lock.id,
        sessionPairsFor(UNLOCKS + WARMUP),
        simRelayOf(e.agent, lock.id),
        instrument(e.agent),
      );
      await client.close();
      await e.agent.stop();
      const mq = await startMqAgent();
      await grantOn(mq.agent);
      const onMq = await latencyPhase(
        'Mosquitto, session tokens',
        mq.client,
        lock.id,
        sessionPairsFor(UNLOCKS + WARMUP),
        mq.relay,
        mq.probe,
      );
      await mq.client.close();
      await mq.agent.stop();
      const row = hotPathRow(
        HOTPATH_LABEL,
        loadBefore,
        { aedes: onAedes, mosquitto: onMq },
        await floorNow(),
      );
      const history = appendHotPath(HOTPATH_RESULTS, row);
      printHotPath(history, TARGETS);
      process.stdout.write(`\nwritten: ${path.relative(ROOT, HOTPATH_RESULTS)}\n`);
      return 0;
    }

    // 1a + 3a. aedes (embedded, in this process): unlock latency, then valid tokens under a flood.
    step(`signing ${2 * (UNLOCKS + WARMUP)} tokens; ${UNLOCKS} unlocks on aedes`);
    const aedesProbe = instrument(e.agent);
    const aedesRelay = simRelayOf(e.agent, lock.id);
    const aedesClient = await BenchClient.connect(e.broker.url, e.config.gatewayId);
    cleanups.push(() => aedesClient.close());
    const aedes = await latencyPhase(
      'aedes (embedded, in-process)',
      aedesClient,
      lock.id,
      pairsFor(UNLOCKS + WARMUP),
      aedesRelay,
      aedesProbe,
    );
    const aedesTarget = inProcess(
      'in-process agent on aedes (embedded)',
      e.broker.url,
      aedesClient,
      e.agent,
      aedesRelay,
      aedesProbe,
      'this process: the agent + aedes + the valid-token client (the flood is another process)',
      () => '',
    );
    const floodAedes = await floodAt('wallet', aedesTarget);
    step(`${UNLOCKS} unlocks with session tokens on aedes, then a session flood at the same rental`);
    await grantOn(e.agent);
    const aedesSession = await latencyPhase(
      'aedes (embedded, in-process), session tokens',
      aedesClient,
      lock.id,
      sessionPairsFor(UNLOCKS + WARMUP),
      aedesRelay,
      aedesProbe,
    );
    const sessionFloodAedes = await floodAt('session', aedesTarget);
    await aedesClient.close();
    await e.agent.stop();

    // 1b + 3b. Mosquitto: the same agent wiring, its MQTT URL pointed at Mosquitto, aedes unused.
    step(`signing; ${UNLOCKS} unlocks on Mosquitto`);
    const { agent: mqAgent, client: mqClient, probe: mqProbe, relay: mqRelay } = await startMqAgent();
    const mq = await latencyPhase(
      'Mosquitto',
      mqClient,
      lock.id,
      pairsFor(UNLOCKS + WARMUP),
      mqRelay,
      mqProbe,
    );
    const mqTarget = inProcess(
      'in-process agent on Mosquitto',
      mosquitto.url,
      mqClient,
      mqAgent,
      mqRelay,
      mqProbe,
      'this process: the agent + the valid-token client (Mosquitto and the flood are other processes)',
      () => mosquitto.output(),
    );
    const floodMq = await floodAt('wallet', mqTarget);
    step(`${UNLOCKS} unlocks with session tokens on Mosquitto, then a session flood at the same rental`);
    await grantOn(mqAgent);
    const mqSession = await latencyPhase(
      'Mosquitto, session tokens',
      mqClient,
      lock.id,
      sessionPairsFor(UNLOCKS + WARMUP),
      mqRelay,
      mqProbe,
    );
    const sessionFloodMq = await floodAt('session', mqTarget);
    await mqClient.close();
    await mqAgent.stop();
    const memAfterInProcess = process.memoryUsage();
    const floor = await floorNow();

    // 5a. Start-to-ready in this process (warm: modules loaded), chain and broker up, fresh data dir.
    step(`${WARM_STARTS} warm starts in-process`);
    const warm: { startMs: number; metricSeconds: number | undefined; onlineMs: number }[] = [];
    for (let i = 0; i < WARM_STARTS; i++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-start-'));
      const gatewayId = `bench-warm-${i}-${process.pid}`;
      const agent = new Agent(
        { ...e.config, gatewayId, dataDir: dir, mqtt: { ...e.config.mqtt, url: mosquitto.url } },
        log.child('agent'),
      );
      const online = await watchOnline(mosquitto.url, gatewayId);
      let startMs = Number.NaN;
      agent.once('ready', (r) => {
        startMs = r.startMs;
      });
      const t0 = performance.now();
      await agent.start();
      const onlineAt = await withTimeout(online.online, 10_000, 'a warm-started agent did not come online');
      warm.push({
        startMs,
        metricSeconds: agent.metrics.get('latchkey_start_seconds'),
        onlineMs: round(onlineAt - t0, 1),
      });
      await online.close();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    }

    // 4 + 5b. The agent as its own process (the production entry point): cold starts, RSS, CPU under flood.
    step(`${COLD_STARTS} cold starts of agent/main.ts; RSS, cycles and a flood on the last`);
    const baseline = await baselineRss();
    const procConfig = (gatewayId: string, dataDir: string) => ({
      gatewayId,
      dataDir,
      gatewayKey: e.gateway.privateKey,
      chain: {
        rpcUrls: [e.anvil.url],
        chainId: Number(chainId),
        contract: e.contractAddress,
        confirmations: 0,
        pollMs: e.config.chain.pollMs,
        startBlock: e.config.chain.startBlock,
      },
      mqtt: { url: mosquitto.url },
      http: { host: '127.0.0.1', port: 0 },
      devices: e.devices.map((d) => ({
        id: d.id.toString(),
        kind: d.kind,
        pulseSeconds: 5,
        relay: { driver: 'sim' },
      })),
    });
    buildAgent(ROOT);
    const cold: { startMs: number; readyAfterSpawnMs: number; onlineAfterSpawnMs: number }[] = [];
    let proc: { p: AgentProcess; gatewayId: string; httpPort: number } | undefined;
    for (let i = 0; i < COLD_STARTS; i++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-proc-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const gatewayId = `bench-proc-${i}-${process.pid}`;
      const online = await watchOnline(mosquitto.url, gatewayId);
      const t0 = performance.now();
      const p = spawnAgent(
        ROOT,
        path.join(dir, 'config.json'),
        procConfig(gatewayId, path.join(dir, 'data')),
      );
      cleanups.push(() => p.stop());
      const ready = await withTimeout(p.ready, 30_000, 'the agent process did not log ready');
      const onlineAt = await withTimeout(online.online, 10_000, 'the agent process did not come online');
      await online.close();
      cold.push({
        startMs: ready.startMs,
        readyAfterSpawnMs: Math.round(ready.sinceSpawnMs),
        onlineAfterSpawnMs: Math.round(onlineAt - t0),
      });
      if (i < COLD_STARTS - 1) {
        await p.stop();
        agentErrorLogs.push(...p.errors().map((l) => `agent process ${i}: ${l}`));
      } else proc = { p, gatewayId, httpPort: ready.httpPort };
    }
    if (!proc) throw new Error('no agent process left running');
    const { p: agentProc, gatewayId: procGateway, httpPort } = proc;
    await sleep(1_000);
    const rssIdle = procUsage(agentProc.pid);
    const procClient = await BenchClient.connect(mosquitto.url, procGateway);
    cleanups.push(() => procClient.close());
    const procCycles = await runCycles(procClient, lock.id, pairsFor(CHILD_CYCLES));
    const rssAfterCycles = procUsage(agentProc.pid);
    const procTarget: FloodTarget = {
      target: 'agent process (agent/main.ts) on Mosquitto',
      url: mosquitto.url,
      gatewayId: procGateway,
      client: procClient,
      httpPort,
      cpuMs: () => procUsage(agentProc.pid).cpuMs,
      cpuMeasuredOn: 'the agent process alone (/proc/<pid>/stat utime+stime)',
      metrics: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
      brokerLog: () => mosquitto.output(),
    };
    const floodProc = await floodAt('wallet', procTarget);
    const rssAfter = procUsage(agentProc.pid);
    // V8 returns the flood's garbage to the system only after a few idle seconds (its memory reducer).
    await sleep(SETTLE_MS);
    const rssSettled = procUsage(agentProc.pid);
    // The session flood against the production entry point, after the memory readings (which stay
    // those of the wallet flood): the grant over LAN HTTP, then forged session tokens at the same rental.
    const procGrant = await fetch(`http://127.0.0.1:${httpPort}/api/devices/${lock.id}/access`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: grant,
    });
    if (!procGrant.ok)
      throw new Error(`the agent process refused the session grant: ${await procGrant.text()}`);
    const sessionFloodProc = await floodAt('session', procTarget);
    await procClient.close();
    await agentProc.stop();
    agentErrorLogs.push(...agentProc.errors().map((l) => `agent process ${COLD_STARTS - 1}: ${l}`));

    // ---------------------------------------------------------------- results
    const coldMedian = median(cold.map((c) => c.startMs));
    const warmMedian = median(warm.map((w) => w.startMs));
    const verdict = (value: number | null, target: number) =>
      value !== null && value <= target ? 'PASS' : 'MISS';
    const results: Results = {
      ...machineFacts(loadBefore),
      runSeconds: 0,
      setup: {
        chain: 'anvil, automine (blockTime 0), confirmations 0, pollMs 250',
        relay:
          'SimRelay of the lock (pulse 5 s); every measured unlock is followed by a lock token, so each unlock switches the relay',
        tokens:
          'signed before each phase with the agent’s EIP-712 digest + noble signer (checked equal to ethers signTypedData), one 2-hour rental, random nonces',
        sources:
          'every token (valid and flood) carries its own request id, so its MQTT source is mqtt:reply/<id> (agent/mqtt/request.ts) and no per-source rate limit applies, as for a fleet of guests',
        logLevel: `in-process agents: ${level}; agent processes: info (the default)`,
        unlocksPerBroker: UNLOCKS,
        warmupCycles: WARMUP,
        signMicrosPerToken: round(median(signMicros), 1),
      },
      targets: TARGETS,
      latency: {
        method:
          'performance.now() just before the QoS 1 publish → the SimRelay switch event (closed), both in this process; reply topics subscribed before the clock starts; the next unlock is sent after the lock reply',
        aedes,
        mosquitto: mq,
      },
      verify,
      floor,
      flood: { aedes: floodAedes, mosquitto: floodMq, agentProcess: floodProc },
      session: {
        method:
          'as the wallet rows, with tokens signed by a P-256 session key (node:crypto, the encoding WebCrypto emits) that one wallet-signed Session grant installed; the flood forges session tokens for the measured rental itself',
        latency: { aedes: aedesSession, mosquitto: mqSession },
        flood: { aedes: sessionFloodAedes, mosquitto: sessionFloodMq, agentProcess: sessionFloodProc },
      },
      memory: {
        agentProcess: {
          measures: `dist/agent/main.js in its own process (npm run gateway: node ${GATEWAY_NODE_FLAGS.join(' ')}), /proc/<pid>/status VmRSS; peak = VmHWM; anon = RssAnon (the process's own memory), file = RssFile (pages of mapped files, mostly the node binary's code)`,
          idleMB: mb(rssIdle.rssBytes),
          afterCyclesMB: mb(rssAfterCycles.rssBytes),
          afterRunMB: mb(rssAfter.rssBytes),
          peakMB: mb(rssAfter.peakRssBytes),
          settledMB: mb(rssSettled.rssBytes),
          settledAfterSeconds: SETTLE_MS / 1000,
          split: { idle: split(rssIdle), afterRun: split(rssAfter), settled: split(rssSettled) },
          run: `${CHILD_CYCLES} unlock/lock cycles, then a ${FLOOD.durationMs / 1000} s flood`,
          baseline,
        },
        benchProcess: {
          measures:
            'this process (agents + aedes + bench MQTT clients + signed tokens + ethers), not the agent alone',
          idle: { rssMB: mb(memIdleInProcess.rss), heapUsedMB: mb(memIdleInProcess.heapUsed) },
          afterRun: { rssMB: mb(memAfterInProcess.rss), heapUsedMB: mb(memAfterInProcess.heapUsed) },
        },
      },
      start: {
        coldProcess: {
          measures: "startMs of the 'agent ready' log line of agent/main.ts, fresh process and data dir",
          medianStartMs: coldMedian,
          runs: cold,
        },
        warmInProcess: {
          measures: "'ready' event startMs of a new Agent in this process (modules loaded), fresh data dir",
          medianStartMs: warmMedian,
          runs: warm,
        },
      },
      agentProcessReplyLatency: {
        measures: 'publish → reply, agent in another process, sequential unlock/lock cycles',
        ...summarize(procCycles.map((c) => c.ms)),
      },
      verdicts: {
        aedesP50: verdict(aedes.measured.p50, TARGETS.p50Ms),
        aedesP99: verdict(aedes.measured.p99, TARGETS.p99Ms),
        mosquittoP50: verdict(mq.measured.p50, TARGETS.p50Ms),
        mosquittoP99: verdict(mq.measured.p99, TARGETS.p99Ms),
        floodAedesP99: verdict(floodAedes.valid.p99, TARGETS.floodP99Ms),
        floodMosquittoP99: verdict(floodMq.valid.p99, TARGETS.floodP99Ms),
        sessionAedesP50: verdict(aedesSession.measured.p50, TARGETS.sessionP50Ms),
        sessionAedesP99: verdict(aedesSession.measured.p99, TARGETS.sessionP99Ms),
        sessionMosquittoP50: verdict(mqSession.measured.p50, TARGETS.sessionP50Ms),
        sessionMosquittoP99: verdict(mqSession.measured.p99, TARGETS.sessionP99Ms),
        sessionFloodAedesP99: verdict(sessionFloodAedes.valid.p99, TARGETS.sessionFloodP99Ms),
        sessionFloodMosquittoP99: verdict(sessionFloodMq.valid.p99, TARGETS.sessionFloodP99Ms),
        floodProcessP99: verdict(floodProc.valid.p99, TARGETS.floodP99Ms),
        sessionFloodProcessP99: verdict(sessionFloodProc.valid.p99, TARGETS.sessionFloodP99Ms),
        rss: verdict(mb(rssAfter.rssBytes), TARGETS.rssMB),
        ready: verdict(coldMedian, TARGETS.readyMs),
      },
      agentErrorLogs: agentErrorLogs.slice(0, 20),
    };
    results.runSeconds = round((performance.now() - started) / 1000, 1);
    mkdirSync(path.dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${toJson(results)}\n`);
    const summary = summaryTables(results);
    for (const t of summary) process.stdout.write(`\n${t.title}\n\n${alignedLines(t.rows).join('\n')}\n`);
    printTable(results);
    const hotPath = readHotPath(HOTPATH_RESULTS);
    printHotPath(hotPath, TARGETS);
    const floodRuns = appendFloodRun(FLOOD_RUNS, {
      date: results.date,
      load: [round(loadBefore[0] ?? 0, 2), round(os.loadavg()[0] ?? 0, 2)],
      rows: floodRunRows([
        {
          agent: 'aedes, in-process',
          flood: 'session',
          result: sessionFloodAedes,
          targetP99: TARGETS.sessionFloodP99Ms,
        },
        {
          agent: 'Mosquitto, in-process',
          flood: 'session',
          result: sessionFloodMq,
          targetP99: TARGETS.sessionFloodP99Ms,
        },
        {
          agent: 'Mosquitto, agent process',
          flood: 'session',
          result: sessionFloodProc,
          targetP99: TARGETS.sessionFloodP99Ms,
        },
        { agent: 'aedes, in-process', flood: 'wallet', result: floodAedes, targetP99: TARGETS.floodP99Ms },
        { agent: 'Mosquitto, in-process', flood: 'wallet', result: floodMq, targetP99: TARGETS.floodP99Ms },
        {
          agent: 'Mosquitto, agent process',
          flood: 'wallet',
          result: floodProc,
          targetP99: TARGETS.floodP99Ms,
        },
      ]),
    });
    const floodHistory = floodHistoryTable(floodRuns);
    process.stdout.write(`\n${floodHistory.title}\n\n${alignedLines(floodHistory.rows).join('\n')}\n`);
    writeFileSync(
      TABLES,
      markdownDocument(
        `bench:unlock, ${results.date}: written by \`npm run bench:unlock\` with bench/results/unlock.json`,
        [
          ...summary,
          floodHistory,
          resultsTable(results),
          ...(hotPath.length ? [hotPathTable(hotPath, TARGETS)] : []),
        ],
      ),
    );
    process.stdout.write(
      `\nwritten: ${[RESULTS, TABLES, FLOOD_RUNS].map((f) => path.relative(ROOT, f)).join(', ')} (${results.runSeconds} s)\n`,
    );
    return 0;
  } finally {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {}
    }
  }
}

const mb = (bytes: number) => round(bytes / MB, 1);

/** Indented JSON with arrays of plain values (the raw samples) kept on one line each. */
function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\n\s+([^[\]{}]*?)\n\s+\]/g,
    (_, inner: string) => `[${inner.split(/,\n\s+/).join(', ')}]`,
  );
}

function split(u: ProcUsage): { anonMB: number; fileMB: number } {
  return { anonMB: mb(u.rssAnonBytes), fileMB: mb(u.rssFileBytes) };
}

/** RSS of bare Node (the gateway's flags, an empty program): what the agent sits on. */
async function baselineRss(): Promise<{ nodeMB: number; anonMB: number; fileMB: number }> {
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, '-e', 'setTimeout(() => {}, 5000)'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  await sleep(1_000);
  if (child.pid === undefined) throw new Error('could not spawn node for the RSS baseline');
  const usage = procUsage(child.pid);
  child.kill('SIGKILL');
  return { nodeMB: mb(usage.rssBytes), ...split(usage) };
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:unlock failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
