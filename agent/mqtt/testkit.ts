// Helpers for the MQTT tests: the two real brokers behind one shape, a recorder to await what arrives,
// and a raw MQTT client that writes exactly the packets a test chooses (e.g. a DUP retransmit).

import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
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
  let broker = await startEmbeddedBroker({ log: silentLogger });
  const port = Number(new URL(broker.url).port);
  return {
    name: 'aedes',
    url: broker.url,
    speaks: 4,
    restart: async (whileDown) => {
      await broker.stop();
      await whileDown?.();
      broker = await startEmbeddedBroker({ port, log: silentLogger });
    },
    stop: () => broker.stop(),
  };
}

export async function startMosquittoBroker(): Promise<BrokerUnderTest> {
  const broker = await startMosquitto();
  return { name: 'mosquitto', url: broker.url, speaks: 5, restart: broker.restart, stop: broker.stop };
}

/** Collects items and lets a test await the first one matching a predicate (already seen or future). */
export class Recorder<T> {
  readonly items: T[] = [];
  private waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  push(item: T): void {
    this.items.push(item);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(item)) return true;
      waiter.resolve(item);
      return false;
    });
  }

  waitFor(match: (item: T) => boolean): Promise<T> {
    const seen = this.items.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** Resolves with the matching items once there are `count` of them. */
  async waitForCount(match: (item: T) => boolean, count: number): Promise<T[]> {
    const matching = () => this.items.filter(match);
    while (matching().length < count) {
      const seen = new Set(matching());
      await this.waitFor((item) => match(item) && !seen.has(item));
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
