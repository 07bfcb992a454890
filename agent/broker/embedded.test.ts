import { once } from 'node:events';
import net from 'node:net';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import { nextEvent } from '../mqtt/testkit.js';
import { startEmbeddedBroker } from './embedded.js';

describe('startEmbeddedBroker', () => {
  it('serves MQTT over TCP and WebSocket on one broker', async () => {
    const broker = await startEmbeddedBroker({ log: silentLogger, logins: false });
    try {
      expect(broker.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      expect(broker.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      const overWs = await mqtt.connectAsync(broker.wsUrl, { protocolVersion: 4, reconnectPeriod: 0 });
      const overTcp = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
      await overWs.subscribeAsync('guest/inbox', { qos: 1 });
      const received = nextEvent<[string, Buffer]>(overWs, 'message');
      await overTcp.publishAsync('guest/inbox', 'hello', { qos: 1 });
      const [topic, payload] = await received;
      expect([topic, payload.toString()]).toEqual(['guest/inbox', 'hello']);
      await Promise.all([overWs.endAsync(), overTcp.endAsync()]);
    } finally {
      await broker.stop();
    }
  });

  it('closes the connection of a client that sends a packet over the size limit, and only that one', async () => {
    const broker = await startEmbeddedBroker({ log: silentLogger, logins: false, maxPacketBytes: 4096 });
    try {
      const listener = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
      await listener.subscribeAsync('t/#', { qos: 1 });
      const messages: string[] = [];
      listener.on('message', (topic) => messages.push(topic));

      for (const url of [broker.url, broker.wsUrl]) {
        const offender = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
        offender.on('error', () => {}); // the broker resets the connection
        const closed = nextEvent(offender, 'close');
        offender.publish('t/big', Buffer.alloc(100_000), { qos: 0 });
        await closed;
        await offender.endAsync(true);
      }
      const fine = nextEvent(listener, 'message');
      const sender = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
      await sender.publishAsync('t/small', Buffer.alloc(3000), { qos: 1 });
      await fine;
      expect(messages).toEqual(['t/small']);
      await Promise.all([listener.endAsync(), sender.endAsync()]);
    } finally {
      await broker.stop();
    }
  });

  it('stops cleanly, closing even connections that never sent CONNECT, and can start again on the same port', async () => {
    const broker = await startEmbeddedBroker({ log: silentLogger, logins: false });
    const port = Number(new URL(broker.url).port);
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const silent = net.connect(port, '127.0.0.1');
    await once(silent, 'connect');
    const silentClosed = once(silent, 'close');
    const clientClosed = nextEvent(client, 'close');

    await broker.stop();
    await Promise.all([silentClosed, clientClosed]);
    const refused = net.connect(port, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    await client.endAsync(true);

    const again = await startEmbeddedBroker({ port, log: silentLogger, logins: false });
    expect(again.url).toBe(broker.url);
    const back = await mqtt.connectAsync(again.url, { protocolVersion: 4, reconnectPeriod: 0 });
    await back.endAsync();
    await again.stop();
  });

  it('refuses MQTT 5 with CONNACK "unacceptable protocol version" (aedes 1.x speaks 3.1.1)', async () => {
    const broker = await startEmbeddedBroker({ log: silentLogger, logins: false });
    try {
      const error = await mqtt
        .connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 }, false)
        .catch((e: Error & { code?: number }) => e);
      expect(error).toMatchObject({ code: 1 });
    } finally {
      await broker.stop();
    }
  });
});
