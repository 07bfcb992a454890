// MQTT faults through the whole agent on a real Mosquitto: a broker restart (state changed while it
// was down is re-published retained, the next unlock acts once), a partition outlasting a rental (its
// lease ends it on time, its state goes out after), a stale retained unlock present before the agent
// subscribed (never acted on, cleared, counted), and one token delivered twice
// (RELIABILITY 1, 15, 16, 17, 18).

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent } from '../agent/agent.js';
import { DEMO_PRICES, type Embedded, startEmbedded } from '../agent/embedded.js';
import type { ReplyEnvelope } from '../agent/mqtt/topics.js';
import type { DevAccount } from '../contracts/anvil.js';
import type { Rental } from '../contracts/typedData.js';
import type { Guest } from '../guest/client.js';
import { type Mosquitto, startMosquitto } from './mosquitto.js';
import {
  actWhenLive,
  embeddedSetup,
  type GuestSetup,
  guestOf,
  MqttWatch,
  ok,
  registerDevices,
  StateLog,
  settled,
  tempDir,
  testLog,
  waitFor,
  waitOnline,
} from './system.js';

const HOUR = 3600;
const LOCK = 1n;
const SOCKET = 2n;
/** A socket whose rentals may be a few seconds long, registered after the agent started. */
const SHORT = 3n;

let mosquitto: Mosquitto;
let e: Embedded;
let states: StateLog;
let setup: GuestSetup;
let guestAccount: DevAccount;
let guest: Guest | undefined;
let lock: Rental;
let socket: Rental;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  mosquitto = await startMosquitto();
  e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    configOverrides: (c) => ({
      ...c,
      mqtt: { ...c.mqtt, url: mosquitto.url },
      chain: { ...c.chain, pollMs: 100 },
      devices: [
        ...c.devices,
        { id: SHORT, kind: 'socket' as const, pulseSeconds: 1, relay: { driver: 'sim' as const } },
      ].map((d) => ({ ...d, pulseSeconds: 1 })),
    }),
  });
  expect(
    await registerDevices(e.contract, e.gateway.address, [
      { kind: 'socket', ...DEMO_PRICES.socket, minDuration: 5 },
    ]),
  ).toEqual([SHORT]);
  states = new StateLog(e.agent);
  setup = embeddedSetup(e, { mqttUrl: mosquitto.url });
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  guestAccount = account;
  guest = await guestOf(account, setup);
  lock = (await guest.rent(LOCK, HOUR)).rental;
  socket = (await guest.rent(SOCKET, HOUR)).rental;
  await waitOnline(mosquitto.url, e.config.gatewayId);
  await waitFor(() => e.agent.store.getRental(socket.id), 'the agent to see the rentals');
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await guest?.close();
  await e?.stop();
  await mosquitto?.stop();
});

const topic = (gatewayId: string, deviceId: bigint, leaf: string) =>
  `latchkey/${gatewayId}/${deviceId}/${leaf}`;

async function metric(httpUrl: string, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

/** The retained messages under `filter` now: subscribed afresh, read up to a marker published after. */
async function retainedUnder(filter: string): Promise<Map<string, string>> {
  const marker = `latchkey-test/marker/${Date.now()}`;
  const watch = await MqttWatch.open(mosquitto.url, [filter, marker]);
  try {
    await watch.client.publishAsync(marker, 'x', { qos: 1 });
    const end = watch.seen.indexOf(await watch.next((m) => m.topic === marker, 'the marker'));
    return new Map(
      watch.seen
        .slice(0, end)
        .filter((m) => m.retain)
        .map((m) => [m.topic, m.payload]),
    );
  } finally {
    await watch.close();
  }
}

describe('MQTT faults through the agent on Mosquitto', () => {
  it('broker restart: the agent reconnects, re-publishes online and the state changed meanwhile, and the next unlock acts once', async () => {
    await guest?.close();
    guest = undefined;
    const http = await guestOf(guestAccount, { ...setup, mqttUrl: '' });
    // While the broker is down the socket is switched on over LAN HTTP: its retained state must follow.
    await mosquitto.restart(async () => {
      ok(await actWhenLive(http, socket, 'on', 'http'), 'on over HTTP while the broker is down');
    });
    // The agent reconnects and announces itself and the state that changed while it was away.
    const gw = e.config.gatewayId;
    const live = await MqttWatch.open(mosquitto.url, [`latchkey/${gw}/#`]);
    try {
      await live.next(
        (m) => m.topic === `latchkey/${gw}/availability` && m.payload === 'online',
        'online again',
      );
      await live.next(
        (m) => m.topic === topic(gw, SOCKET, 'state') && JSON.parse(m.payload).relay === 'closed',
        'the socket state switched on during the outage',
      );
    } finally {
      await live.close();
    }
    // No persistence: whatever is retained now, the agent published after reconnecting.
    const retained = await retainedUnder(`latchkey/${gw}/#`);
    expect(retained.get(`latchkey/${gw}/availability`)).toBe('online');
    expect(JSON.parse(retained.get(topic(gw, SOCKET, 'state')) ?? '{}')).toMatchObject({
      relay: 'closed',
      rentalId: socket.id.toString(),
    });
    // Every device's state is retained, also one that has not changed since the agent started.
    expect.soft(JSON.parse(retained.get(topic(gw, LOCK, 'state')) ?? '{}')).toMatchObject({ relay: 'open' });

    guest = await guestOf(guestAccount, setup);
    const mark = states.mark();
    ok(await actWhenLive(guest, lock, 'unlock'), 'unlock over MQTT after the restart');
    const opened = await states.until(LOCK, (s) => s.relay === 'closed', 'unlocked', mark);
    await states.until(LOCK, (s) => s.relay === 'open', 'relocked after the pulse', opened.after);
    expect(states.closures(LOCK, mark)).toBe(1);
  });

  it('a partition outlasting a rental: its lease switches the socket off on time, the state goes out after, the receipt is settled', async () => {
    const http = await guestOf(guestAccount, { ...setup, mqttUrl: '' });
    const rental = (await http.rent(SHORT, 10)).rental;
    ok(await actWhenLive(http, rental, 'on', 'http'), 'on over HTTP');
    const since = states.mark();
    await mosquitto.restart(async () => {
      // The broker stays down past the rental's end: nothing but the lease can end it.
      const ended = await states.until(
        SHORT,
        (s) => s.relay === 'open' && s.phase === 'idle',
        'the lease to end the rental with the broker down',
        since,
        20_000,
      );
      expect(ended.state.rentalId).toBeUndefined();
    });
    // On time, by the agent's own record of when it switched the socket off.
    const ended = e.agent.store
      .auditTail(20, SHORT)
      .find((a) => a.rentalId === rental.id && a.action === 'end' && a.actor === 'lease');
    expect(ended?.at).toBeLessThanOrEqual(Number(rental.end) + 1);
    const gw = e.config.gatewayId;
    const live = await MqttWatch.open(mosquitto.url, [topic(gw, SHORT, 'state')]);
    try {
      await live.next(
        (m) => JSON.parse(m.payload).relay === 'open' && JSON.parse(m.payload).rentalId === undefined,
        'the state after the rental, published once the broker is back',
      );
    } finally {
      await live.close();
    }
    const s = await settled(e.anvil.provider, e.contractAddress, rental.id, 30_000);
    expect(s.byReceipt).toBe(true);
    expect(s.charge + s.refund).toBe(rental.deposit);
    await http.close();
  });

  it('a stale retained unlock on the access topic before the agent subscribed is never acted on, cleared and counted', async () => {
    const [account, key2] = [e.guests[1], e.guests[2]];
    if (!account || !key2) throw new Error('too few dev accounts');
    const [door] = await registerDevices(e.contract, key2.address, [{ kind: 'lock', ...DEMO_PRICES.lock }]);
    if (!door) throw new Error('registration failed');
    const other = await guestOf(account, { ...setup, gatewayId: 'gateway-2' });
    cleanups.push(() => other.close());
    const rental = (await other.rent(door, HOUR)).rental;
    const token = await other.token(rental, 'unlock');
    const accessTopic = topic('gateway-2', door, 'access');

    // Someone left a valid unlock retained on the topic (a misconfigured app, or a replay attempt).
    const watch = await MqttWatch.open(mosquitto.url, [accessTopic]);
    cleanups.push(() => watch.close());
    await watch.client.publishAsync(accessTopic, JSON.stringify(token), { qos: 1, retain: true });
    await watch.next((m) => m.payload !== '', 'the retained unlock on the broker');

    const dir = tempDir('latchkey-gateway-2-');
    const second = new Agent(
      {
        ...e.config,
        gatewayId: 'gateway-2',
        dataDir: join(dir.path, 'data'),
        gatewayKey: key2.privateKey,
        http: { ...e.config.http, host: '127.0.0.1', port: 0 },
        devices: [{ id: door, kind: 'lock', pulseSeconds: 1, relay: { driver: 'sim' } }],
      },
      testLog.child('gateway-2'),
    );
    const seen = new StateLog(second);
    cleanups.push(async () => {
      await second.stop();
      dir.remove();
    });
    await second.start();
    const httpUrl = `http://127.0.0.1:${second.httpPort}`;
    await waitOnline(mosquitto.url, 'gateway-2');

    // The agent cleared it (an empty retained message) and never acted on it.
    await watch.next((m) => m.payload === '', 'the agent to clear the retained unlock');
    expect((await retainedUnder(accessTopic)).size).toBe(0);
    expect(seen.closures(door)).toBe(0);
    expect(second.controllers.get(door)?.state()).toMatchObject({ relay: 'open', phase: 'idle' });
    expect(
      second.store.auditTail(50, door).filter((a) => a.outcome === 'ok' && a.action === 'unlock'),
    ).toEqual([]);
    expect(await metric(httpUrl, 'latchkey_mqtt_dropped_total{reason="retained"}')).toBe(1);

    // The token itself was valid and is still unused: sent as a normal message it opens the door once.
    ok(await other.sendMqtt(door, token), 'the same token sent live');
    await seen.until(door, (s) => s.relay === 'closed', 'unlocked by the live token');
    expect(seen.closures(door)).toBe(1);
  });

  it('the same token delivered twice acts once; the token re-sent under another request id is refused as nonce-used', async () => {
    await waitFor(() => e.agent.controllers.get(LOCK)?.state().relay === 'open', 'the lock to be locked');
    const token = await (await guestOf(guestAccount, { ...setup, mqttUrl: '' })).token(lock, 'unlock');
    const replyTopic = topic('gateway-1', LOCK, `reply/${token.id}`);
    const client = await MqttWatch.open(mosquitto.url, [topic('gateway-1', LOCK, 'reply/#')]);
    cleanups.push(() => client.close());
    const payload = JSON.stringify(token);
    const mark = states.mark();

    // A QoS 1 retransmit: the very same bytes twice.
    await client.client.publishAsync(topic('gateway-1', LOCK, 'access'), payload, { qos: 1 });
    await client.client.publishAsync(topic('gateway-1', LOCK, 'access'), payload, { qos: 1 });
    await waitFor(() => client.seen.filter((m) => m.topic === replyTopic).length >= 2, 'two replies');
    const [first, second] = client.seen
      .filter((m) => m.topic === replyTopic)
      .map((m) => JSON.parse(m.payload) as ReplyEnvelope);
    expect(first?.status).toBe('ok');
    // The duplicate is answered with the first answer; it does not act again.
    expect(second).toEqual(first);

    // The same signed token sent again as a new request (another id): the nonce is spent.
    const again = { ...token, id: `${token.id}-again` };
    await client.client.publishAsync(topic('gateway-1', LOCK, 'access'), JSON.stringify(again), { qos: 1 });
    const refused = await client.next(
      (m) => m.topic === topic('gateway-1', LOCK, `reply/${again.id}`),
      'the reply to the re-sent token',
    );
    expect(JSON.parse(refused.payload)).toMatchObject({ status: 'error', error: { code: 'nonce-used' } });

    const opened = await states.until(LOCK, (s) => s.relay === 'closed', 'unlocked', mark);
    await states.until(LOCK, (s) => s.relay === 'open', 'relocked', opened.after);
    expect(states.closures(LOCK, mark)).toBe(1);
    // Refusals are audited in batches (about once a second), not one fsync each.
    await vi.waitFor(
      () => {
        const audit = e.agent.store.auditTail(20, LOCK);
        expect(audit.some((a) => a.outcome === 'refused' && a.reason.startsWith('nonce-used'))).toBe(true);
      },
      { timeout: 5000, interval: 100 },
    );
  });
});
