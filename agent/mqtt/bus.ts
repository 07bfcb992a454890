// The agent's MQTT client: receives access requests for its devices, answers them, publishes device
// state and gateway availability; MQTT 5 where the broker speaks it, 3.1.1 where it does not.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { LatchkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import { messageKey, RecentMessages } from './dedupe.js';
import { ReplyBudget, type ReplyBudgetOptions } from './replyBudget.js';
import { describeRequest, type ReplyRoute } from './request.js';
import {
  type Availability,
  checkSegment,
  type DeviceStateLike,
  encodeReply,
  encodeState,
  type ReplyEnvelope,
  Topics,
} from './topics.js';

export type ReplyFn = (envelope: ReplyEnvelope) => Promise<void>;

/**
 * Called once per access message. `payload` is the raw token bytes (≤ maxPayloadBytes), unparsed.
 * `reply` publishes the envelope to the requester (only the first call counts) and never rejects: an
 * 'ok' at QoS 1, an error at QoS 0 within the device's refusal-reply budget, a 'rate-limited' error
 * not at all.
 */
export type AccessHandler = (
  deviceId: bigint,
  payload: Buffer,
  source: string,
  reply: ReplyFn,
) => void | Promise<void>;

export type DropReason = 'oversized' | 'retained' | 'empty' | 'duplicate' | 'unknown-topic';

export interface MqttBusEvents {
  /** Subscribed, availability and every known state published: access requests flow. */
  connected: [{ protocolVersion: 4 | 5 }];
  disconnected: [];
  /** The broker refused MQTT 5; the bus speaks 3.1.1 from now on. */
  fallback: [{ reason: string }];
  /** An inbound message that did not reach the handler. */
  dropped: [{ topic: string; reason: DropReason; bytes: number }];
  /** A refusal not answered: its device's refusal-reply budget was spent (see refusalReplies). */
  withheld: [{ deviceId: bigint; code: string }];
}

export interface MqttBusOptions {
  /** mqtt://, mqtts://, ws:// or wss:// */
  url: string;
  gatewayId: string;
  deviceIds: readonly bigint[];
  onAccess: AccessHandler;
  log: Logger;
  prefix?: string;
  /** Default `latchkey-<gatewayId>`. */
  clientId?: string;
  username?: string;
  password?: string;
  /** Version tried first; default 5 (falls back to 4 by itself when refused). */
  protocolVersion?: 4 | 5;
  /** Access payloads above this are dropped unread; default 4096. */
  maxPayloadBytes?: number;
  /** How long a handled message is remembered to drop its redeliveries; default 10 min. */
  dedupeWindowMs?: number;
  dedupeMaxEntries?: number;
  /**
   * How long a refused message is remembered (default 2 s): long enough to answer a burst of
   * redeliveries once, short enough that the same token sent again later (say, once its rental is
   * confirmed) is checked again instead of getting the old refusal.
   */
  refusalMemoryMs?: number;
  /**
   * Refusals answered per device (a token bucket; defaults DEFAULT_REFUSAL_REPLIES: burst 20, 10/s).
   * Beyond it a refusal is not answered and a 'withheld' event is emitted: a flood of bad tokens costs
   * no reply each, and its replies never queue ahead of the guests'.
   */
  refusalReplies?: Partial<ReplyBudgetOptions>;
  keepaliveSeconds?: number;
  /** Reconnect delays double from initialMs up to maxMs; defaults 250 ms and 30 s. */
  reconnect?: { initialMs?: number; maxMs?: number };
}

// MQTT 5 reason 0x84 (Unsupported Protocol Version) or the 3.1.1 return code 1 read by a v5 parser.
const PROTOCOL_REFUSED = new Set([1, 0x84]);

export class MqttBus extends EventEmitter<MqttBusEvents> {
  private readonly topics: Topics;
  private readonly log: Logger;
  private readonly devices: Map<string, bigint>;
  private readonly maxPayloadBytes: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly recent: RecentMessages<Promise<ReplyEnvelope | undefined>>;
  private readonly refusalReplies: ReplyBudget;
  private readonly states = new Map<string, string>();
  private version: 4 | 5;
  private client: MqttClient | undefined;
  private spokeV5 = false;
  private attempt = { tcpConnected: false, connack: false };
  private generation = 0;
  private ready = false;
  private delayMs: number;
  private quietErrors = false;

  constructor(private readonly options: MqttBusOptions) {
    super();
    this.topics = new Topics(options.prefix);
    checkSegment(options.gatewayId, 'gateway id');
    this.log = options.log.child('mqtt');
    this.devices = new Map(options.deviceIds.map((id) => [id.toString(), id]));
    this.maxPayloadBytes = options.maxPayloadBytes ?? 4096;
    this.initialDelayMs = options.reconnect?.initialMs ?? 250;
    this.maxDelayMs = options.reconnect?.maxMs ?? 30_000;
    this.delayMs = this.initialDelayMs;
    this.version = options.protocolVersion ?? 5;
    this.refusalReplies = new ReplyBudget(options.refusalReplies);
    this.recent = new RecentMessages({
      windowMs: options.dedupeWindowMs ?? 10 * 60_000,
      maxEntries: options.dedupeMaxEntries ?? 10_000,
      shortWindowMs: options.refusalMemoryMs ?? 2_000,
    });
  }

  get protocolVersion(): 4 | 5 {
    return this.version;
  }

  /** True between 'connected' and 'disconnected'. */
  get connected(): boolean {
    return this.ready;
  }

  /** Starts connecting (and reconnecting) in the background; resolves at once, see the 'connected' event. */
  async start(): Promise<void> {
    if (this.client) return;
    const client = mqtt.connect(this.options.url, this.clientOptions());
    this.client = client;
    client.on('packetsend', (packet) => {
      if (packet.cmd === 'connect') this.onConnectSent(client);
    });
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') this.attempt.connack = true;
    });
    client.on('connect', () => void this.onConnect(client));
    client.on('message', (topic, payload, packet) => void this.onMessage(topic, payload, packet));
    client.on('reconnect', () => this.onReconnect(client));
    client.on('close', () => this.onClose(client));
    client.on('error', (error) => this.onError(client, error));
    client.connect(); // manualConnect: the first CONNECT must pass through the listeners above
  }

  /** Publishes 'offline' and disconnects cleanly (the will is for crashes). */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.generation++;
    const wasReady = this.ready;
    this.ready = false;
    if (client.connected) {
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      await Promise.race([
        this.publish(client, this.topics.availability(this.options.gatewayId), 'offline', true),
        closed,
      ]);
      await Promise.race([client.endAsync(false), closed]);
    }
    await client.endAsync(true);
    client.removeAllListeners();
    client.on('error', () => {});
    this.recent.clear();
    if (wasReady) this.emit('disconnected');
    this.log.info('stopped');
  }

  /**
   * Records a device's state and publishes it retained. While offline only the latest state is kept;
   * it is published on the next connection, so a partition never queues a backlog of stale states.
   */
  publishState(deviceId: bigint, state: DeviceStateLike): void {
    const key = deviceId.toString();
    if (!this.devices.has(key)) {
      throw new LatchkeyError('UNKNOWN_DEVICE', `device ${key} is not served by this gateway`);
    }
    if (state.deviceId !== deviceId) {
      throw new LatchkeyError('BAD_REQUEST', `state of device ${state.deviceId} published as device ${key}`);
    }
    const json = encodeState(state);
    this.states.set(key, json);
    const client = this.client;
    // Also during connection setup: its snapshot of states may predate this one.
    if (client?.connected) {
      void this.publish(client, this.topics.state(this.options.gatewayId, deviceId), json, true);
    }
  }

  private clientOptions(): IClientOptions {
    const availability = this.topics.availability(this.options.gatewayId);
    const offline: Availability = 'offline';
    return {
      protocolVersion: this.version,
      clientId: this.options.clientId ?? `latchkey-${this.options.gatewayId}`,
      clean: true,
      keepalive: this.options.keepaliveSeconds ?? 30,
      connectTimeout: 10_000,
      reconnectPeriod: this.initialDelayMs,
      reconnectOnConnackError: true,
      resubscribe: false, // onConnect subscribes on every connection itself
      manualConnect: true,
      ...(this.options.username === undefined ? {} : { username: this.options.username }),
      ...(this.options.password === undefined ? {} : { password: this.options.password }),
      will: { topic: availability, payload: Buffer.from(offline), qos: 1, retain: true },
      ...(this.version === 5
        ? {
            // The broker must not send us anything bigger than an access request can be.
            properties: { maximumPacketSize: this.maxPayloadBytes + 2048, sessionExpiryInterval: 0 },
          }
        : {}),
    };
  }

  // Nagle's algorithm delays a QoS 1 round trip on loopback by ~40-90 ms; MQTT packets are small.
  private onConnectSent(client: MqttClient): void {
    const attempt = { tcpConnected: false, connack: false };
    this.attempt = attempt;
    const stream = client.stream as Partial<Socket>;
    if (typeof stream.setNoDelay !== 'function') return; // WebSocket transports
    const connected = () => {
      attempt.tcpConnected = true;
      stream.setNoDelay?.(true);
    };
    if (stream.connecting) (stream as Socket).once('connect', connected);
    else connected();
  }

  private async onConnect(client: MqttClient): Promise<void> {
    const generation = ++this.generation;
    if (this.version === 5) this.spokeV5 = true;
    this.delayMs = this.initialDelayMs;
    client.options.reconnectPeriod = this.initialDelayMs;
    const gatewayId = this.options.gatewayId;
    try {
      const subscriptions = Object.fromEntries(
        [...this.devices.values()].map((id) => [
          this.topics.access(gatewayId, id),
          // rap: a retained token published while we listen still arrives flagged, to be ignored and cleared
          this.version === 5 ? { qos: 1 as const, nl: true, rap: true } : { qos: 1 as const },
        ]),
      );
      const granted = this.devices.size > 0 ? await client.subscribeAsync(subscriptions) : [];
      for (const grant of granted) {
        if (grant.qos !== 1) this.log.error('access subscription not granted at QoS 1', { ...grant });
      }
      const online: Availability = 'online';
      await Promise.all([
        this.publish(client, this.topics.availability(gatewayId), online, true),
        ...[...this.states].map(([id, json]) =>
          this.publish(client, this.topics.state(gatewayId, BigInt(id)), json, true),
        ),
      ]);
    } catch (error) {
      this.log.warn('connection setup failed', { error });
      return;
    }
    if (generation !== this.generation || !client.connected || this.client !== client) return;
    this.ready = true;
    this.quietErrors = false;
    this.log.info('connected', { url: this.options.url, protocolVersion: this.version });
    this.emit('connected', { protocolVersion: this.version });
  }

  private onReconnect(client: MqttClient): void {
    // mqtt.js schedules the next attempt with options.reconnectPeriod: double it for the one after,
    // with jitter so a fleet of gateways does not reconnect in step after a broker restart.
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    client.options.reconnectPeriod = Math.round(this.delayMs * (0.8 + Math.random() * 0.4));
  }

  private onClose(client: MqttClient): void {
    if (this.client !== client) return;
    const { tcpConnected, connack } = this.attempt;
    // Some 3.1.1-only brokers hang up on a v5 CONNECT instead of answering it.
    if (this.version === 5 && !this.spokeV5 && tcpConnected && !connack) {
      this.fallBack(client, 'connection closed before CONNACK');
    }
    if (this.ready) {
      this.ready = false;
      this.generation++;
      this.log.warn('disconnected; reconnecting', { url: this.options.url });
      this.emit('disconnected');
    }
  }

  private onError(client: MqttClient, error: Error & { code?: unknown }): void {
    if (this.client !== client) return;
    if (this.version === 5 && typeof error.code === 'number' && PROTOCOL_REFUSED.has(error.code)) {
      this.fallBack(client, error.message);
      return;
    }
    // During an outage every retry fails the same way: say it once, then only at debug level.
    const level = this.quietErrors ? 'debug' : 'warn';
    this.quietErrors = true;
    this.log[level]('mqtt error', { error: error.message, code: error.code });
  }

  // Changing the options of the same client keeps its outgoing store (QoS 1 messages not yet acked).
  private fallBack(client: MqttClient, reason: string): void {
    this.version = 4;
    const options = client.options;
    options.protocolVersion = 4;
    delete options.properties;
    if (options.will) delete options.will.properties;
    options.reconnectPeriod = this.initialDelayMs;
    this.log.info('broker refused MQTT 5; using MQTT 3.1.1', { reason });
    this.emit('fallback', { reason });
  }

  private async onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const drop = (reason: DropReason) => {
      this.log.debug('access message dropped', { topic, reason, bytes: payload.length });
      this.emit('dropped', { topic, reason, bytes: payload.length });
    };
    if (payload.length > this.maxPayloadBytes) return drop('oversized');
    const parsed = this.topics.parse(topic);
    const deviceId = parsed?.kind === 'access' ? this.devices.get(parsed.deviceId.toString()) : undefined;
    if (deviceId === undefined || parsed?.gatewayId !== this.options.gatewayId) return drop('unknown-topic');
    if (packet.retain) {
      // A retained command would act again on every subscribe: never act on it, and clear it.
      if (payload.length > 0 && this.client) void this.publish(this.client, topic, Buffer.alloc(0), true);
      this.log.warn('retained access message ignored and cleared', { topic });
      return drop('retained');
    }
    if (payload.length === 0) return drop('empty');

    const info = describeRequest({
      topics: this.topics,
      gatewayId: this.options.gatewayId,
      deviceId,
      payload,
      properties: packet.properties,
    });
    const key = messageKey(topic, payload);
    const earlier = this.recent.get(key);
    if (earlier) {
      drop('duplicate');
      // The requester may be waiting still (its retransmit, or its retry of the same token): it gets
      // the first answer again. The DUP flag cannot tell the cases apart: aedes forwards a
      // publisher's DUP flag, Mosquitto does not.
      if (info.route) {
        const route = info.route;
        void earlier.then((envelope) => envelope && this.sendReply(deviceId, route, envelope));
      }
      return;
    }

    let answered: ReplyEnvelope | undefined;
    let settle: (envelope: ReplyEnvelope | undefined) => void = () => {};
    const remembered = new Promise<ReplyEnvelope | undefined>((resolve) => (settle = resolve));
    this.recent.add(key, remembered);
    const reply: ReplyFn = async (envelope) => {
      if (answered) {
        this.log.warn('second reply to one request ignored', { topic });
        return;
      }
      answered = envelope;
      settle(envelope);
      if (envelope.status === 'error') this.recent.shorten(key, remembered);
      if (info.route) await this.sendReply(deviceId, info.route, envelope);
      else this.log.debug('no reply route (no response topic, no id)', { topic, source: info.source });
    };
    try {
      await this.options.onAccess(deviceId, payload, info.source, reply);
    } catch (error) {
      this.log.error('access handler failed', { topic, error });
      if (!answered) {
        await reply({
          status: 'error',
          error: { code: 'internal', message: 'the gateway failed to handle it' },
        });
      }
    } finally {
      settle(answered);
    }
  }

  // Refusals must not clog the link to the broker under a flood of bad tokens: they go out at QoS 0
  // (no PUBACK to wait for, nothing queued for redelivery; a requester that misses one times out and
  // retries), only within the device's refusal-reply budget, and a 'rate-limited' refusal is not
  // answered at all (its sender is the flood).
  private async sendReply(deviceId: bigint, route: ReplyRoute, envelope: ReplyEnvelope): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (envelope.status === 'error') {
      if (envelope.error.code === 'rate-limited') return;
      if (!this.refusalReplies.take(deviceId.toString())) {
        this.emit('withheld', { deviceId, code: envelope.error.code });
        return;
      }
    }
    const properties =
      this.version === 5 && route.correlationData ? { correlationData: route.correlationData } : undefined;
    const qos = envelope.status === 'ok' ? 1 : 0;
    await this.publish(client, route.topic, encodeReply(envelope), false, properties, qos);
  }

  /** Publish (QoS 1 unless told) that logs instead of rejecting; resolves when the broker acknowledged it. */
  private async publish(
    client: MqttClient,
    topic: string,
    payload: string | Buffer,
    retain: boolean,
    properties?: { correlationData: Buffer },
    qos: 0 | 1 = 1,
  ): Promise<Packet | undefined> {
    try {
      return await client.publishAsync(topic, payload, {
        qos,
        retain,
        ...(properties ? { properties } : {}),
      });
    } catch (error) {
      this.log.warn('publish failed', { topic, error });
      return undefined;
    }
  }
}
