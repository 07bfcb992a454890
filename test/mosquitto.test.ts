import mqtt, { type IPublishPacket } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { nextEvent } from '../agent/mqtt/testkit.js';
import { startMosquitto } from './mosquitto.js';

describe('startMosquitto', () => {
  it('runs a real Mosquitto with MQTT 5 over TCP and WebSocket, and restarts it on the same port', async () => {
    const broker = await startMosquitto({ wsPort: 0 });
    try {
      const overWs = await mqtt.connectAsync(broker.wsUrl ?? '', { protocolVersion: 5, reconnectPeriod: 0 });
      const overTcp = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
      await overWs.subscribeAsync('t', { qos: 1 });
      const received = nextEvent<[string, Buffer]>(overWs, 'message');
      await overTcp.publishAsync('t', 'over tcp', { qos: 1, retain: true });
      expect((await received)[1].toString()).toBe('over tcp');

      const closed = nextEvent(overTcp, 'close');
      await broker.restart();
      await closed;
      const after = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
      await after.subscribeAsync('t', { qos: 1 });
      const next = nextEvent<[string, Buffer, IPublishPacket]>(after, 'message');
      await after.publishAsync('t', 'after restart', { qos: 1 });
      const [, payload, packet] = await next;
      // No persistence: the retained message did not survive the restart.
      expect([payload.toString(), packet.retain]).toEqual(['after restart', false]);
      await Promise.all([overWs.endAsync(true), overTcp.endAsync(true), after.endAsync()]);
    } finally {
      await broker.stop();
    }
  });

  it('disconnects a client that sends a packet over max_packet_size', async () => {
    const broker = await startMosquitto({ maxPacketBytes: 4096 });
    try {
      const offender = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
      offender.on('error', () => {}); // the broker resets the connection
      const closed = nextEvent(offender, 'close');
      offender.publish('t', Buffer.alloc(10_000), { qos: 0 });
      await closed;
      await offender.endAsync(true);
    } finally {
      await broker.stop();
    }
  });

  it('fails with a message saying how to install Mosquitto when it is missing', async () => {
    await expect(startMosquitto({ bin: '/nonexistent/mosquitto' })).rejects.toThrow(
      /apt-get install mosquitto/,
    );
  });
});
