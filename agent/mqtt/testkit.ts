// Helpers for the MQTT tests: the two real brokers behind one shape, a recorder to await what arrives,
// and a raw MQTT client that writes exactly the packets a test chooses (e.g. a DUP retransmit).

import { once } from 'node:events';
import { type AddressInfo, connect as connectTcp, createServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { startMosquitto } from '../../test/mosquitto.js';
import { startEmbeddedBroker } from '../broker/embedded.js';
import { silentLogger } from '../log.js';

export interface BrokerUnderTest {
  name: string;
  url: string;
  /** The protocol the broker speaks best: aedes 1.x 3.1.1 only, Mosquitto 5. */
  speaks: 4 | 5;
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function startAedes(): Promise<BrokerUnderTest> {
  let broker = await startEmbeddedBroker({ log: silentLogger, logins: false });
  const port = Number(new URL(broker.url).port);
  return {
    name: 'aedes',
    url: broker.url,
    speaks: 4,
    restart: async (whileDown) => {
      await broker.stop();
      await whileDown?.();
      broker = await startEmbeddedBroker({ port, log: silentLogger, logins: false });
    },
    stop: () => broker.stop(),
  };
}

export async function startMosquittoBroker(): Promise<BrokerUnderTest> {
  const broker = await startMosquitto();
  return { name: 'mosquitto', url: broker.url, speaks: 5, restart: broker.restart, stop: broker.stop };
}

/**
 * Collects items and lets a test await the first one matching a predicate (already seen or future).
 * A wait gives up after `limitMs` with the items seen so far, so a regression fails with a message
 * instead of at the test timeout.
 */
export class Recorder<T> {
  readonly items: T[] = [];
  private waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  constructor(private readonly limitMs = 10_000) {}

  push(item: T): void {
    this.items.push(item);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(item)) return true;
      waiter.resolve(item);
      return false;
    });
  }

  waitFor(match: (item: T) => boolean, what = match.toString()): Promise<T> {
    const seen = this.items.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`gave up waiting for ${what}; saw ${inspect(this.items, { depth: 3 })}`));
      }, this.limitMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves with the matching items once there are `count` of them. */
  async waitForCount(match: (item: T) => boolean, count: number): Promise<T[]> {
    const matching = () => this.items.filter(match);
    while (matching().length < count) {
      const seen = new Set(matching());
      await this.waitFor((item) => match(item) && !seen.has(item), `${count} of ${match.toString()}`);
    }
    return matching();
  }

  clear(): void {
    this.items.length = 0;
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  /** QoS of the delivery: the lower of the publisher's and the subscription's. */
  qos: number;
  correlationData?: string;
}

/** An mqtt.js client that records every message on `topics` (re-subscribing after reconnects). */
export async function watcher(
  url: string,
  topics: string[],
  options: IClientOptions = {},
): Promise<{ client: MqttClient; received: Recorder<Received> }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 50, ...options });
  const received = new Recorder<Received>();
  client.on('message', (topic, payload, packet) => {
    const correlation = packet.properties?.correlationData;
    received.push({
      topic,
      payload: payload.toString(),
      retain: packet.retain,
      qos: packet.qos,
      ...(correlation ? { correlationData: correlation.toString() } : {}),
    });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, received };
}

/** A bare MQTT 3.1.1 client over TCP that sends packets exactly as given (message ids, DUP flags). */
export class RawClient {
  readonly packets = new Recorder<Packet>();

  private constructor(private readonly socket: Socket) {
    const parser = mqttPacket.parser();
    parser.on('packet', (packet) => this.packets.push(packet));
    socket.on('data', (chunk) => parser.parse(chunk));
  }

  static async connect(url: string, clientId: string): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const socket = connectTcp({ host: hostname, port: Number(port), noDelay: true });
    await once(socket, 'connect');
    const client = new RawClient(socket);
    client.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId,
      keepalive: 0,
    });
    await client.packets.waitFor((packet) => packet.cmd === 'connack');
    return client;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  /** Publishes at QoS 1 with a chosen message id and DUP flag; resolves on the broker's PUBACK. */
  async publish(topic: string, payload: string | Buffer, messageId: number, dup = false): Promise<void> {
    const acked = this.packets.waitFor((p) => p.cmd === 'puback' && p.messageId === messageId);
    this.send({ cmd: 'publish', topic, payload, qos: 1, messageId, dup, retain: false });
    await acked;
    this.packets.clear();
  }

  async end(): Promise<void> {
    this.send({ cmd: 'disconnect' });
    this.socket.end();
    if (!this.socket.closed) await once(this.socket, 'close');
  }
}

/**
 * A TCP relay in front of a broker whose new connections can be held back: lets a test decide that
 * other clients are ready before the client under test reconnects after a broker restart.
 */
export async function tcpGate(brokerUrl: string) {
  const target = new URL(brokerUrl);
  let holding = false;
  const held: Socket[] = [];
  const open = new Set<Socket>();
  const relay = (socket: Socket) => {
    const upstream = connectTcp({ host: target.hostname, port: Number(target.port), noDelay: true });
    open.add(socket).add(upstream);
    for (const end of [socket, upstream]) {
      end.on('error', () => {});
      end.once('close', () => {
        open.delete(end);
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  };
  const server = createServer({ noDelay: true }, (socket) => {
    if (!holding) return relay(socket);
    socket.on('error', () => {});
    held.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const socket of held.splice(0)) if (!socket.destroyed) relay(socket);
    },
    close: async () => {
      for (const socket of [...open, ...held]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The arguments of the next `event` from any emitter (mqtt.js clients' typed emitters included). */
export function nextEvent<Args extends unknown[] = unknown[]>(
  emitter: { once(event: string, listener: (...args: Args) => void): unknown },
  event: string,
): Promise<Args> {
  return new Promise((resolve) => emitter.once(event, (...args: Args) => resolve(args)));
}
