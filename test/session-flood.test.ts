// The flood of issue 11, item 3, through the whole agent on real brokers (the embedded aedes, and
// Mosquitto) and LAN HTTP: 1,000 well-formed session tokens a second with wrong signatures against one
// rental (its id is public, from its Rented log) while its own guest keeps unlocking and locking with
// its session key over MQTT and over LAN HTTP. The guest is never refused, and the flood on one path
// does not starve the other. Each forged token really reaches the P-256 check (counted by the agent).
// Then the kinds that cost a secp256k1 recovery, bad wallet tokens and forged grants, while a new
// browser grants its key: the grant is served over MQTT and over LAN HTTP.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { SignTypedDataVersion, signTypedData } from '@metamask/eth-sig-util';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessFor, signNoble, wire } from '../agent/access/test/fixtures.js';
import { GUEST_CLIENT_ID_PREFIX } from '../agent/broker/rules.js';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import type { ReplyEnvelope } from '../agent/mqtt/topics.js';
import { domainSeparator } from '../contracts/eip712.js';
import { type Action, domain, type Rental } from '../contracts/typedData.js';
import { memorySessions, RentalSession } from '../guest/session.js';
import { type Mosquitto, startMosquitto } from './mosquitto.js';
import { actWhenLive, embeddedSetup, guestOf, type Login, ok, sleep, testLog, waitFor } from './system.js';

const MOSQUITTO = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
const noMosquitto = !existsSync(MOSQUITTO);
if (noMosquitto && process.env.CI) throw new Error(`${MOSQUITTO} is missing: apt-get install mosquitto`);

const LOCK = 1n;
const FLOOD_PER_SECOND = 1_000;
const FLOOD_MS = 4_000;
/** The guest's own actions during each flood (half on each path). */
const GUEST_ACTIONS = 6;

/** A guest-side MQTT requester: its own client id, replies read under it, one id per request. */
class Requester {
  private n = 0;
  private readonly waiting = new Map<string, (r: ReplyEnvelope) => void>();
  private constructor(
    readonly client: MqttClient,
    readonly clientId: string,
    private readonly gatewayId: string,
  ) {
    client.on('message', (topic, payload) => {
      const id = topic.slice(topic.indexOf('/reply/') + '/reply/'.length);
      this.waiting.get(id)?.(JSON.parse(payload.toString()) as ReplyEnvelope);
      this.waiting.delete(id);
    });
  }

  static async open(url: string, gatewayId: string, login?: Login): Promise<Requester> {
    const clientId = `${GUEST_CLIENT_ID_PREFIX}${randomBytes(8).toString('hex')}`;
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId,
      reconnectPeriod: 0,
      ...login,
    });
    await client.subscribeAsync(`latchkey/${gatewayId}/+/reply/${clientId}/+`, { qos: 1 });
    return new Requester(client, clientId, gatewayId);
  }

  nextId(): string {
    return `${this.clientId}/${++this.n}`;
  }

  /** Publishes without waiting for a reply (the flood). */
  fire(deviceId: bigint, payload: string): void {
    this.client.publish(`latchkey/${this.gatewayId}/${deviceId}/access`, payload, { qos: 0 });
  }

  ask(deviceId: bigint, message: Record<string, unknown>, timeoutMs = 10_000): Promise<ReplyEnvelope> {
    const id = typeof message.id === 'string' ? message.id : this.nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${id}`)), timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.client.publish(
        `latchkey/${this.gatewayId}/${deviceId}/access`,
        JSON.stringify({ ...message, id }),
        {
          qos: 1,
        },
      );
    });
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** POSTs to the gateway's LAN HTTP from `localAddress` (another loopback address is another LAN host). */
function post(
  httpUrl: string,
  deviceId: bigint,
  body: string,
  agent?: HttpAgent,
): Promise<{ status: number; body: string }> {
  const url = new URL(`/api/devices/${deviceId}/access`, httpUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' }, ...(agent ? { agent } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function countOf(metrics: string, outcome: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`latchkey_access_total{outcome="${outcome}"} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

interface System {
  e: Embedded;
  mqttUrl: string;
  login?: Login;
  stop(): Promise<void>;
}

function floodSuite(name: string, start: () => Promise<System>) {
  let sys: System;
  let rental: Rental;
  let session: RentalSession;
  let guestMqtt: Requester;
  let flooder: Requester;
  /** Forged session tokens for the rental, each with its own nonce: well formed, wrong key. */
  let forged: string[];
  /** Wallet tokens and a session grant for the rental signed by another account: they cost recoveries. */
  let forgedWallet: string[];
  let forgedGrant: string[];
  let grantBy: (browser: RentalSession) => string;
  let ref: { chainId: number; contract: string; rentalId: bigint; end: bigint };

  beforeAll(async () => {
    sys = await start();
    const { e } = sys;
    const account = e.guests[0];
    if (!account) throw new Error('no guest account');
    const guest = await guestOf(account, embeddedSetup(e));
    rental = (await guest.rent(LOCK, 3600)).rental;
    await waitFor(() => e.agent.store.getRental(rental.id), 'the agent to see the rental', 30_000);
    ok(await actWhenLive(guest, rental, 'lock', 'http', 30_000), 'lock');
    await guest.close();

    ref = {
      chainId: e.anvil.chainId,
      contract: e.contractAddress,
      rentalId: rental.id,
      end: rental.end,
    };
    guestMqtt = await Requester.open(sys.mqttUrl, e.config.gatewayId, sys.login);
    flooder = await Requester.open(sys.mqttUrl, e.config.gatewayId, sys.login);
    // The guest's one wallet signature: the grant.
    session = await RentalSession.open(ref, memorySessions());
    const signer = (key: string) => (browser: RentalSession) =>
      signTypedData({
        privateKey: Buffer.from(key.slice(2), 'hex'),
        data: browser.grantTypedData() as never,
        version: SignTypedDataVersion.V4,
      });
    grantBy = signer(account.privateKey);
    const grantSig = grantBy(session);
    // As a page does: a grant whose answer does not come is sent again; one that was installed
    // although its answer was lost comes back as already used.
    let granted: ReplyEnvelope | undefined;
    for (let attempt = 1; attempt <= 3 && !granted; attempt++) {
      granted = await guestMqtt.ask(LOCK, session.grantMessage(grantSig), 10_000).catch((e: unknown) => {
        if (attempt === 3) throw e;
        return undefined;
      });
    }
    if (!(granted?.status === 'error' && granted.error.code === 'nonce-used'))
      ok(granted as ReplyEnvelope, 'grant over MQTT');
    await session.markGranted();
    // The attacker's key: its tokens for this rental pass every cheap check and fail the P-256 one.
    const forger = await RentalSession.open(ref, memorySessions());
    forged = await Promise.all(
      Array.from({ length: 2_000 }, async (_, i) =>
        JSON.stringify({ ...(await forger.token(i % 2 ? 'lock' : 'unlock', { validFor: 240 })) }),
      ),
    );
    const other = e.guests[1];
    if (!other) throw new Error('no second account');
    const separator = domainSeparator(domain(BigInt(e.anvil.chainId), e.contractAddress));
    const validUntil = BigInt(Math.floor(Date.now() / 1000) + 240);
    forgedWallet = Array.from({ length: 200 }, () => {
      const a = accessFor(LOCK, { rentalId: rental.id, validUntil });
      return JSON.stringify(wire(a, signNoble(a, separator, other.privateKey)));
    });
    forgedGrant = [JSON.stringify(forger.grantMessage(signer(other.privateKey)(forger)))];
  }, 120_000);

  afterAll(async () => {
    await guestMqtt?.close();
    await flooder?.close();
    await sys?.stop();
  });

  /**
   * Sends FLOOD_PER_SECOND forged tokens a second through `send` for at least FLOOD_MS and until the
   * guest is done; resolves with how many were sent.
   */
  async function flood(
    send: (payload: string, i: number) => void,
    guestDone: () => boolean,
    bodies: string[] = forged,
  ): Promise<number> {
    let sent = 0;
    const t0 = performance.now();
    const total = (FLOOD_PER_SECOND * FLOOD_MS) / 1000;
    while (sent < total || !guestDone()) {
      const due = Math.floor(((performance.now() - t0) / 1000) * FLOOD_PER_SECOND);
      for (; sent < due; sent++) {
        const body = bodies[sent % bodies.length] as string;
        send(body.replace(/^\{/, `{"id":"${flooder.clientId}/f${sent}",`), sent);
      }
      await sleep(5);
    }
    return sent;
  }

  /** Sends `message` over MQTT or LAN HTTP as the guest; `<path>:ok` or `<path>:<error code>`. */
  async function askVia(path: 'mqtt' | 'http', message: object): Promise<string> {
    const reply =
      path === 'mqtt'
        ? await guestMqtt.ask(LOCK, message as Record<string, unknown>, 30_000)
        : (JSON.parse((await post(sys.e.httpUrl, LOCK, JSON.stringify(message))).body) as ReplyEnvelope);
    return `${path}:${reply.status === 'ok' ? 'ok' : reply.error.code}`;
  }

  /** GUEST_ACTIONS of the guest's own session tokens while the flood runs, alternating paths. */
  async function guestDuring(via: ('mqtt' | 'http')[], state: { done: boolean }): Promise<string[]> {
    const codes: string[] = [];
    await sleep(500); // into the flood
    for (let i = 0; i < GUEST_ACTIONS; i++) {
      const action: Action = i % 2 ? 'lock' : 'unlock';
      const token = await session.token(action);
      const path = via[i % via.length] as 'mqtt' | 'http';
      codes.push(await askVia(path, token));
      await sleep(200);
    }
    state.done = true;
    return codes;
  }

  /** The agent's count of forged tokens refused at the signature check, once it stops growing. */
  async function settledCount(outcome: string): Promise<number> {
    let last = -1;
    for (let i = 0; i < 60; i++) {
      const now = countOf(sys.e.agent.metrics.render(), outcome);
      if (now === last) return now;
      last = now;
      await sleep(500);
    }
    return last;
  }

  it(`${name}: 1,000 forged tokens/s on MQTT; the guest is served on MQTT and LAN HTTP`, async () => {
    const before = countOf(sys.e.agent.metrics.render(), 'bad-signature');
    const state = { done: false };
    const flooding = flood(
      (payload) => flooder.fire(LOCK, payload),
      () => state.done,
    );
    const codes = await guestDuring(['mqtt', 'http'], state);
    const sent = await flooding;
    const checked = (await settledCount('bad-signature')) - before;
    expect(codes).toEqual(Array.from({ length: GUEST_ACTIONS }, (_, i) => (i % 2 ? 'http:ok' : 'mqtt:ok')));
    // The flood was real: nearly every forged token reached the signature check and was refused there.
    expect(sent).toBeGreaterThanOrEqual(FLOOD_PER_SECOND * (FLOOD_MS / 1000));
    expect(checked).toBeGreaterThanOrEqual(sent * 0.9);
  }, 60_000);

  it(`${name}: 1,000 forged tokens/s on LAN HTTP from other hosts; the guest is served on both paths`, async () => {
    // Twenty other LAN hosts (loopback addresses), eight keep-alive connections each at most.
    const agents = Array.from(
      { length: 20 },
      (_, i) => new HttpAgent({ keepAlive: true, maxSockets: 2, localAddress: `127.0.0.${i + 2}` }),
    );
    const answers: Record<number, number> = {};
    const inFlight: Promise<void>[] = [];
    try {
      const state = { done: false };
      const flooding = flood(
        (payload, i) => {
          inFlight.push(
            post(sys.e.httpUrl, LOCK, payload, agents[i % agents.length]).then(
              (r) => {
                answers[r.status] = (answers[r.status] ?? 0) + 1;
              },
              () => {
                answers[0] = (answers[0] ?? 0) + 1;
              },
            ),
          );
        },
        () => state.done,
      );
      const codes = await guestDuring(['http', 'mqtt'], state);
      await flooding;
      await Promise.all(inFlight);
      expect(codes).toEqual(Array.from({ length: GUEST_ACTIONS }, (_, i) => (i % 2 ? 'mqtt:ok' : 'http:ok')));
      // Refused as forged (403) until each host is locked out (429, no signature checked): never served.
      expect(Object.keys(answers).sort()).toEqual(['403', '429']);
    } finally {
      for (const a of agents) a.destroy();
    }
  }, 60_000);

  // Last: a new browser's grant replaces the key. The grant costs a recovery, as wallet tokens do, and a
  // flood of those on one path must neither lock the guest's grant out nor reach the other path.
  it(`${name}: forged wallet tokens, then forged grants, 1,000/s on MQTT; a new browser's grant is served`, async () => {
    const codes: string[] = [];
    for (const [bodies, grantVia] of [
      [forgedWallet, 'mqtt'],
      [forgedGrant, 'http'],
    ] as const) {
      const state = { done: false };
      const flooding = flood(
        (payload) => flooder.fire(LOCK, payload),
        () => state.done,
        bodies,
      );
      await sleep(1_000); // the rental's budgets on that path are spent and penalised by now
      const browser = await RentalSession.open(ref, memorySessions());
      const granted = await askVia(grantVia, browser.grantMessage(grantBy(browser), guestMqtt.nextId()));
      codes.push(`grant ${granted}`);
      if (granted.endsWith(':ok')) await browser.markGranted();
      for (const [path, action] of [
        ['mqtt', 'unlock'],
        ['http', 'lock'],
      ] as const)
        codes.push(await askVia(path, { ...(await browser.token(action)), id: guestMqtt.nextId() }));
      state.done = true;
      await flooding;
    }
    expect(codes).toEqual(['grant mqtt:ok', 'mqtt:ok', 'http:ok', 'grant http:ok', 'mqtt:ok', 'http:ok']);
  }, 120_000);
}

describe('session tokens under a flood, embedded aedes', () => {
  floodSuite('aedes', async () => {
    const e = await startEmbedded({ log: testLog, blockTime: 0 });
    if (!e.broker.logins) throw new Error('the embedded broker has no logins');
    return { e, mqttUrl: e.broker.url, login: { ...e.broker.logins.guest }, stop: () => e.stop() };
  });
});

describe.skipIf(noMosquitto)('session tokens under a flood, Mosquitto', () => {
  floodSuite('mosquitto', async () => {
    const mosquitto: Mosquitto = await startMosquitto();
    const e = await startEmbedded({
      log: testLog,
      blockTime: 0,
      configOverrides: (c) => ({ ...c, mqtt: { ...c.mqtt, url: mosquitto.url } }),
    });
    return {
      e,
      mqttUrl: mosquitto.url,
      stop: async () => {
        await e.stop();
        await mosquitto.stop();
      },
    };
  });
});
