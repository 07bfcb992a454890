// The files written by `latchkey mosquitto-acl` on a real Mosquitto: gateways are confined to their own
// topics and client ids, guests (over WebSocket, one login, a client id each) can only send small
// tokens and read states, availability and their own replies, cannot displace one another, and the
// agent's MqttBus works under them (RELIABILITY 19 and 20 on Mosquitto).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUEST_CLIENT_ID_PREFIX } from '../agent/broker/rules.js';
import { silentLogger } from '../agent/log.js';
import { MqttBus } from '../agent/mqtt/bus.js';
import { nextEvent, type Received, Recorder } from '../agent/mqtt/testkit.js';
import { decodeReply } from '../agent/mqtt/topics.js';
import { GUEST_USER } from '../provisioning/commands/mosquittoAcl.js';
import { cli } from '../provisioning/testCli.js';
import { type Mosquitto, startMosquitto } from './mosquitto.js';
import { freePort } from './ports.js';

let dir: string;
let broker: Mosquitto;
let password: Record<string, string>;
const clients: MqttClient[] = [];
let seq = 0;

async function generate(out: string, extra: string[] = []) {
  const port = await freePort();
  const guestPort = await freePort();
  const r = await cli([
    'mosquitto-acl',
    '--gateway',
    'gw-a',
    '--gateway',
    'gw-b',
    '--out',
    out,
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--guest-port',
    String(guestPort),
    ...extra,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const passwords: Record<string, string> = {};
  for (const [, id, secret] of r.stdout.matchAll(/^password\.(\S+): (\S+)$/gm))
    passwords[id as string] = secret as string;
  return { port, guestPort, passwords, config: readFileSync(join(out, 'mosquitto.conf'), 'utf8') };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-acl-'));
  const g = await generate(join(dir, 'broker'));
  password = g.passwords;
  expect(Object.keys(password).sort()).toEqual(['guest', 'gw-a', 'gw-b']);
  broker = await startMosquitto({ port: g.port, wsPort: g.guestPort, config: g.config });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(url: string, options: IClientOptions) {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, ...options });
  client.on('error', () => {});
  clients.push(client);
  const received = new Recorder<Received>(5_000);
  client.on('message', (topic, payload, packet) =>
    received.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos }),
  );
  return { client, received, clientId: String(options.clientId) };
}
const gateway = (id: string, clientId = `latchkey-${id}`) =>
  connect(broker.url, { username: id, password: password[id] ?? '', clientId });
const guestId = () => `${GUEST_CLIENT_ID_PREFIX}${++seq}x${Math.random().toString(36).slice(2, 10)}`;
const guest = (clientId = guestId()) =>
  connect(broker.wsUrl ?? '', { username: GUEST_USER, password: password[GUEST_USER] ?? '', clientId });
const refusedOn = (url: string, options: IClientOptions) =>
  mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, ...options }).then(
    async (c) => {
      await c.endAsync(true);
      return 'accepted';
    },
    () => 'refused',
  );
/** The SUBACK comes back on the same socket after every message queued to it before. */
const drain = (client: MqttClient) => client.subscribeAsync('latchkey/drain/+/state');

describe('latchkey mosquitto-acl on a real Mosquitto', () => {
  it('writes pattern rules for all gateways, guest rules naming them, and refuses bad ids', async () => {
    const gw = readFileSync(join(dir, 'broker', 'acl-gateways'), 'utf8');
    expect(gw).toContain('pattern write latchkey/%u/+/state');
    expect(gw).toContain('pattern read latchkey/%u/+/access');
    expect(gw).not.toContain('gw-a');
    const guests = readFileSync(join(dir, 'broker', 'acl-guests'), 'utf8');
    expect(guests).toContain('topic write latchkey/gw-a/+/access');
    expect(guests).toContain('pattern read latchkey/+/+/reply/%c/+');
    const again = await cli([
      'mosquitto-acl',
      ...['--gateway', 'guest', '--gateway', 'a/b', '--gateway', 'latchkey-x'],
      ...['--out', join(dir, 'broker'), '--tls-cert', join(dir, 'none.pem')],
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/guests' login/);
    expect(again.stderr).toMatch(/must not contain/);
    expect(again.stderr).toMatch(/must not start with latchkey-/);
    expect(again.stderr).toMatch(/already exists/);
    expect(again.stderr).toMatch(/--tls-cert and --tls-key go together/);
  });

  it('refuses anonymous clients, wrong passwords and each login on the other listener', async () => {
    for (const url of [broker.url, broker.wsUrl ?? '']) {
      expect(await refusedOn(url, { clientId: guestId() })).toBe('refused');
    }
    expect(
      await refusedOn(broker.url, {
        username: 'gw-a',
        password: password['gw-b'] ?? '',
        clientId: 'latchkey-gw-a',
      }),
    ).toBe('refused');
    expect(
      await refusedOn(broker.url, {
        username: GUEST_USER,
        password: password.guest ?? '',
        clientId: guestId(),
      }),
    ).toBe('refused');
    expect(
      await refusedOn(broker.wsUrl ?? '', {
        username: 'gw-a',
        password: password['gw-a'] ?? '',
        clientId: 'latchkey-gw-a',
      }),
    ).toBe('refused');
  });

  it('lets a gateway publish its own state and read its access topic, but not touch another gateway (RELIABILITY 19)', async () => {
    const a = await gateway('gw-a');
    const watcher = await guest();
    await watcher.client.subscribeAsync(['latchkey/+/+/state', 'latchkey/+/availability']);
    // Mosquitto grants any SUBSCRIBE and checks each delivery: gw-a listens on gw-b's tokens in vain.
    await a.client.subscribeAsync(['latchkey/gw-a/+/access', 'latchkey/gw-b/+/access'], { qos: 1 });
    await watcher.client.publishAsync('latchkey/gw-b/1/access', 'for b', { qos: 1 });

    a.client.publish('latchkey/gw-b/1/state', 'forged', { qos: 0 });
    a.client.publish('latchkey/gw-b/availability', 'offline', { qos: 0 });
    await a.client.publishAsync('latchkey/gw-a/1/state', 'mine', { qos: 1 });
    await drain(watcher.client);
    await watcher.client.publishAsync('latchkey/gw-a/1/access', 'token', { qos: 1 });
    await drain(a.client);

    expect(watcher.received.items.map((m) => `${m.topic} ${m.payload}`)).toEqual([
      'latchkey/gw-a/1/state mine',
    ]);
    expect(a.received.items.map((m) => `${m.topic} ${m.payload}`)).toEqual(['latchkey/gw-a/1/access token']);
  });

  it('lets a guest send tokens and read its own replies, but not forge replies, states or availability', async () => {
    const a = await gateway('gw-a');
    const b = await gateway('gw-b');
    await a.client.subscribeAsync('latchkey/gw-a/+/access');
    await b.client.subscribeAsync('latchkey/gw-b/+/access');
    const victim = await guest();
    await victim.client.subscribeAsync([
      `latchkey/gw-a/1/reply/${victim.clientId}/+`,
      'latchkey/gw-a/9/state',
    ]);
    const other = await guest();
    // Mosquitto grants any SUBSCRIBE and checks each delivery: none of these brings this guest a thing.
    await other.client.subscribeAsync(['#', 'latchkey/+/+/access', 'latchkey/+/+/reply/#'], { qos: 1 });

    other.client.publish(`latchkey/gw-a/1/reply/${victim.clientId}/1`, '{"status":"ok","data":{}}', {
      qos: 0,
    });
    other.client.publish('latchkey/gw-a/9/state', 'forged', { qos: 0 });
    other.client.publish('latchkey/gw-a/availability', 'offline', { qos: 0 });
    other.client.publish('latchkey/gw-z/1/access', 'to no gateway', { qos: 0 });
    await other.client.publishAsync('latchkey/gw-a/1/access', 'to-a', { qos: 1 });
    await other.client.publishAsync('latchkey/gw-b/7/access', 'to-b', { qos: 1 });
    await Promise.all([drain(a.client), drain(b.client), drain(other.client)]);
    await a.client.publishAsync(`latchkey/gw-a/1/reply/${victim.clientId}/2`, 'real', { qos: 1 });
    await victim.received.waitFor((m) => m.payload === 'real');

    expect(victim.received.items.map((m) => m.payload)).toEqual(['real']);
    expect(
      other.received.items
        .map((m) => m.topic)
        .filter((t) => !t.endsWith('/availability') && !t.endsWith('/state')),
    ).toEqual([]);
    expect(a.received.items.map((m) => m.payload)).toEqual(['to-a']);
    expect(b.received.items.map((m) => m.payload)).toEqual(['to-b']);
  });

  it("does not let another login take a gateway's client id", async () => {
    const a = await gateway('gw-a');
    let closed = false;
    a.client.on('close', () => {
      closed = true;
    });
    // gw-b's credentials with gw-a's client ids (as sent, and as the broker renamed it): both become gw-b.
    await gateway('gw-b', 'latchkey-gw-a');
    expect(
      await refusedOn(broker.url, { username: 'gw-b', password: password['gw-b'] ?? '', clientId: 'gw-a' }),
    ).toBe('refused');
    for (const clientId of ['gw-a', 'latchkey-gw-a'])
      await refusedOn(broker.wsUrl ?? '', { username: GUEST_USER, password: password.guest ?? '', clientId });
    await a.client.publishAsync('latchkey/gw-a/1/state', 'still here', { qos: 1 });
    expect(closed).toBe(false);
    // The same login does take over: the check above would have seen it.
    const kicked = nextEvent(a.client, 'close');
    await gateway('gw-a', 'latchkey-anything');
    await kicked;
  });

  it('keeps a guest served while another guest reconnects again and again', async () => {
    const a = await gateway('gw-a');
    const steady = await guest();
    await steady.client.subscribeAsync(`latchkey/gw-a/1/reply/${steady.clientId}/+`, { qos: 1 });
    for (let i = 0; i < 10; i++) {
      const flapping = await guest();
      await flapping.client.endAsync(true);
      await a.client.publishAsync(`latchkey/gw-a/1/reply/${steady.clientId}/${i}`, `r${i}`, { qos: 1 });
    }
    await steady.received.waitForCount(() => true, 10);
    expect(steady.client.connected).toBe(true);
  });

  it('drops a guest payload over the size limit and keeps no retained token (RELIABILITY 20)', async () => {
    const a = await gateway('gw-a');
    await a.client.subscribeAsync('latchkey/gw-a/+/access', { qos: 1, rap: true });
    const g = await guest();
    g.client.publish('latchkey/gw-a/1/access', 'x'.repeat(5000), { qos: 0 });
    await g.client.publishAsync('latchkey/gw-a/1/access', 'small', { qos: 1 });
    await a.received.waitFor((m) => m.payload === 'small');
    expect(a.received.items.map((m) => m.payload.length)).toEqual([5]);
  });

  it("runs the agent's MqttBus under the ACL: it answers a guest and clears a retained token", async () => {
    const bus = new MqttBus({
      url: broker.url,
      gatewayId: 'gw-a',
      deviceIds: [1n],
      username: 'gw-a',
      password: password['gw-a'] ?? '',
      log: silentLogger,
      onAccess: (_deviceId, payload, _source, reply) =>
        reply({ status: 'ok', data: { echoed: JSON.parse(payload.toString()).value } }),
    });
    const connected = nextEvent(bus, 'connected');
    const dropped = new Recorder<string>();
    bus.on('dropped', (d) => dropped.push(d.reason));
    await bus.start();
    try {
      await connected;
      const g = await guest();
      await g.client.subscribeAsync(`latchkey/gw-a/+/reply/${g.clientId}/+`, { qos: 1 });
      await g.client.publishAsync(
        'latchkey/gw-a/1/access',
        JSON.stringify({ id: `${g.clientId}/r1`, value: 42 }),
        { qos: 1 },
      );
      const reply = await g.received.waitFor((m) => m.topic.includes('/reply/'));
      expect(reply.topic).toBe(`latchkey/gw-a/1/reply/${g.clientId}/r1`);
      expect(decodeReply(reply.payload)).toEqual({ status: 'ok', data: { echoed: 42 } });

      await g.client.publishAsync(
        'latchkey/gw-a/1/access',
        JSON.stringify({ id: `${g.clientId}/r2`, value: 1 }),
        { qos: 1, retain: true },
      );
      await dropped.waitFor((r) => r === 'retained');
    } finally {
      await bus.stop();
    }
    // cleared: a gateway subscribing later finds no retained token
    const later = await gateway('gw-a');
    await later.client.subscribeAsync('latchkey/gw-a/+/access', { qos: 1 });
    await (await guest()).client.publishAsync('latchkey/gw-a/1/access', 'marker', { qos: 1 });
    await later.received.waitFor((m) => m.payload === 'marker');
    expect(later.received.items.map((m) => m.payload)).toEqual(['marker']);
  });

  it('serves both listeners over TLS with --tls-cert and --tls-key', async () => {
    const tlsDir = join(dir, 'tls');
    const out = join(dir, 'tls-broker');
    execFileSync('mkdir', ['-p', tlsDir]);
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-keyout', join(tlsDir, 'key.pem'), '-out', join(tlsDir, 'cert.pem'), '-days', '1'],
        ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    const g = await generate(out, [
      '--tls-cert',
      join(tlsDir, 'cert.pem'),
      '--tls-key',
      join(tlsDir, 'key.pem'),
    ]);
    expect(g.config).toContain(`certfile ${join(tlsDir, 'cert.pem')}`);
    const tls = await startMosquitto({ port: g.port, wsPort: g.guestPort, config: g.config });
    try {
      const ca = readFileSync(join(tlsDir, 'cert.pem'));
      const gw = await mqtt.connectAsync(`mqtts://127.0.0.1:${g.port}`, {
        ca,
        username: 'gw-a',
        password: g.passwords['gw-a'] ?? '',
        clientId: 'latchkey-gw-a',
        reconnectPeriod: 0,
      });
      const gs = await mqtt.connectAsync(`wss://127.0.0.1:${g.guestPort}`, {
        ca,
        username: GUEST_USER,
        password: g.passwords.guest ?? '',
        clientId: guestId(),
        reconnectPeriod: 0,
      });
      expect(
        await refusedOn(`mqtt://127.0.0.1:${g.port}`, {
          username: 'gw-a',
          password: g.passwords['gw-a'] ?? '',
          clientId: 'latchkey-gw-a',
        }),
      ).toBe('refused');
      await Promise.all([gw.endAsync(), gs.endAsync()]);
    } finally {
      await tls.stop();
    }
  });
});
