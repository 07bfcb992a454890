// Harness of the end-to-end tests that drive the whole agent: waits that say what they waited for, a
// record of relay switches, guests, on-chain money at exact blocks, an RPC gate that fails on command,
// MQTT watchers, and the agent as a real child process that can be killed with SIGKILL.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type JsonRpcProvider, toBeHex, verifyTypedData, Wallet } from 'ethers';
import mqtt, { type MqttClient } from 'mqtt';
import type { Agent } from '../agent/agent.js';
import { GUEST_CLIENT_ID_PREFIX } from '../agent/broker/rules.js';
import type { DeviceConfig } from '../agent/config.js';
import type { DeviceState } from '../agent/devices/controller.js';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import { createLogger, type Level, type Logger, silentLogger } from '../agent/log.js';
import type { ReplyEnvelope } from '../agent/mqtt/topics.js';
import type { DevAccount } from '../contracts/anvil.js';
import { type LatchkeyContract, latchkeyAt, latchkeyInterface, registerDevice } from '../contracts/deploy.js';
import { parseLatchkeyLog } from '../contracts/events.js';
import { type Action, domain, RECEIPT_TYPES, type Rental } from '../contracts/typedData.js';
import { Guest, type SignedReceipt } from '../guest/client.js';
import { freePort } from './ports.js';

export { freePort };

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Quiet by default; LATCHKEY_TEST_LOG=debug|info|warn shows the agent's log while a test runs. */
export const testLog: Logger = process.env.LATCHKEY_TEST_LOG
  ? createLogger('test', { level: process.env.LATCHKEY_TEST_LOG as Level })
  : silentLogger;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined/false; fails naming `what`. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/** Every 'state' event of an in-process agent, in order. */
export class StateLog {
  readonly events: DeviceState[] = [];

  constructor(agent: Agent) {
    agent.on('state', (s) => this.events.push(s));
  }

  /** A position in the log to count from. */
  mark(): number {
    return this.events.length;
  }

  /** How often the relay of `deviceId` went from open to closed in events after `since`. */
  closures(deviceId: bigint, since = 0): number {
    let closed = false;
    let n = 0;
    for (const [i, s] of this.events.entries()) {
      if (s.deviceId !== deviceId) continue;
      const now = s.relay === 'closed';
      if (now && !closed && i >= since) n++;
      closed = now;
    }
    return n;
  }

  /**
   * Waits for an event of `deviceId` at or after index `since` that satisfies `match`; returns it and
   * the index just after it (to wait for what follows).
   */
  until(
    deviceId: bigint,
    match: (s: DeviceState) => boolean,
    what: string,
    since = 0,
    timeoutMs = 10_000,
  ): Promise<{ state: DeviceState; after: number }> {
    return waitFor(
      () => {
        for (let i = since; i < this.events.length; i++) {
          const state = this.events[i];
          if (state?.deviceId === deviceId && match(state)) return { state, after: i + 1 };
        }
        return undefined;
      },
      `device ${deviceId}: ${what}`,
      timeoutMs,
      20,
    );
  }
}

export interface GuestSetup {
  provider: JsonRpcProvider;
  contract: string;
  chainId: number;
  gatewayId: string;
  mqttUrl?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  httpUrl?: string;
}

/** How a guest reaches an embedded system: its chain, contract, gateway and LAN HTTP; `over` adds MQTT etc. */
export function embeddedSetup(e: Embedded, over: Partial<GuestSetup> = {}): GuestSetup {
  return {
    provider: e.anvil.provider,
    contract: e.contractAddress,
    chainId: e.anvil.chainId,
    gatewayId: e.config.gatewayId,
    httpUrl: e.httpUrl,
    ...(e.broker.logins
      ? { mqttUsername: e.broker.logins.guest.username, mqttPassword: e.broker.logins.guest.password }
      : {}),
    ...over,
  };
}

/** A guest with its own dev account, connected to the broker when `mqttUrl` is given. */
export async function guestOf(account: DevAccount, setup: GuestSetup): Promise<Guest> {
  const guest = new Guest({ privateKey: account.privateKey, ...setup });
  if (setup.mqttUrl) await guest.connect();
  return guest;
}

/**
 * Like Guest.actWhenConfirmed, but also waits out 'not-started': automine stamps blocks a second
 * apart, so a burst of transactions puts chain time a few seconds ahead of the wall clock.
 */
export async function actWhenLive(
  guest: Guest,
  rental: Rental,
  action: Action,
  via: 'mqtt' | 'http' = 'mqtt',
  timeoutMs = 15_000,
): Promise<ReplyEnvelope> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await guest.act(rental, action, via);
    const waiting = reply.status === 'error' && ['unknown-rental', 'not-started'].includes(reply.error.code);
    if (!waiting || Date.now() > deadline) return reply;
    await sleep(100);
  }
}

/** Throws with the agent's reason unless the reply is ok. */
export function ok(reply: ReplyEnvelope, what: string): void {
  if (reply.status !== 'ok') throw new Error(`${what} refused: ${reply.error.code}: ${reply.error.message}`);
}

/** The smaller of two bigints (Math.min takes numbers only). */
export function atMost(value: bigint, cap: bigint): bigint {
  return value < cap ? value : cap;
}

export interface Settlement {
  charge: bigint;
  refund: bigint;
  byReceipt: boolean;
  txHash: string;
  blockNumber: number;
}

/** Every Settled log of `rentalId` on chain (a rental must have exactly one). */
export async function settlements(
  provider: JsonRpcProvider,
  contract: string,
  rentalId: bigint,
): Promise<Settlement[]> {
  const logs = await provider.getLogs({
    address: contract,
    topics: [latchkeyInterface.getEvent('Settled')?.topicHash ?? null, toBeHex(rentalId, 32)],
    fromBlock: 0,
    toBlock: 'latest',
  });
  const out: Settlement[] = [];
  for (const log of logs) {
    const event = parseLatchkeyLog(log, contract);
    if (event?.name !== 'Settled') continue;
    const { charge, refund, byReceipt } = event.args;
    out.push({ charge, refund, byReceipt, txHash: log.transactionHash, blockNumber: log.blockNumber });
  }
  return out;
}

/** Waits for the rental's Settled log and returns it. */
export async function settled(
  provider: JsonRpcProvider,
  contract: string,
  rentalId: bigint,
  timeoutMs = 15_000,
): Promise<Settlement> {
  const [first] = await waitFor(
    async () => {
      const found = await settlements(provider, contract, rentalId);
      return found.length > 0 && found;
    },
    `rental ${rentalId} settled on chain`,
    timeoutMs,
    100,
  );
  return first as Settlement;
}

/** The change of an account's ETH balance made by block `n` alone. */
export async function balanceDelta(provider: JsonRpcProvider, account: string, n: number): Promise<bigint> {
  const [before, after] = await Promise.all([
    provider.getBalance(account, n - 1),
    provider.getBalance(account, n),
  ]);
  return after - before;
}

/** The change of an account's withdrawable contract credit made by block `n` alone. */
export async function creditDelta(contract: LatchkeyContract, account: string, n: number): Promise<bigint> {
  const [before, after] = await Promise.all([
    contract.credit(account, { blockTag: n - 1 }),
    contract.credit(account, { blockTag: n }),
  ]);
  return after - before;
}

/** True when `signed` carries an EIP-712 receipt signature of `signer` under the contract's domain. */
export function signedBy(signed: SignedReceipt, signer: string, chainId: number, contract: string): boolean {
  const recovered = verifyTypedData(
    domain(chainId, contract),
    RECEIPT_TYPES,
    signed.receipt,
    signed.signature,
  );
  return recovered.toLowerCase() === signer.toLowerCase();
}

export interface DeviceSpec {
  kind: 'lock' | 'socket';
  pricePerSecond: bigint;
  pricePerWh?: bigint;
  /** Watts; sizes the energy allowance each deposit prepays (contracts/deploy.ts DeviceParams). */
  maxWatts?: number;
  minDuration?: number;
}

/** Registers devices one after another as the contract's runner (their host); returns their ids. */
export async function registerDevices(
  asHost: LatchkeyContract,
  signer: string,
  specs: DeviceSpec[],
): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (const spec of specs) ids.push((await registerDevice(asHost, { signer, ...spec })).deviceId);
  return ids;
}

/** One device an end-to-end test adds to the demo's two: its agent config and its registration. */
export interface ExtraDevice {
  config: DeviceConfig;
  spec: DeviceSpec;
}

/**
 * The embedded system (anvil, broker, agent) with `extra` devices added to the agent's config after
 * the demo lock (1) and socket (2), the gateway online, and each extra device registered under the
 * id its config names (ids are handed out in order, so a mismatch is an error).
 */
export async function startWithDevices(extra: ExtraDevice[], pollMs = 100): Promise<Embedded> {
  const e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    configOverrides: (c) => ({
      ...c,
      chain: { ...c.chain, pollMs },
      devices: [...c.devices, ...extra.map((d) => d.config)],
    }),
  });
  try {
    await waitOnline(e.broker.url, e.config.gatewayId, guestLogin(e));
    const ids = await registerDevices(
      e.contract,
      e.gateway.address,
      extra.map((d) => d.spec),
    );
    const wanted = extra.map((d) => d.config.id);
    if (ids.join() !== wanted.join())
      throw new Error(`registered ids ${ids} are not the configured ${wanted}`);
    return e;
  } catch (err) {
    await e.stop();
    throw err;
  }
}

/** A guest of an embedded system on MQTT, with the contract under its own key. */
export interface EmbeddedGuest {
  guest: Guest;
  contract: LatchkeyContract;
}

/** Runs `body` as the `n`th dev guest of `e`, connected to its broker; the connection closes after. */
export async function asGuest<T>(e: Embedded, n: number, body: (g: EmbeddedGuest) => Promise<T>): Promise<T> {
  const account = e.guests[n];
  if (!account) throw new Error(`anvil has no dev guest ${n}`);
  const guest = await guestOf(account, embeddedSetup(e, { mqttUrl: e.broker.url }));
  try {
    const contract = latchkeyAt(e.contractAddress, new Wallet(account.privateKey, e.anvil.provider));
    return await body({ guest, contract });
  } finally {
    await guest.close();
  }
}

/** The receipt a settlement by receipt submitted, read from its transaction's calldata. */
export async function submittedReceipt(
  provider: JsonRpcProvider,
  settlement: Settlement,
): Promise<{ secondsUsed: bigint; energyWh: bigint }> {
  const tx = await provider.getTransaction(settlement.txHash);
  const call = latchkeyInterface.parseTransaction({ data: tx?.data ?? '0x' });
  if (call?.name !== 'checkout')
    throw new Error(`settlement ${settlement.txHash} was not a checkout by receipt`);
  return call.args.getValue('receipt') as { secondsUsed: bigint; energyWh: bigint };
}

// ---------------------------------------------------------------- ports and MQTT

/** An http:// URL nothing listens on (connections are refused). */
export async function closedPortUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface Login {
  username: string;
  password: string;
}

/** The guest login of an embedded system's broker. */
export function guestLogin(e: Embedded): Login {
  if (!e.broker.logins) throw new Error('the embedded broker has no logins');
  return { ...e.broker.logins.guest };
}

/** A plain MQTT 3.1.1 client recording what arrives on `topics`. */
export class MqttWatch {
  readonly seen: Seen[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) =>
      this.seen.push({ topic, payload: payload.toString(), retain: packet.retain }),
    );
  }

  static async open(url: string, topics: string[], login?: Login): Promise<MqttWatch> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 200,
      clean: true,
      clientId: `${GUEST_CLIENT_ID_PREFIX}watch-${Math.random().toString(36).slice(2, 10)}`,
      ...login,
    });
    const watch = new MqttWatch(client);
    await client.subscribeAsync(topics, { qos: 1 });
    return watch;
  }

  /** Waits for a message (after index `since`) that satisfies `match`. */
  async next(match: (m: Seen) => boolean, what: string, since = 0, timeoutMs = 10_000): Promise<Seen> {
    try {
      return await waitFor(() => this.seen.slice(since).find(match), what, timeoutMs, 20);
    } catch (e) {
      const seen = this.seen.map(
        (m) => `${m.topic}${m.retain ? ' (retained)' : ''}: ${m.payload.slice(0, 80)}`,
      );
      throw new Error(
        `${(e as Error).message}; seen: ${seen.length ? `\n  ${seen.join('\n  ')}` : 'nothing'}`,
      );
    }
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** Waits until the gateway announced itself 'online' (its access subscriptions are in place by then). */
export async function waitOnline(url: string, gatewayId: string, login?: Login): Promise<void> {
  const watch = await MqttWatch.open(url, [`latchkey/${gatewayId}/availability`], login);
  try {
    await watch.next((m) => m.payload === 'online', `${gatewayId} online on ${url}`);
  } finally {
    await watch.close();
  }
}

// ---------------------------------------------------------------- a JSON-RPC gate in front of anvil

/**
 * - pass: forwards every request.
 * - down: every connection is cut before an answer, like a node that went away.
 */
export type GateMode = 'pass' | 'down';

/**
 * What happens to eth_sendRawTransaction:
 * - pass: forwarded and answered.
 * - hold: neither forwarded nor answered (the sender dies before the node hears of it).
 * - forward-and-hold: forwarded (the transaction is mined) but never answered, and the gate goes down
 *   first, so the sender cannot learn of the transaction from the chain's logs either (it dies knowing
 *   only the hash it recorded).
 */
export type SendMode = 'pass' | 'hold' | 'forward-and-hold';

interface JsonRpcRequest {
  id: unknown;
  method: string;
  params?: unknown[];
}

export class RpcGate {
  mode: GateMode = 'pass';
  sends: SendMode = 'pass';
  /** Every request by JSON-RPC method, and whether the gate cut it. */
  readonly calls: { method: string; cut: boolean }[] = [];
  /** Raw transactions that reached the gate, whatever happened to them. */
  readonly sent: string[] = [];
  /** Requests for these methods are held: neither forwarded nor answered (a node that hangs on them). */
  readonly holdMethods = new Set<string>();
  url = '';
  private server: Server | undefined;
  private readonly held = new Set<ServerResponse>();

  constructor(public target = '') {}

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    let parsed: JsonRpcRequest | undefined;
    try {
      parsed = JSON.parse(body.toString('utf8')) as JsonRpcRequest;
    } catch {
      // batches and junk are passed on as they are
    }
    this.calls.push({ method: parsed?.method ?? '?', cut: this.mode === 'down' });
    if (this.mode === 'down') {
      res.destroy();
      return;
    }
    if (parsed && this.holdMethods.has(parsed.method)) {
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      return;
    }
    if (parsed?.method === 'eth_sendRawTransaction') {
      this.sent.push(String(parsed.params?.[0]));
      if (this.sends !== 'pass') {
        this.held.add(res);
        res.on('close', () => this.held.delete(res));
        if (this.sends === 'forward-and-hold') {
          this.mode = 'down';
          await forward(this.target, body).catch(() => undefined);
        }
        return;
      }
    }
    try {
      const answer = await forward(this.target, body);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    } catch {
      res.destroy();
    }
  }
}

function forward(target: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------- the agent as a child process

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface AgentProcess {
  pid: number;
  httpUrl: string;
  /** Every JSON log line the agent wrote, parsed. */
  lines(): Record<string, unknown>[];
  /** kill -9, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (clean shutdown), resolved once the process is gone. */
  stop(): Promise<void>;
  /** The exit code once it has exited (null while running or when a signal ended it). */
  exitCode(): number | null;
}

/** A temp folder removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes `config` as JSON (bigints as decimal strings) to `path`. */
export function writeConfig(path: string, config: unknown): void {
  writeFileSync(
    path,
    JSON.stringify(config, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2),
  );
}

/**
 * Runs `node --import tsx agent/main.ts` with LATCHKEY_CONFIG=`configPath`, exactly as a gateway
 * would, and resolves once it logged 'agent ready' (or, with `until`, once a log line matches it; then
 * `httpUrl` is only valid if the agent got that far). Its log is copied to stderr when LATCHKEY_TEST_LOG is set.
 */
export async function spawnAgent(
  configPath: string,
  timeoutMs = 30_000,
  until: (line: Record<string, unknown>) => boolean = (l) => l.msg === 'agent ready',
): Promise<AgentProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'agent', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, LATCHKEY_CONFIG: configPath, LATCHKEY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let buffered = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (process.env.LATCHKEY_TEST_LOG) process.stderr.write(chunk);
    raw += chunk;
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line (e.g. a stack trace); kept in raw
      }
    }
  });
  const killWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  let port: number;
  try {
    const ready = await Promise.race([
      waitFor(() => lines.find(until), 'the agent child to log the line awaited', timeoutMs),
      exited.then(() => {
        throw new Error(`the agent exited at start (${child.exitCode ?? child.signalCode}):\n${raw}`);
      }),
    ]);
    port = Number(ready.http);
  } catch (e) {
    await killWith('SIGKILL');
    throw e instanceof Error && !e.message.includes('exited') ? new Error(`${e.message}\n${raw}`) : e;
  }
  return {
    pid: child.pid ?? 0,
    httpUrl: `http://127.0.0.1:${port}`,
    lines: () => lines,
    kill: () => killWith('SIGKILL'),
    stop: () => killWith('SIGTERM'),
    exitCode: () => child.exitCode,
  };
}

/** GET /api/devices/<id> of an agent's LAN HTTP server: its current state as JSON. */
export async function deviceState(
  httpUrl: string,
  deviceId: bigint,
): Promise<{ relay: 'open' | 'closed'; phase: string; usedSeconds: number; rentalId?: string }> {
  const res = await fetch(`${httpUrl}/api/devices/${deviceId}`);
  const body = (await res.json()) as ReplyEnvelope;
  if (body.status !== 'ok') throw new Error(`GET device ${deviceId}: ${body.error.code}`);
  return body.data as { relay: 'open' | 'closed'; phase: string; usedSeconds: number; rentalId?: string };
}
