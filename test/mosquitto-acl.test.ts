// The files written by `latchkey mosquitto-acl` on a real Mosquitto: gateways are confined to their own
// topics and client ids, guests can only send tokens, and the agent's MqttBus works under them.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../agent/log.js';
import { MqttBus } from '../agent/mqtt/bus.js';
import { nextEvent } from '../agent/mqtt/testkit.js';
import { decodeReply } from '../agent/mqtt/topics.js';
import { GUEST_PASSWORD, GUEST_USER } from '../provisioning/commands/mosquittoAcl.js';
import { cli } from '../provisioning/testCli.js';
import { type Mosquitto, startMosquitto } from './mosquitto.js';

let dir: string;
let broker: Mosquitto;
let password: Record<string, string>;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-acl-'));
  const out = join(dir, 'broker');
  const r = await cli(['mosquitto-acl', '--gateway', 'gw-a', '--gateway', 'gw-b', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  password = { [GUEST_USER]: GUEST_PASSWORD };
  for (const [, id, secret] of r.stdout.matchAll(/^password\.(\S+): (\S+)$/gm))
    password[id as string] = secret as string;
  expect(Object.keys(password).sort()).toEqual(['guest', 'gw-a', 'gw-b']);
  broker = await startMosquitto({ extraConfig: readFileSync(join(out, 'mosquitto.conf'), 'utf8') });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function login(username: string, opts: { clientId?: string; password?: string } = {}) {
  const client = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    username,
    password: opts.password ?? password[username] ?? '',
    ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
  });
  clients.push(client);
  const received: string[] = [];
  client.on('message', (topic, payload) => received.push(`${topic} ${payload}`));
  return { client, received };
}

/** The SUBACK comes back on the same socket after every message queued to it before. */
const drain = (client: MqttClient) => client.subscribeAsync('latchkey/drain/+/state');

describe('latchkey mosquitto-acl on a real Mosquitto', () => {
  it('writes one pattern rule set for all gateways and a guest section', async () => {
    const acl = readFileSync(join(dir, 'broker', 'acl'), 'utf8');
    expect(acl).toContain('pattern write latchkey/%u/+/state');
    expect(acl).toContain('pattern read latchkey/%u/+/access');
    expect(acl).not.toContain('gw-a');
    const again = await cli([
      'mosquitto-acl',
      '--gateway',
      'guest',
      '--gateway',
      'a/b',
      '--out',
      join(dir, 'broker'),
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/guests' login/);
    expect(again.stderr).toMatch(/must not contain/);
    expect(again.stderr).toMatch(/already exists/);
  });

  it('refuses anonymous clients and wrong passwords', async () => {
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 })).rejects.toThrow(
      /Not authorized|Bad User Name or Password/i,
    );
    await expect(login('gw-a', { password: password['gw-b'] ?? '' })).rejects.toThrow();
  });

  it('lets a gateway publish its own state and read its access topic, but not touch another gateway', async () => {
    const a = await login('gw-a');
    const guest = await login(GUEST_USER);
    await guest.client.subscribeAsync(['latchkey/+/+/state', 'latchkey/+/availability']);
    await a.client.subscribeAsync('latchkey/gw-a/+/access', { qos: 1 });

    a.client.publish('latchkey/gw-b/1/state', 'forged', { qos: 0 });
    a.client.publish('latchkey/gw-b/availability', 'offline', { qos: 0 });
    a.client.publish('latchkey/gw-a/1/access', 'self-token', { qos: 0 });
    await a.client.publishAsync('latchkey/gw-a/1/state', 'mine', { qos: 1 });
    await drain(guest.client);
    await guest.client.publishAsync('latchkey/gw-a/1/access', 'token', { qos: 1 });
    await drain(a.client);

    expect(guest.received).toEqual(['latchkey/gw-a/1/state mine']);
    expect(a.received).toEqual(['latchkey/gw-a/1/access token']);
  });

  it('lets a guest send a token to any gateway but not publish states, availability or replies', async () => {
    const a = await login('gw-a');
    const b = await login('gw-b');
    // Guests share one login and so one client id: a single connection both listens and publishes.
    const watcher = await login(GUEST_USER);
    await watcher.client.subscribeAsync([
      'latchkey/+/+/state',
      'latchkey/+/availability',
      'latchkey/+/+/reply/#',
    ]);
    await a.client.subscribeAsync('latchkey/gw-a/+/access');
    await b.client.subscribeAsync('latchkey/gw-b/+/access');

    watcher.client.publish('latchkey/gw-a/1/state', 'forged', { qos: 0 });
    watcher.client.publish('latchkey/gw-a/availability', 'offline', { qos: 0 });
    watcher.client.publish('latchkey/gw-a/1/reply/r1', 'forged', { qos: 0 });
    await watcher.client.publishAsync('latchkey/gw-a/1/access', 'to-a', { qos: 1 });
    await watcher.client.publishAsync('latchkey/gw-b/7/access', 'to-b', { qos: 1 });
    await Promise.all([drain(a.client), drain(b.client), drain(watcher.client)]);

    expect(watcher.received).toEqual([]);
    expect(a.received).toEqual(['latchkey/gw-a/1/access to-a']);
    expect(b.received).toEqual(['latchkey/gw-b/7/access to-b']);
  });

  it("does not let another login take a gateway's client id", async () => {
    const a = await login('gw-a', { clientId: 'latchkey-gw-a' });
    let closed = false;
    a.client.on('close', () => {
      closed = true;
    });
    // gw-b's credentials with gw-a's client ids (as sent, and as the broker renamed it): both become gw-b.
    await login('gw-b', { clientId: 'latchkey-gw-a' });
    await login('gw-b', { clientId: 'gw-a' });
    await login(GUEST_USER, { clientId: 'gw-a' });
    await a.client.publishAsync('latchkey/gw-a/1/state', 'still here', { qos: 1 });
    expect(closed).toBe(false);

    // The same login does take over: the check above would have seen it.
    const kicked = nextEvent(a.client, 'close');
    await login('gw-a', { clientId: 'anything' });
    await kicked;
  });

  it("runs the agent's MqttBus under the ACL with its username and password", async () => {
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
    await bus.start();
    try {
      await connected;
      const guest = await login(GUEST_USER);
      const reply = nextEvent<[string, Buffer]>(guest.client, 'message');
      await guest.client.subscribeAsync('latchkey/gw-a/+/reply/#', { qos: 1 });
      await guest.client.publishAsync('latchkey/gw-a/1/access', JSON.stringify({ id: 'r1', value: 42 }), {
        qos: 1,
      });
      const [topic, payload] = await reply;
      expect(topic).toBe('latchkey/gw-a/1/reply/r1');
      expect(decodeReply(payload)).toEqual({ status: 'ok', data: { echoed: 42 } });
      expect(bus.connected).toBe(true);
    } finally {
      await bus.stop();
    }
  });
});
