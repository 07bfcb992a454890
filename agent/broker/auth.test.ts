// The embedded broker's logins and rules on a real aedes: a gateway login owns its client id and its
// availability, state and reply topics; guests send small non-retained tokens and read states,
// availability and their own replies only (RELIABILITY 19 and 20 on aedes).

import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import { nextEvent, type Received, Recorder } from '../mqtt/testkit.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded.js';
import { GUEST_CLIENT_ID_PREFIX } from './rules.js';

let broker: EmbeddedBroker;
let clients: MqttClient[] = [];
let seq = 0;

beforeAll(async () => {
  broker = await startEmbeddedBroker({
    log: silentLogger,
    logins: {
      prefix: 'latchkey',
      gateways: [
        { gatewayId: 'gw-a', password: 'pw-a' },
        { gatewayId: 'gw-b', password: 'pw-b' },
      ],
      guest: { username: 'guest', password: 'guest-pw' },
    },
  });
});
afterAll(() => broker.stop());
afterEach(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  clients = [];
});

async function connect(options: IClientOptions) {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, ...options });
  client.on('error', () => {});
  clients.push(client);
  const received = new Recorder<Received>(3_000);
  client.on('message', (topic, payload, packet) =>
    received.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos }),
  );
  return { client, received };
}
const gateway = (id: 'gw-a' | 'gw-b') =>
  connect({ username: id, password: id === 'gw-a' ? 'pw-a' : 'pw-b', clientId: `latchkey-${id}` });
const guestId = () => `${GUEST_CLIENT_ID_PREFIX}${++seq}x${Math.random().toString(36).slice(2, 10)}`;
const guest = (clientId = guestId()) => connect({ username: 'guest', password: 'guest-pw', clientId });
const refused = (options: IClientOptions) =>
  mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, ...options }).then(
    async (c) => {
      await c.endAsync(true);
      return 'accepted';
    },
    (e: Error & { code?: number }) => e.code,
  );
/** SUBACK return codes: 0/1 granted, 128 refused. */
const granted = (client: MqttClient, topic: string) =>
  client.subscribeAsync(topic, { qos: 1 }).then(
    (grants) => grants[0]?.qos,
    () => 128, // mqtt.js rejects a refused subscription
  );

describe('embedded broker logins', () => {
  it('refuses anonymous clients, wrong passwords and a non-loopback listener without logins', async () => {
    expect(await refused({})).toBe(5);
    expect(await refused({ username: 'guest', password: 'nope', clientId: guestId() })).toBe(4);
    expect(await refused({ username: 'gw-a', password: 'pw-b', clientId: 'latchkey-gw-a' })).toBe(4);
    await expect(startEmbeddedBroker({ log: silentLogger, logins: false, host: '0.0.0.0' })).rejects.toThrow(
      /without logins/,
    );
  });

  it("keeps a gateway's client id for its login: no guest, no other gateway takes it", async () => {
    const a = await gateway('gw-a');
    let closed = false;
    a.client.on('close', () => {
      closed = true;
    });
    expect(await refused({ username: 'guest', password: 'guest-pw', clientId: 'latchkey-gw-a' })).toBe(2);
    expect(await refused({ username: 'gw-b', password: 'pw-b', clientId: 'latchkey-gw-a' })).toBe(2);
    expect(await refused({ username: 'gw-a', password: 'pw-a', clientId: 'latchkey-other' })).toBe(2);
    await a.client.publishAsync('latchkey/gw-a/availability', 'online', { qos: 1, retain: true });
    expect(closed).toBe(false);
  });

  it('does not let a guest displace another guest by taking its client id', async () => {
    const id = guestId();
    const first = await guest(id);
    expect(await refused({ username: 'guest', password: 'guest-pw', clientId: id })).toBe(2);
    expect(await granted(first.client, 'latchkey/+/availability')).toBe(1);
    expect(await refused({ username: 'guest', password: 'guest-pw', clientId: 'has space' })).toBe(2);
  });
});

describe('embedded broker rules', () => {
  it('lets a gateway publish only its own availability, states and replies (RELIABILITY 19)', async () => {
    const a = await gateway('gw-a');
    const watch = await guest();
    await watch.client.subscribeAsync(['latchkey/+/+/state', 'latchkey/+/availability'], { qos: 1 });
    a.client.publish('latchkey/gw-b/1/state', 'forged', { qos: 0 });
    await nextEvent(a.client, 'close'); // a gateway breaking the rules is disconnected
    const again = await gateway('gw-a');
    await again.client.publishAsync('latchkey/gw-a/1/state', 'mine', { qos: 1, retain: true });
    await watch.received.waitFor((m) => m.payload === 'mine');
    expect(watch.received.items.filter((m) => m.topic.endsWith('/state')).map((m) => m.payload)).toEqual([
      'mine',
    ]);
    expect(await granted(again.client, 'latchkey/gw-a/+/access')).toBe(1);
    expect(await granted(again.client, 'latchkey/gw-b/+/access')).toBe(128);
    expect(await granted(again.client, '#')).toBe(128);
  });

  it('lets a guest send tokens and read states, availability and its own replies, nothing else', async () => {
    const a = await gateway('gw-a');
    await a.client.subscribeAsync('latchkey/gw-a/+/access', { qos: 1 });
    const me = guestId();
    const g = await guest(me);
    for (const topic of [
      '#',
      'latchkey/#',
      'latchkey/gw-a/+/access',
      'latchkey/+/+/reply/#',
      `latchkey/gw-a/1/reply/${guestId()}/+`,
      '$SYS/#',
    ])
      expect(await granted(g.client, topic), topic).toBe(128);
    for (const topic of ['latchkey/+/+/state', 'latchkey/gw-a/availability', `latchkey/gw-a/+/reply/${me}/+`])
      expect(await granted(g.client, topic), topic).toBe(1);

    await g.client.publishAsync('latchkey/gw-a/1/access', `{"id":"${me}/1"}`, { qos: 1 });
    await a.received.waitFor((m) => m.topic === 'latchkey/gw-a/1/access');
    await a.client.publishAsync(`latchkey/gw-a/1/reply/${me}/1`, 'ok', { qos: 1 });
    await g.received.waitFor((m) => m.topic === `latchkey/gw-a/1/reply/${me}/1`);
  });

  it('disconnects a guest that forges a reply or a state, publishes retained or too large (RELIABILITY 20)', async () => {
    const a = await gateway('gw-a');
    await a.client.subscribeAsync('latchkey/gw-a/+/access', { qos: 1 });
    const victim = guestId();
    const listener = await guest(victim);
    await listener.client.subscribeAsync([`latchkey/gw-a/1/reply/${victim}/+`, 'latchkey/gw-a/9/state'], {
      qos: 1,
    });
    for (const [topic, payload, retain] of [
      [`latchkey/gw-a/1/reply/${victim}/1`, '{"status":"ok","data":{}}', false],
      ['latchkey/gw-a/9/state', '{"relay":"closed"}', true],
      ['latchkey/gw-a/availability', 'offline', true],
      ['latchkey/gw-a/1/access', 'retained token', true],
      ['latchkey/gw-a/1/access', 'x'.repeat(5000), false],
      ['latchkey/gw-z/1/access', 'to no gateway', false],
    ] as const) {
      const forger = await guest();
      const closed = nextEvent(forger.client, 'close');
      forger.client.publish(topic, payload, { qos: 1, retain });
      await closed;
    }
    // Nothing arrived; a late subscriber gets no retained token either.
    await (await guest()).client.publishAsync('latchkey/gw-a/1/access', 'marker', { qos: 1 });
    await a.received.waitFor((m) => m.payload === 'marker');
    expect(a.received.items.map((m) => m.payload)).toEqual(['marker']);
    expect(listener.received.items).toEqual([]);
    const late = await gateway('gw-b');
    expect(await granted(late.client, 'latchkey/gw-b/+/access')).toBe(1);
  });
});
