// The one wiring file of the gateway agent. It reads like the flow in the design:
// chain watcher → rentals in the store; MQTT / LAN HTTP → access gate → device controller → relay;
// usage receipt → receipt submitter → checkout on chain. Nothing else constructs collaborators.

import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { addressOfPrivateKey, domainSeparator, hexToBytes } from '../contracts/eip712.js';
import { deviceOf, domain } from '../contracts/typedData.js';
import { createDriverContext, createRelay } from '../hardware/drivers.js';
import type { Relay } from '../hardware/relay.js';
import { TrustedClock } from './access/clock.js';
import { AccessGate, type AccessPath, TokenUsed } from './access/gate.js';
import { RpcClient } from './chain/rpc.js';
import { checkSigners, deviceKeys } from './chain/signers.js';
import { ReceiptSubmitter } from './chain/submitter.js';
import { walletSigned } from './chain/walletSignature.js';
import { ChainWatcher, type SignerNotice } from './chain/watcher.js';
import type { AgentConfig } from './config.js';
import { DeviceController, type DeviceState } from './devices/controller.js';
import { feedDeviceReports } from './devices/deviceReports.js';
import { ReceiptKeys } from './devices/receiptKeys.js';
import { ReceiptSigner } from './devices/receipts.js';
import { endPastRentals } from './devices/sweep.js';
import { isError, LatchkeyError } from './errors.js';
import { HttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { MqttBus } from './mqtt/bus.js';
import type { ReplyCode, ReplyEnvelope } from './mqtt/topics.js';
import { Scheduler } from './scheduler.js';
import { startupWarnings } from './startupChecks.js';
import { type RentalStatus, Store, type StoredRental } from './store/store.js';

/**
 * The earliest wall-clock time the agent believes (2026-11-01T00:00:00Z). A gateway without a
 * real-time clock that boots in 1970 grants nothing until the chain or NTP says otherwise.
 */
export const CLOCK_FLOOR_SECONDS = 1_793_491_200;

export interface AgentOptions {
  /** Folder of the guest page served over LAN HTTP; none when undefined. */
  staticDir?: string;
  /** Public facts served at /api/info next to the chain's (e.g. the broker's WebSocket URL). */
  publicInfo?: Record<string, unknown>;
  /** Earliest trusted unix time; defaults to CLOCK_FLOOR_SECONDS. */
  clockFloorSeconds?: number;
  /** Blocks of history kept to undo a reorg (the watcher's default, 128, when undefined). */
  reorgWindow?: number;
}

export type AgentEvents = {
  /** Every part started: tokens are served. */
  ready: [{ startMs: number }];
  state: [DeviceState];
  /** Something a person should look at: deep reorg, lockout, chain unavailable. */
  alarm: [{ kind: string; message: string }];
  /** Every answered access request: a grant, a session, or a refusal with its code. */
  access: [{ deviceId: bigint; path: AccessPath; answer: ReplyEnvelope }];
  /** A confirmed rental is open in the store (rented or extended). */
  rental: [StoredRental];
  /** A rental ended on chain: settled, cancelled or revoked. */
  closed: [{ rentalId: bigint; status: RentalStatus }];
};

const err = (code: ReplyCode, message: string): ReplyEnvelope => ({
  status: 'error',
  error: { code, message },
});

export class Agent extends EventEmitter<AgentEvents> {
  readonly metrics = new Metrics();
  readonly store: Store;
  readonly controllers = new Map<bigint, DeviceController>();
  private readonly log: Logger;
  private clock: TrustedClock | undefined;
  private gate: AccessGate | undefined;
  private watcher: ChainWatcher | undefined;
  private submitter: ReceiptSubmitter | undefined;
  private bus: MqttBus | undefined;
  private http: HttpServer | undefined;
  private scheduler: Scheduler | undefined;
  private chainId: bigint | undefined;
  private chainUp = true;
  /** A reorg deeper than the tracked window: the rentals cache cannot be trusted, nothing is granted. */
  private halted = false;
  /** Setup mistakes found at start (devices not as on chain, an unfunded key); shown in /health. */
  private warnings: string[] = [];
  private started = false;
  /** A read of device signers in flight (learnDeviceSigners). */
  private learning: Promise<void> | undefined;

  constructor(
    readonly config: AgentConfig,
    log: Logger,
    private readonly options: AgentOptions = {},
  ) {
    super();
    this.log = log;
    this.store = new Store(join(config.dataDir, 'latchkey.db'));
  }

  /** The LAN HTTP port actually bound. */
  get httpPort(): number {
    return this.http?.port ?? this.config.http.port;
  }

  async start(): Promise<void> {
    const t0 = performance.now();
    const { config, log } = this;
    log.info('agent starting', { gateway: config.gatewayId, devices: config.devices.length });
    mkdirSync(config.dataDir, { recursive: true });
    this.store.start();
    this.started = true;
    const clock = new TrustedClock(this.options.clockFloorSeconds ?? CLOCK_FLOOR_SECONDS);
    this.clock = clock;

    // Relays first: every lock locked and every socket off before anything talks to the network.
    const relays = new Map<bigint, Relay>();
    const drivers = createDriverContext(log.child('relay'));
    for (const d of config.devices) {
      if (!this.started) return; // stop() was called while starting
      if (d.kind === 'lock' && d.failMode === 'fail-safe')
        log.warn('fail-safe lock: it opens whenever its power fails, whatever the agent does', {
          deviceId: d.id,
        });
      const relay = await createRelay(d.relay, drivers);
      await relay.start();
      relays.set(d.id, relay);
    }
    this.chainId = await this.resolveChainId();
    if (!this.started) return;
    await this.checkSigners();
    if (!this.started) return;
    const separator = domainSeparator(domain(this.chainId, config.chain.contract));
    const signer = new ReceiptSigner(hexToBytes(config.gatewayKey), separator);
    const keys = new ReceiptKeys(
      signer,
      (config.previousGatewayKeys ?? []).map((k) => new ReceiptSigner(hexToBytes(k), separator)),
    );
    const checkRpc = new RpcClient({ urls: config.chain.rpcUrls, timeoutMs: 5_000, log });
    const checks = startupWarnings(checkRpc, config.chain.contract, signer.address, config.devices).then(
      (w) => {
        this.warnings = w;
        for (const warning of w) log.warn(warning);
      },
    );
    this.background('startup checks', checks);
    for (const d of config.devices) {
      const controller = new DeviceController({
        deviceId: d.id,
        kind: d.kind,
        pulseSeconds: d.pulseSeconds,
        relay: relays.get(d.id) as Relay,
        store: this.store,
        keys, // each rental's receipt is signed by the key it committed to (committedSigner)
        now: () => clock.now(),
        timeAnchored: () => clock.anchored(),
        log: log.child('device'),
        metrics: this.metrics,
      });
      feedDeviceReports(relays.get(d.id) as Relay, controller, log.child('device'));
      controller.on('state', (s) => this.onState(s));
      controller.on('receipt', () => this.background('receipt flush', this.submitter?.flush()));
      this.controllers.set(d.id, controller);
      await controller.start(); // a stop() meanwhile stops it right after (both run in its queue)
      if (!this.started) return;
    }

    this.gate = new AccessGate({
      store: this.store,
      clock,
      separator,
      log: log.child('access'),
      devices: new Map(config.devices.map((d) => [d.id, { kind: d.kind }])),
      maxValiditySeconds: config.access.maxValiditySeconds,
      metrics: this.metrics,
      walletSignature: (account, digest, sig) => walletSigned(checkRpc, account, digest, sig),
    });
    this.gate.on('lockout', (a) =>
      this.alarm('lockout', `source ${a.source} locked out for ${a.lockoutSeconds}s (${a.lastReason})`),
    );

    const watcher = new ChainWatcher({
      rpcUrls: config.chain.rpcUrls,
      contract: config.chain.contract,
      deviceIds: config.devices.map((d) => d.id),
      confirmations: config.chain.confirmations,
      pollMs: config.chain.pollMs,
      chunkSize: config.chain.chunkSize,
      startBlock: config.chain.startBlock,
      store: this.store,
      log,
      signerKeys: keys.addresses,
      ...(this.options.reorgWindow !== undefined ? { reorgWindow: this.options.reorgWindow } : {}),
    });
    this.watcher = watcher;
    let clockWasTrusted = clock.now() !== undefined;
    let clockWasAnchored = false;
    watcher.on('head', (h) =>
      this.metrics.set('latchkey_chain_processed_block', 'Last block whose logs are applied', h.number),
    );
    watcher.on('latest', (h) => {
      clock.observe(h.timestamp);
      const trusted = clock.now() !== undefined;
      // Newly trusted, or bounded by the chain for the first time: rentals left dormant are decided now.
      if (trusted && (!clockWasTrusted || !clockWasAnchored)) {
        for (const c of this.controllers.values()) this.background('reconcile', c.reconcile());
      }
      clockWasTrusted ||= trusted;
      clockWasAnchored = true;
    });
    watcher.on('rental', (r) => {
      this.background('rental update', this.controllers.get(r.deviceId)?.updateRental(r));
      if (!this.store.deviceSigner(r.deviceId)) this.background('device signers', this.learnDeviceSigners());
      this.emit('rental', r);
    });
    watcher.on('closed', (id, status) => {
      if (status !== 'open')
        this.background('rental close', this.controllers.get(deviceOf(id))?.endRental(id, status));
      this.emit('closed', { rentalId: id, status });
    });
    watcher.on('revoked', (id) => {
      this.background('rental revoke', this.controllers.get(deviceOf(id))?.endRental(id, 'revoked'));
      this.emit('closed', { rentalId: id, status: 'revoked' });
    });
    watcher.on('signer', (s) => this.onSignerLog(s));
    watcher.on('unavailable', (e) => {
      this.chainUp = false;
      this.alarm('chain-unavailable', `every RPC endpoint failed: ${e.message}`);
    });
    watcher.on('available', () => {
      this.chainUp = true;
      this.background('receipt flush', this.submitter?.flush()); // receipts signed during the outage go out now
    });
    watcher.on('alarm', (e) => {
      this.halted = true;
      this.alarm('deep-reorg', e.message);
    });

    this.submitter = new ReceiptSubmitter({
      rpcUrls: config.chain.rpcUrls,
      contract: config.chain.contract,
      privateKey: config.gatewayKey,
      store: this.store,
      confirmations: Math.max(1, config.chain.confirmations),
      log,
    });

    this.bus = new MqttBus({
      url: config.mqtt.url,
      gatewayId: config.gatewayId,
      deviceIds: config.devices.map((d) => d.id),
      prefix: config.mqtt.prefix,
      ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
      log,
      onAccess: async (deviceId, payload, source, reply) =>
        reply(await this.access(deviceId, payload, source, 'mqtt')),
    });
    // The controllers announced their boot state before the bus existed: it is published on connect.
    for (const c of this.controllers.values()) this.bus.publishState(c.deviceId, c.state());
    this.bus.on('withheld', (w) =>
      this.metrics.inc(
        'latchkey_mqtt_refusals_unanswered_total',
        "Refusals not answered over MQTT: the device's refusal-reply budget was spent, by refusal code",
        { code: w.code },
      ),
    );
    this.bus.on('dropped', (d) =>
      this.metrics.inc('latchkey_mqtt_dropped_total', 'Inbound MQTT messages not handled, by reason', {
        reason: d.reason,
      }),
    );

    this.http = new HttpServer(
      {
        host: config.http.host,
        port: config.http.port,
        staticDir: this.options.staticDir,
        names: config.http.names,
        metricsToken: config.http.metricsToken,
      },
      {
        access: (deviceId, body, source) => this.access(deviceId, body, source, 'http'),
        device: (deviceId) => this.controllers.get(deviceId)?.state(),
        info: () => this.info(),
        health: () => this.health(),
        metrics: () => this.metrics.render(),
      },
      log.child('http'),
    );

    this.scheduler = new Scheduler(
      [
        { name: 'expiries', cron: '*/10 * * * * *', run: () => this.endExpiredRentals() },
        { name: 'receipts', cron: '*/30 * * * * *', run: () => this.submitter?.flush() },
        { name: 'nonces', cron: '0 */10 * * * *', run: () => this.pruneNonces() },
        { name: 'reconcile', cron: '0 */5 * * * *', run: () => this.reconcile() },
        { name: 'heartbeat', cron: '0 * * * * *', run: () => this.heartbeat() },
      ],
      log.child('scheduler'),
    );

    // The chain's rentals before the doors: the first poll fills the store (if a node answers).
    await watcher.start();
    if (!this.started) return;
    this.submitter.start();
    await Promise.all([this.bus.start(), this.http.start()]);
    if (!this.started) return;
    this.scheduler.start();
    await this.endExpiredRentals();
    const startMs = Math.round(performance.now() - t0);
    this.metrics.set('latchkey_start_seconds', 'Time from start() to ready', startMs / 1000);
    log.info('agent ready', {
      gateway: config.gatewayId,
      chainId: this.chainId,
      devices: config.devices.length,
      http: this.httpPort,
      startMs,
    });
    this.emit('ready', { startMs });
  }

  /** Stops taking requests, then every part in reverse order; relays are left in their safe state. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const steps: [string, () => Promise<unknown> | unknown][] = [
      ['http', () => this.http?.stop()],
      ['mqtt', () => this.bus?.stop()],
      ['access', () => this.gate?.stop()],
      ['scheduler', () => this.scheduler?.stop()],
      ['chain', () => this.watcher?.stop()],
      ['receipts', () => this.submitter?.stop()],
      ...[...this.controllers.values()].map((c): [string, () => Promise<void>] => ['device', () => c.stop()]),
      ['store', () => this.store.stop()],
    ];
    for (const [name, stop] of steps) {
      try {
        await stop();
      } catch (e) {
        this.log.error('stop failed', { part: name, error: e });
      }
    }
    this.controllers.clear();
  }

  /**
   * One request from MQTT or LAN HTTP: a token verified, then acted on, or a session grant installed;
   * answered as an envelope.
   */
  async access(
    deviceId: bigint,
    payload: Buffer,
    source: string,
    path: AccessPath = 'mqtt',
  ): Promise<ReplyEnvelope> {
    const t0 = performance.now();
    const controller = this.controllers.get(deviceId);
    const answer = await this.decide(controller, deviceId, payload, source, path);
    const grant = answer.status === 'ok' && (answer.data as { session?: unknown } | undefined)?.session;
    const outcome = answer.status === 'ok' ? (grant ? 'session-granted' : 'granted') : answer.error.code;
    this.metrics.inc('latchkey_access_total', 'Access requests by outcome', { outcome });
    try {
      this.emit('access', { deviceId, path, answer });
    } catch (e) {
      this.log.error('access listener failed', { error: e });
    }
    // A session grant switches nothing: only tokens count towards token-to-relay latency.
    if (answer.status === 'ok' && !grant) {
      this.metrics.observe(
        'latchkey_access_seconds',
        'Token in to relay switched',
        (performance.now() - t0) / 1000,
      );
    }
    return answer;
  }

  private async decide(
    controller: DeviceController | undefined,
    deviceId: bigint,
    payload: Buffer,
    source: string,
    path: AccessPath,
  ): Promise<ReplyEnvelope> {
    if (!controller || !this.gate) return err('unknown-device', `device ${deviceId} is not on this gateway`);
    if (this.halted) return err('unavailable', 'chain history could not be verified after a deep reorg');
    let verdict: Awaited<ReturnType<AccessGate['submitPending']>>;
    try {
      // The token's nonce is committed by the controller, in the transaction that acts on it.
      verdict = await this.gate.submitPending(deviceId, payload, source, path);
    } catch (e) {
      this.log.error('access check failed', { error: e });
      return err('unavailable', 'the gateway cannot record tokens right now');
    }
    if (!verdict.ok) {
      const hint =
        verdict.reason === 'unknown-rental' && !this.chainUp
          ? ' (chain unavailable: new rentals cannot be seen)'
          : '';
      return err(verdict.reason, verdict.message + hint);
    }
    if ('session' in verdict) {
      const { session } = verdict;
      return {
        status: 'ok',
        data: { session: 'granted', rentalId: session.rental.id.toString(), validUntil: session.validUntil },
      };
    }
    try {
      const result = await controller.apply(verdict.grant);
      return { status: 'ok', data: { action: verdict.grant.action, ...result } };
    } catch (e) {
      if (e instanceof TokenUsed) return err(e.verdict.reason, e.verdict.message);
      if (isError(e, 'RELAY_FAILED')) return err('relay-failed', e.message);
      if (isError(e, 'DEVICE_OFFLINE')) return err('device-offline', e.message);
      if (isError(e, 'BAD_REQUEST')) return err('refused', e.message);
      if (isError(e, 'STORE_FAILED'))
        return err('unavailable', 'the gateway cannot record actuations right now');
      throw e;
    }
  }

  /** Closes out rentals whose end has passed, including ones the guest never used. */
  private async endExpiredRentals(): Promise<void> {
    const now = this.clock?.now();
    // Only by a clock bounded by the chain's time: ending is irreversible (a receipt, a checkout).
    if (now === undefined || !this.clock?.anchored()) return;
    for (const controller of this.controllers.values()) await endPastRentals(this.store, controller, now);
  }

  private async reconcile(): Promise<void> {
    for (const c of this.controllers.values()) await c.reconcile();
    await this.watcher?.poll();
    await this.learnDeviceSigners();
  }

  /**
   * Reads the host and signer of each device the store knows neither of (registered after the start,
   * or no node answered then), so that its host's revocations count: those already applied are acted
   * on now. A CHAIN_UNAVAILABLE waits for the next call.
   */
  private learnDeviceSigners(): Promise<void> {
    // One at a time: rentals arriving together must not act on the same revocations twice.
    this.learning ??= this.learnMissingSigners().finally(() => {
      this.learning = undefined;
    });
    return this.learning;
  }

  private async learnMissingSigners(): Promise<void> {
    const missing = this.config.devices.filter((d) => !this.store.deviceSigner(d.id));
    if (missing.length === 0) return;
    const mine = this.gatewayAddresses();
    const rpc = new RpcClient({ urls: this.config.chain.rpcUrls, timeoutMs: 5_000, log: this.log });
    for (const d of missing) {
      let found: Awaited<ReturnType<typeof deviceKeys>>;
      try {
        found = await deviceKeys(rpc, this.config.chain.contract, d.id);
      } catch (e) {
        if (isError(e, 'CHAIN_UNAVAILABLE')) return;
        throw e;
      }
      if (!found || this.store.deviceSigner(d.id)) continue;
      if (!mine.includes(found.signer)) {
        this.alarm(
          'foreign-signer',
          `device ${d.id}: its signer on chain is ${found.signer}, none of this gateway's keys`,
        );
        continue;
      }
      this.store.putDeviceSigner(d.id, found.host, found.signer);
      this.log.info('device signer read from chain', {
        deviceId: d.id,
        host: found.host,
        signer: found.signer,
      });
      const controller = this.controllers.get(d.id);
      for (const signer of this.store.revokedSignersOf(d.id)) await controller?.signerRevoked(signer);
      await controller?.signerChanged();
    }
  }

  /** The gateway's key addresses, current first, lower-case. */
  private gatewayAddresses(): string[] {
    return [this.config.gatewayKey, ...(this.config.previousGatewayKeys ?? [])].map((k) =>
      addressOfPrivateKey(hexToBytes(k)).toLowerCase(),
    );
  }

  private heartbeat(): void {
    const mem = process.memoryUsage();
    this.metrics.set('latchkey_rss_bytes', 'Resident set size', mem.rss);
    this.log.debug('heartbeat', { rss: mem.rss, chainUp: this.chainUp, halted: this.halted });
  }

  /**
   * A key log the watcher applied: a revocation of one of this gateway's keys by the host of some of
   * its devices stops their receipts under it (the controllers audit it), and every device's state
   * says again whether its signer is revoked.
   */
  private onSignerLog(s: SignerNotice): void {
    for (const c of this.controllers.values()) {
      const host = this.store.deviceSigner(c.deviceId)?.host;
      if (s.kind === 'revoked' && host === s.host)
        this.background('signer revoked', c.signerRevoked(s.signer));
      else this.background('signer changed', c.signerChanged());
    }
  }

  private onState(s: DeviceState): void {
    this.bus?.publishState(s.deviceId, s);
    this.metrics.set(
      'latchkey_relay_closed',
      'Relay energised (1) or safe (0)',
      s.relay === 'closed' ? 1 : 0,
      {
        device: s.deviceId.toString(),
      },
    );
    this.metrics.set(
      'latchkey_signer_revoked',
      "The device's signer on chain is revoked by its host (1): it takes no rentals until setSigner",
      s.signerRevoked === undefined ? 0 : 1,
      { device: s.deviceId.toString() },
    );
    this.emit('state', s);
  }

  /**
   * Runs work started by an event (not awaited by anyone): a failure (a full disk, a locked store) is
   * logged and raised as an alarm instead of becoming an unhandled rejection that kills the agent.
   */
  private background(what: string, work: Promise<unknown> | undefined): void {
    work?.catch((e: unknown) =>
      this.alarm('background-failure', `${what} failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /**
   * Forgets used nonces whose tokens have expired, by the trusted clock only: pruning by a wall clock
   * stepped forward would forget nonces of tokens that are still valid once it is set right (replay).
   */
  private pruneNonces(): void {
    const now = this.clock?.now();
    if (now === undefined) return;
    this.store.pruneNonces(now);
    this.store.pruneSessionKeys(now);
  }

  private alarm(kind: string, message: string): void {
    this.log.error('alarm', { kind, message });
    this.metrics.inc('latchkey_alarms_total', 'Alarms raised', { kind });
    this.emit('alarm', { kind, message });
  }

  private info(): Record<string, unknown> {
    return {
      gatewayId: this.config.gatewayId,
      chainId: this.chainId?.toString(),
      contract: this.config.chain.contract,
      mqttPrefix: this.config.mqtt.prefix,
      confirmations: this.config.chain.confirmations,
      devices: this.config.devices.map((d) => ({
        id: d.id.toString(),
        kind: d.kind,
        pulseSeconds: d.pulseSeconds,
      })),
      ...this.options.publicInfo,
    };
  }

  private health(): { ok: boolean } & Record<string, unknown> {
    return {
      ok: this.started && !this.halted,
      chain: { up: this.chainUp, halted: this.halted, processedBlock: this.watcher?.processedBlock ?? null },
      clockTrusted: this.clock?.now() !== undefined,
      // Why it is not: the wall clock against the window the chain allows (latest: null before a block).
      clock: this.clock && {
        wall: this.clock.wall(),
        earliestTrusted: this.clock.earliestTrusted(),
        latestTrusted: this.clock.latestTrusted() ?? null,
      },
      devices: [...this.controllers.values()].map((c) => c.state()),
      broker: { connected: this.bus?.connected ?? false },
      warnings: [...this.warnings, ...(this.bus?.connected ? [] : ['no connection to the MQTT broker'])],
    };
  }

  /**
   * Refuses devices whose signer on chain is none of this gateway's keys (current or previous) and
   * remembers each device's signer; a chain out of reach is not checked.
   */
  private async checkSigners(): Promise<void> {
    const rpc = new RpcClient({ urls: this.config.chain.rpcUrls, timeoutMs: 5_000, log: this.log });
    const mine = this.gatewayAddresses();
    try {
      const ids = this.config.devices.map((d) => d.id);
      const { signers, unregistered, onPreviousKey } = await checkSigners(
        rpc,
        this.config.chain.contract,
        ids,
        mine,
      );
      for (const [id, { host, signer }] of signers) this.store.putDeviceSigner(id, host, signer);
      if (onPreviousKey.length > 0)
        this.log.warn(
          'devices still signed for by a previous gateway key: rotate their signer on chain (setSigner)',
          {
            devices: onPreviousKey.map(String),
            current: mine[0],
          },
        );
      if (unregistered.length > 0)
        this.log.warn('devices not registered on chain yet; their signer is not checked', {
          devices: unregistered.map(String),
        });
    } catch (e) {
      if (!isError(e, 'CHAIN_UNAVAILABLE')) throw e;
      this.log.warn('device signers not checked: no RPC endpoint answers', { error: e.message });
    }
  }

  /** The chain id from config, checked against the node when one answers; from the node otherwise. */
  private async resolveChainId(): Promise<bigint> {
    const configured = this.config.chain.chainId;
    const rpc = new RpcClient({ urls: this.config.chain.rpcUrls, timeoutMs: 5_000, log: this.log });
    let remote: bigint | undefined;
    try {
      const reply = await rpc.request('eth_chainId', []);
      if ('result' in reply && typeof reply.result === 'string') remote = BigInt(reply.result);
    } catch (e) {
      if (configured === undefined) {
        throw new LatchkeyError('CHAIN_UNAVAILABLE', 'cannot learn the chain id: no RPC endpoint answers', {
          cause: e,
          details: 'Set chain.chainId (LATCHKEY_CHAIN_ID) to start without a reachable node.',
        });
      }
    }
    if (configured !== undefined && remote !== undefined && BigInt(configured) !== remote) {
      throw new LatchkeyError(
        'CONFIG_INVALID',
        `chain.chainId is ${configured} but the RPC node is on chain ${remote}`,
      );
    }
    return remote ?? BigInt(configured as number);
  }
}
