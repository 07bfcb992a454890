import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodePayload, parseToken } from '../access/token.js';
import { startEmbeddedBroker } from '../broker/embedded.js';
import { silentLogger } from '../log.js';
import { type AccessHandler, MqttBus, type MqttBusEvents, type MqttBusOptions } from './bus.js';
import {
  type BrokerUnderTest,
  RawClient,
  Recorder,
  startAedes,
  startMosquittoBroker,
  tcpGate,
  watcher,
} from './testkit.js';
import { type DeviceStateLike, decodeReply, decodeState, Topics } from './topics.js';

interface Call {
  deviceId: bigint;
  payload: string;
  source: string;
}

const topics = new Topics();
const token = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, nonce: id, ...extra });
const state = (usedSeconds: number): DeviceStateLike => ({
  deviceId: 1n,
  kind: 'socket',
  relay: usedSeconds % 2 === 0 ? 'open' : 'closed',
  rentalId: 7n,
  usedSeconds,
  energyWh: 0,
});

describe.each([
  { name: 'aedes (embedded, MQTT 3.1.1)', start: startAedes },
  { name: 'Mosquitto (MQTT 5)', start: startMosquittoBroker },
])('MqttBus on $name', ({ start }) => {
  let broker: BrokerUnderTest;
  let cleanups: (() => Promise<unknown>)[] = [];
  let gatewaySeq = 0;

  beforeAll(async () => {
    broker = await start();
  });
  afterAll(() => broker.stop());
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    vi.restoreAllMocks();
  });

  /** A started, connected bus on a fresh gateway id, recording handler calls and events. */
  async function startBus(overrides: Partial<MqttBusOptions> = {}) {
    const gatewayId = overrides.gatewayId ?? `gw${++gatewaySeq}`;
    const calls = new Recorder<Call>();
    const dropped = new Recorder<MqttBusEvents['dropped'][0]>();
    const onAccess: AccessHandler = async (deviceId, payload, source, reply) => {
      calls.push({ deviceId, payload: payload.toString(), source });
      await reply({ status: 'ok', data: { handled: JSON.parse(payload.toString()).id } });
    };
    const bus = new MqttBus({
      url: broker.url,
      gatewayId,
      deviceIds: [1n, 2n],
      onAccess,
      log: silentLogger,
      reconnect: { initialMs: 20, maxMs: 200 },
      ...overrides,
    });
    bus.on('dropped', (event) => dropped.push(event));
    const fallbacks: string[] = [];
    bus.on('fallback', ({ reason }) => fallbacks.push(reason));
    const connected = once(bus, 'connected');
    await bus.start();
    cleanups.push(() => bus.stop());
    await connected;
    return {
      bus,
      gatewayId,
      calls,
      dropped,
      fallbacks,
      access: (device = 1n) => topics.access(gatewayId, device),
    };
  }

  async function guest(options: mqtt.IClientOptions = {}) {
    const client = await mqtt.connectAsync(broker.url, {
      protocolVersion: 4,
      reconnectPeriod: 50,
      ...options,
    });
    cleanups.push(() => client.endAsync(true));
    return client;
  }

  /** Publishes a marker after the messages under test and waits until the bus handled it: MQTT keeps
   *  one publisher's QoS 1 messages in order, so everything sent before it has been through the bus. */
  async function drain(
    publish: (topic: string, payload: string) => Promise<unknown>,
    t: { access: () => string; calls: Recorder<Call> },
  ) {
    const marker = `marker-${Math.random().toString(36).slice(2)}`;
    await publish(t.access(), token(marker));
    await t.calls.waitFor((call) => call.payload.includes(marker));
  }

  it('speaks MQTT 5 to a broker that does, and falls back to 3.1.1 when refused', async () => {
    const t = await startBus();
    expect(t.bus.protocolVersion).toBe(broker.speaks);
    expect(t.fallbacks.length).toBe(broker.speaks === 5 ? 0 : 1);
  });

  it('hands an access message to the handler once and replies on reply/<id>', async () => {
    const t = await startBus();
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/1/reply/+`]);
    cleanups.push(() => requester.client.endAsync(true));
    const sender = await guest();

    await sender.publishAsync(t.access(), token('req-1'), { qos: 1 });
    const reply = await requester.received.waitFor((m) => m.topic.endsWith('/reply/req-1'));
    await drain((topic, payload) => sender.publishAsync(topic, payload, { qos: 1 }), t);

    expect(decodeReply(reply.payload)).toEqual({ status: 'ok', data: { handled: 'req-1' } });
    expect(reply.retain).toBe(false);
    const handled = t.calls.items.filter((call) => call.payload.includes('req-1'));
    expect(handled).toEqual([{ deviceId: 1n, payload: token('req-1'), source: 'mqtt:reply/req-1' }]);
  });

  it('answers every request id the token parser accepts, each character class and a UTF-8 BOM', async () => {
    // The token parser and the reply topics follow one grammar: a reply goes out for every id it takes.
    const ids = [
      'UPPER',
      'lower',
      '0123456789',
      'a.b',
      'a_b',
      'a~b',
      'a:b',
      'a-b',
      'x'.repeat(64),
      'owner-1/42',
    ];
    const t = await startBus({
      onAccess: async (_deviceId, payload, _source, reply) => {
        const decoded = decodePayload(payload);
        const parsed = decoded.ok ? parseToken(decoded.value) : decoded;
        await reply({
          status: 'error',
          error: { code: 'malformed', message: parsed.ok ? '' : parsed.message },
        });
      },
    });
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/1/reply/#`]);
    cleanups.push(() => requester.client.endAsync(true));
    const sender = await guest();
    const body = (id: string) => JSON.stringify({ id, access: {} });
    for (const id of ids) {
      await sender.publishAsync(t.access(), body(id), { qos: 1 });
      const reply = await requester.received.waitFor(
        (m) => m.topic === `latchkey/${t.gatewayId}/1/reply/${id}`,
        id,
      );
      // refused for its missing fields, not for its id
      expect(decodeReply(reply.payload), id).toMatchObject({
        error: { message: 'access.rentalId is missing' },
      });
    }
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body('bom-1'))]);
    await sender.publishAsync(t.access(), bom, { qos: 1 });
    const reply = await requester.received.waitFor(
      (m) => m.topic.endsWith('/reply/bom-1'),
      'a reply to a BOM token',
    );
    expect(decodeReply(reply.payload)).toMatchObject({ error: { message: 'access.rentalId is missing' } });
  });

  it.runIf(startMosquittoBroker === start)(
    'replies to the MQTT 5 response topic with the correlation data, naming the source user property',
    async () => {
      const t = await startBus();
      const requester = await watcher(broker.url, ['guest/7/inbox'], { protocolVersion: 5 });
      cleanups.push(() => requester.client.endAsync(true));

      await requester.client.publishAsync(t.access(2n), token('req-5'), {
        qos: 1,
        properties: {
          responseTopic: 'guest/7/inbox',
          correlationData: Buffer.from('corr-5'),
          userProperties: { source: 'guest-7' },
        },
      });
      const reply = await requester.received.waitFor((m) => m.topic === 'guest/7/inbox');

      expect(reply.correlationData).toBe('corr-5');
      expect(decodeReply(reply.payload)).toEqual({ status: 'ok', data: { handled: 'req-5' } });
      expect(t.calls.items).toEqual([{ deviceId: 2n, payload: token('req-5'), source: 'mqtt:guest-7' }]);
    },
  );

  it('runs the handler once for a QoS 1 retransmit of the same packet (DUP) and answers it again', async () => {
    const t = await startBus();
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/1/reply/+`]);
    cleanups.push(() => requester.client.endAsync(true));
    const raw = await RawClient.connect(broker.url, `raw-${t.gatewayId}`);
    cleanups.push(() => raw.end());

    // The publisher missed the PUBACK and retransmits: same message id, DUP set. Brokers forward
    // both (QoS 1 is at-least-once), so the bus sees the token twice.
    await raw.publish(t.access(), token('dup-1'), 42);
    await raw.publish(t.access(), token('dup-1'), 42, true);
    await drain((topic, payload) => raw.publish(topic, payload, 43), t);

    expect(t.calls.items.filter((call) => call.payload.includes('dup-1'))).toHaveLength(1);
    expect(t.dropped.items.map((event) => event.reason)).toEqual(['duplicate']);
    const replies = await requester.received.waitForCount((m) => m.topic.endsWith('/reply/dup-1'), 2);
    expect(replies.map((m) => m.payload)).toEqual([replies[0]?.payload, replies[0]?.payload]);
    expect(decodeReply(replies[0]?.payload ?? '')).toEqual({ status: 'ok', data: { handled: 'dup-1' } });
  });

  it('checks a refused token sent again after the refusal memory, instead of replaying the refusal', async () => {
    let first = true;
    const t = await startBus({
      refusalMemoryMs: 50,
      onAccess: async (_deviceId, payload, _source, reply) => {
        t.calls.push({ deviceId: 1n, payload: payload.toString(), source: '' });
        // The rental is not confirmed the first time, and is the second.
        await reply(
          first
            ? { status: 'error', error: { code: 'unknown-rental', message: 'not confirmed yet' } }
            : { status: 'ok', data: { relay: 'closed' } },
        );
        first = false;
      },
    });
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/1/reply/+`]);
    cleanups.push(() => requester.client.endAsync(true));
    const sender = await guest();
    await sender.publishAsync(t.access(), token('again'), { qos: 1 });
    const refused = await requester.received.waitFor((m) => m.topic.endsWith('/again'));
    await new Promise((resolve) => setTimeout(resolve, 500)); // well past the 50 ms refusal memory
    await sender.publishAsync(t.access(), token('again'), { qos: 1 });
    const replies = await requester.received.waitForCount((m) => m.topic.endsWith('/again'), 2);

    expect(decodeReply(refused.payload)).toMatchObject({
      status: 'error',
      error: { code: 'unknown-rental' },
    });
    expect(decodeReply(replies[1]?.payload ?? '')).toEqual({ status: 'ok', data: { relay: 'closed' } });
    expect(t.calls.items).toHaveLength(2);
    expect(t.dropped.items).toEqual([]);
  });

  it('ignores a retained access message present at subscribe, and clears it', async () => {
    const gatewayId = `gw${++gatewaySeq}`;
    const stale = await guest();
    await stale.publishAsync(topics.access(gatewayId, 1n), token('stale-unlock'), { qos: 1, retain: true });
    const accessWatch = await watcher(broker.url, [topics.access(gatewayId, 1n)]);
    cleanups.push(() => accessWatch.client.endAsync(true));
    await accessWatch.received.waitFor((m) => m.retain);

    const t = await startBus({ gatewayId });
    await drain((topic, payload) => stale.publishAsync(topic, payload, { qos: 1 }), t);

    expect(t.calls.items.some((call) => call.payload.includes('stale-unlock'))).toBe(false);
    expect(t.dropped.items.map((event) => event.reason)).toContain('retained');
    await accessWatch.received.waitFor((m) => m.payload === '' && !m.retain, 'the retained token cleared');
    const late = await watcher(broker.url, [topics.access(gatewayId, 1n)]);
    cleanups.push(() => late.client.endAsync(true));
    await stale.publishAsync(topics.access(gatewayId, 1n), 'probe', { qos: 1 });
    await late.received.waitFor((m) => m.payload === 'probe');
    expect(late.received.items.map((m) => m.payload)).toEqual(['probe']);
  });

  it('drops an oversized payload before the handler sees it', async () => {
    const t = await startBus({ maxPayloadBytes: 1024 });
    const sender = await guest();
    await sender.publishAsync(t.access(), token('big', { pad: 'x'.repeat(2000) }), { qos: 1 });
    await drain((topic, payload) => sender.publishAsync(topic, payload, { qos: 1 }), t);
    expect(t.calls.items.some((call) => call.payload.includes('"big"'))).toBe(false);
    expect(t.dropped.items).toEqual([{ topic: t.access(), reason: 'oversized', bytes: expect.any(Number) }]);
  });

  it('drops an oversized payload at the broker when MQTT 5 announces the maximum packet size', async () => {
    const t = await startBus({ maxPayloadBytes: 1024 });
    const sender = await guest();
    // Far over maximumPacketSize: a v5 broker never sends it; a 3.1.1 broker does and the bus drops it.
    await sender.publishAsync(t.access(), token('huge', { pad: 'x'.repeat(8000) }), { qos: 1 });
    await drain((topic, payload) => sender.publishAsync(topic, payload, { qos: 1 }), t);
    expect(t.calls.items.some((call) => call.payload.includes('"huge"'))).toBe(false);
    expect(t.dropped.items.filter((event) => event.reason === 'oversized')).toHaveLength(
      t.bus.protocolVersion === 5 ? 0 : 1,
    );
  });

  it('publishes availability online, and the broker publishes the last will offline when the process dies', async () => {
    const gatewayId = `gw${++gatewaySeq}`;
    const availability = topics.availability(gatewayId);
    const watch = await watcher(broker.url, [availability]);
    cleanups.push(() => watch.client.endAsync(true));
    const fixture = fileURLToPath(new URL('./busProcess.fixture.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, broker.url, gatewayId], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(async () => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    await vi.waitFor(() => expect(out).toContain('connected'), { timeout: 20_000, interval: 20 });
    await watch.received.waitFor((m) => m.payload === 'online');

    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    const will = await watch.received.waitFor((m) => m.payload === 'offline');
    expect(will.topic).toBe(availability);

    const late = await watcher(broker.url, [availability]);
    cleanups.push(() => late.client.endAsync(true));
    expect(await late.received.waitFor((m) => m.retain)).toMatchObject({ payload: 'offline', retain: true });
  });

  it('publishes offline on a clean stop', async () => {
    const t = await startBus();
    const watch = await watcher(broker.url, [topics.availability(t.gatewayId)]);
    cleanups.push(() => watch.client.endAsync(true));
    await watch.received.waitFor((m) => m.payload === 'online');
    await t.bus.stop();
    await watch.received.waitFor((m) => m.payload === 'offline');
    expect(t.bus.connected).toBe(false);
  });

  it('publishes device state retained, bigints as decimal strings', async () => {
    const t = await startBus();
    t.bus.publishState(1n, state(5));
    const watch = await watcher(broker.url, [topics.state(t.gatewayId, 1n)]);
    cleanups.push(() => watch.client.endAsync(true));
    const received = await watch.received.waitFor((m) => m.retain);
    expect(decodeState(received.payload)).toEqual({
      deviceId: '1',
      kind: 'socket',
      relay: 'closed',
      status: 'on',
      rentalId: '7',
      usedSeconds: 5,
      energyWh: 0,
    });
    expect(() => t.bus.publishState(9n, { ...state(1), deviceId: 9n })).toThrow(/not served/);
  });

  it('after a broker restart: reconnects, resubscribes, re-publishes availability and only the latest state', async () => {
    const gate = await tcpGate(broker.url);
    cleanups.push(() => gate.close());
    const t = await startBus({ url: gate.url });
    t.bus.publishState(1n, state(1));
    const probe = `probe/${t.gatewayId}`;
    const watch = await watcher(broker.url, [
      topics.state(t.gatewayId, 1n),
      topics.availability(t.gatewayId),
      probe,
    ]);
    cleanups.push(() => watch.client.endAsync(true));
    await watch.received.waitFor((m) => m.payload.includes('"usedSeconds":1'));

    const disconnected = once(t.bus, 'disconnected');
    const reconnected = once(t.bus, 'connected');
    await broker.restart(async () => {
      await disconnected;
      gate.hold(); // the bus reconnects only once the watcher is back and subscribed
      t.bus.publishState(1n, state(2)); // superseded while offline: must never be published
      t.bus.publishState(1n, state(3));
    });
    await vi.waitFor(() => expect(watch.client.connected).toBe(true), { timeout: 10_000, interval: 10 });
    await vi.waitFor(
      async () => {
        await watch.client.publishAsync(probe, 'here', { qos: 1 });
        expect(watch.received.items.some((m) => m.topic === probe)).toBe(true);
      },
      { timeout: 10_000, interval: 20 },
    );
    watch.received.clear();
    gate.release();
    await reconnected;

    await watch.received.waitFor((m) => m.payload === 'online', 'availability online');
    await watch.received.waitFor((m) => m.payload.includes('"usedSeconds":3'), 'the latest state');
    const sender = await guest();
    await sender.publishAsync(t.access(), token('after-restart'), { qos: 1 });
    await drain((topic, payload) => sender.publishAsync(topic, payload, { qos: 1 }), t);

    expect(t.calls.items.filter((call) => call.payload.includes('after-restart'))).toHaveLength(1);
    const states = watch.received.items.filter((m) => m.topic.endsWith('/state'));
    expect(states.map((m) => decodeState(m.payload).usedSeconds)).toEqual([3]);
  });

  it('keeps no sockets or listeners from earlier connections across repeated broker restarts', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    cleanups.push(async () => process.off('warning', onWarning));
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const t = await startBus();
    const baseline = sockets();
    for (let i = 0; i < 12; i++) {
      const disconnected = once(t.bus, 'disconnected');
      const reconnected = once(t.bus, 'connected');
      await broker.restart(async () => {
        await disconnected;
      });
      await reconnected;
    }
    // No growth (a leak adds one per restart); fewer is fine: sockets of earlier tests may still have
    // been closing when the baseline was taken.
    await vi.waitFor(() => expect(sockets()).toBeLessThanOrEqual(baseline), {
      timeout: 10_000,
      interval: 20,
    });
    const sender = await guest();
    await drain((topic, payload) => sender.publishAsync(topic, payload, { qos: 1 }), t);
    expect(warnings).toEqual([]);
  });

  it('answers internal when the handler throws, and counts only the first reply', async () => {
    const handlerCalls = new Recorder<string>();
    const t = await startBus({
      onAccess: async (_deviceId, payload, _source, reply) => {
        const { id } = JSON.parse(payload.toString()) as { id: string };
        handlerCalls.push(id);
        if (id === 'boom') throw new Error('handler bug');
        await reply({ status: 'error', error: { code: 'nonce-used', message: 'used' } });
        await reply({ status: 'ok', data: 'second' });
      },
    });
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/1/reply/+`]);
    cleanups.push(() => requester.client.endAsync(true));
    const sender = await guest();
    await sender.publishAsync(t.access(), token('boom'), { qos: 1 });
    await sender.publishAsync(t.access(), token('twice'), { qos: 1 });
    const boom = await requester.received.waitFor((m) => m.topic.endsWith('/boom'));
    const twice = await requester.received.waitFor((m) => m.topic.endsWith('/twice'));
    await sender.publishAsync(t.access(), token('last'), { qos: 1 });
    await requester.received.waitFor((m) => m.topic.endsWith('/last'));

    expect(decodeReply(boom.payload)).toMatchObject({ status: 'error', error: { code: 'internal' } });
    expect(decodeReply(twice.payload)).toMatchObject({ status: 'error', error: { code: 'nonce-used' } });
    expect(requester.received.items.filter((m) => m.topic.endsWith('/twice'))).toHaveLength(1);
  });

  it('answers ok at QoS 1, refusals at QoS 0, and rate-limited refusals not at all', async () => {
    const t = await startBus({
      onAccess: async (_deviceId, payload, _source, reply) => {
        const { id } = JSON.parse(payload.toString()) as { id: string };
        if (id.startsWith('ok')) await reply({ status: 'ok', data: id });
        else if (id.startsWith('bad'))
          await reply({ status: 'error', error: { code: 'not-renter', message: 'no' } });
        else await reply({ status: 'error', error: { code: 'rate-limited', message: 'slow down' } });
      },
    });
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/1/reply/+`]);
    cleanups.push(() => requester.client.endAsync(true));
    const sender = await guest();
    for (const id of ['ok-1', 'bad-1', 'limited-1', 'limited-2', 'ok-2'])
      await sender.publishAsync(t.access(), token(id), { qos: 1 });
    // Replies leave in the order the requests were handled: once ok-2's is in, any to the others is too.
    await requester.received.waitFor((m) => m.topic.endsWith('/ok-2'));

    const got = requester.received.items.map((m) => [m.topic.slice(m.topic.lastIndexOf('/') + 1), m.qos]);
    expect(got).toEqual([
      ['ok-1', 1],
      ['bad-1', 0],
      ['ok-2', 1],
    ]);
  });

  it('answers refusals per device only within its refusal-reply budget, counting the rest, and every ok', async () => {
    const t = await startBus({
      refusalReplies: { burst: 3, perSecond: 0.001 },
      onAccess: async (_deviceId, payload, _source, reply) => {
        const { id } = JSON.parse(payload.toString()) as { id: string };
        if (id.startsWith('ok')) await reply({ status: 'ok', data: id });
        else await reply({ status: 'error', error: { code: 'bad-signature', message: 'forged' } });
      },
    });
    const withheld: MqttBusEvents['withheld'][0][] = [];
    t.bus.on('withheld', (w) => withheld.push(w));
    const requester = await watcher(broker.url, [`latchkey/${t.gatewayId}/+/reply/+`]);
    cleanups.push(() => requester.client.endAsync(true));
    const sender = await guest();
    for (let i = 0; i < 10; i++) await sender.publishAsync(t.access(1n), token(`forged-${i}`), { qos: 1 });
    await sender.publishAsync(t.access(2n), token('forged-other-device'), { qos: 1 });
    await sender.publishAsync(t.access(1n), token('ok-1'), { qos: 1 });
    // Replies leave in the order the requests were handled: once ok-1's is in, any to the others is too.
    await requester.received.waitFor((m) => m.topic.endsWith('/ok-1'));

    const got = requester.received.items.map((m) => m.topic.split('/').slice(-3).join('/'));
    expect(got).toEqual([
      '1/reply/forged-0',
      '1/reply/forged-1',
      '1/reply/forged-2',
      '2/reply/forged-other-device',
      '1/reply/ok-1',
    ]);
    expect(withheld).toEqual(Array.from({ length: 7 }, () => ({ deviceId: 1n, code: 'bad-signature' })));
  });

  it('turns off Nagle (TCP_NODELAY) on its socket to the broker', async () => {
    const setNoDelay = vi.spyOn(net.Socket.prototype, 'setNoDelay');
    await startBus();
    const port = Number(new URL(broker.url).port);
    const onBrokerSocket = setNoDelay.mock.contexts.filter(
      (socket) => (socket as net.Socket).remotePort === port,
    );
    expect(onBrokerSocket.length).toBeGreaterThan(0);
    for (const [i, socket] of setNoDelay.mock.contexts.entries()) {
      if ((socket as net.Socket).remotePort === port) expect(setNoDelay.mock.calls[i]).toEqual([true]);
    }
  });
});

describe('MqttBus protocol fallback', () => {
  it('falls back to 3.1.1 when a broker hangs up on an MQTT 5 CONNECT without a CONNACK', async () => {
    const aedes = await startEmbeddedBroker({ log: silentLogger, logins: false });
    const target = new URL(aedes.url);
    // A 3.1.1-only front that closes v5 connections: protocol level is byte 8 of a short CONNECT.
    const front = net.createServer((socket) => {
      socket.once('data', (first) => {
        if (first[8] === 5) return socket.destroy();
        const upstream = net.connect(Number(target.port), target.hostname);
        upstream.write(first);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
    });
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    const url = `mqtt://127.0.0.1:${(front.address() as net.AddressInfo).port}`;
    const bus = new MqttBus({
      url,
      gatewayId: 'front',
      deviceIds: [1n],
      onAccess: () => {},
      log: silentLogger,
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    const fallback = once(bus, 'fallback');
    const connected = once(bus, 'connected');
    try {
      await bus.start();
      expect((await fallback)[0].reason).toMatch(/before CONNACK/);
      expect((await connected)[0].protocolVersion).toBe(4);
    } finally {
      await bus.stop();
      front.close();
      await aedes.stop();
    }
  });
});
