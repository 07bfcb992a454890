// How the page reaches the gateway's agent: MQTT over WebSocket (mqtt.js, loaded only when needed;
// MQTT 5 with a response topic when the broker speaks it, else 3.1.1) and the gateway's LAN HTTP
// when the broker cannot be reached. Replies come back as the agent's envelopes; the retained state
// topic (or polling the LAN HTTP when there is no broker) gives the live device state.

import type { MqttClient } from 'mqtt';
import type { ReplyEnvelope, StateMessage } from '../../agent/mqtt/topics.js';
import type { WireGrant, WireSessionToken, WireWalletToken } from '../session.js';
import type { GatewayInfo } from './info.js';

export type Via = 'broker' | 'lan';

/** What the page sends to a device: a wallet token, a session token or a session grant, with its id. */
export type Outgoing = (WireWalletToken | WireSessionToken | WireGrant) & { id: string };

/** The device a message is for. */
function deviceOf(m: Outgoing): string {
  return 'access' in m ? m.access.deviceId : m.session.deviceId;
}

export interface Sent {
  reply: ReplyEnvelope;
  via: Via;
}

/** Why a route cannot be used from this page, e.g. an http:// gateway from an https:// page. */
export interface Blocked {
  what: 'broker' | 'lan';
  url: string;
  reason: 'mixed-content' | 'unreachable' | 'not-configured';
}

const GUEST_PREFIX = 'latchkey-guest-';

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
}

/** True when a page at `pageProtocol` may not open `url` (an insecure address from a secure page). */
export function isMixedContent(pageProtocol: string, url: string): boolean {
  if (pageProtocol !== 'https:') return false;
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'ws:') return false;
  // Browsers treat loopback as potentially trustworthy.
  return !['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}

export class AgentLink {
  readonly clientId = `${GUEST_PREFIX}${randomHex(8)}`;
  private client: MqttClient | undefined;
  private connecting: Promise<MqttClient | undefined> | undefined;
  private protocol: 4 | 5 | undefined;
  private seq = 0;
  private readonly pending = new Map<string, (e: ReplyEnvelope) => void>();
  private readonly stateListeners = new Map<string, (s: StateMessage) => void>();
  private readonly polls = new Map<string, ReturnType<typeof setInterval>>();
  readonly blocked: Blocked[] = [];

  constructor(
    private readonly info: GatewayInfo,
    /** The gateway's LAN HTTP origin, when known (the page's own origin when the gateway serves it). */
    private readonly lanBase: string | undefined,
    pageProtocol: string,
    private readonly connectTimeoutMs = 8_000,
  ) {
    if (!info.mqttWsUrl) this.blocked.push({ what: 'broker', url: '', reason: 'not-configured' });
    else if (isMixedContent(pageProtocol, info.mqttWsUrl))
      this.blocked.push({ what: 'broker', url: info.mqttWsUrl, reason: 'mixed-content' });
    if (!lanBase) this.blocked.push({ what: 'lan', url: '', reason: 'not-configured' });
    else if (isMixedContent(pageProtocol, lanBase))
      this.blocked.push({ what: 'lan', url: lanBase, reason: 'mixed-content' });
  }

  private usable(what: 'broker' | 'lan'): boolean {
    return !this.blocked.some((b) => b.what === what && b.reason !== 'unreachable');
  }

  private topic(deviceId: string, leaf: string): string {
    return `${this.info.mqttPrefix}/${this.info.gatewayId}/${deviceId}/${leaf}`;
  }

  /** The MQTT version spoken, once connected (5 when the broker took it). */
  get mqttVersion(): 4 | 5 | undefined {
    return this.protocol;
  }

  /** Connects to the broker once (MQTT 5 first, then 3.1.1); undefined when it cannot be reached. */
  broker(): Promise<MqttClient | undefined> {
    if (this.client?.connected) return Promise.resolve(this.client);
    if (!this.usable('broker')) return Promise.resolve(undefined);
    this.connecting ??= this.connectBroker().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectBroker(): Promise<MqttClient | undefined> {
    const url = this.info.mqttWsUrl as string;
    const { default: mqtt } = await import('mqtt');
    for (const protocolVersion of [5, 4] as const) {
      const client = mqtt.connect(url, {
        protocolVersion,
        clientId: this.clientId,
        reconnectPeriod: 0,
        connectTimeout: this.connectTimeoutMs,
        ...(this.info.mqttUsername !== undefined ? { username: this.info.mqttUsername } : {}),
        ...(this.info.mqttPassword !== undefined ? { password: this.info.mqttPassword } : {}),
      });
      const outcome = await new Promise<'ok' | 'refused' | 'down'>((resolve) => {
        const timer = setTimeout(() => resolve('down'), this.connectTimeoutMs + 500);
        client.once('connect', () => {
          clearTimeout(timer);
          resolve('ok');
        });
        client.once('error', (e: Error & { code?: number }) => {
          clearTimeout(timer);
          // A CONNACK that refuses the protocol version: the broker is there, try 3.1.1.
          resolve(typeof e.code === 'number' ? 'refused' : 'down');
        });
        client.once('close', () => {
          clearTimeout(timer);
          resolve(protocolVersion === 5 ? 'refused' : 'down');
        });
      });
      if (outcome === 'ok') {
        this.protocol = protocolVersion;
        this.attach(client);
        return client;
      }
      client.end(true);
      if (outcome === 'down') break;
    }
    this.blocked.push({ what: 'broker', url, reason: 'unreachable' });
    return undefined;
  }

  private attach(client: MqttClient): void {
    this.client = client;
    client.on('message', (topic, payload) => {
      const text = new TextDecoder().decode(payload);
      const replyAt = topic.indexOf('/reply/');
      if (replyAt >= 0) {
        const id = topic.slice(replyAt + '/reply/'.length);
        const resolve = this.pending.get(id);
        if (!resolve) return;
        this.pending.delete(id);
        try {
          resolve(JSON.parse(text) as ReplyEnvelope);
        } catch {
          // not an envelope: ignore, the request times out
        }
        return;
      }
      if (topic.endsWith('/state')) {
        const listener = this.stateListeners.get(topic);
        try {
          if (listener && text) listener(JSON.parse(text) as StateMessage);
        } catch {
          // a damaged retained message: ignore
        }
      }
    });
    client.on('close', () => {
      if (this.client === client) this.client = undefined;
    });
    client.subscribe(`${this.info.mqttPrefix}/${this.info.gatewayId}/+/reply/${this.clientId}/+`, { qos: 1 });
    for (const topic of this.stateListeners.keys()) client.subscribe(topic, { qos: 0 });
  }

  /** A request id this page's broker login may read the reply to. */
  nextId(): string {
    return `${this.clientId}/${++this.seq}${randomHex(3)}`;
  }

  /** Sends a signed message: over the broker when it answers, else over the gateway's LAN HTTP. */
  async send(token: Outgoing, timeoutMs = 10_000): Promise<Sent> {
    const client = await this.broker();
    if (client) {
      const reply = await this.viaBroker(client, token, timeoutMs);
      if (reply) return { reply, via: 'broker' };
    }
    if (this.lanBase && this.usable('lan')) return { reply: await this.viaLan(token), via: 'lan' };
    throw new Error('no route to the gateway');
  }

  private viaBroker(
    client: MqttClient,
    token: Outgoing,
    timeoutMs: number,
  ): Promise<ReplyEnvelope | undefined> {
    const deviceId = deviceOf(token);
    const replyTopic = this.topic(deviceId, `reply/${token.id}`);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(token.id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(token.id, (e) => {
        clearTimeout(timer);
        resolve(e);
      });
      // MQTT 5: the reply comes to the response topic (the same reply topic this login may read).
      const properties = this.protocol === 5 ? { properties: { responseTopic: replyTopic } } : {};
      client.publish(
        this.topic(deviceId, 'access'),
        JSON.stringify(token),
        { qos: 1, ...properties },
        (e) => {
          if (!e) return;
          clearTimeout(timer);
          this.pending.delete(token.id);
          resolve(undefined);
        },
      );
    });
  }

  private async viaLan(token: Outgoing): Promise<ReplyEnvelope> {
    const res = await fetch(`${this.lanBase}/api/devices/${deviceOf(token)}/access`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(token),
    });
    const body = (await res.json()) as ReplyEnvelope;
    // A rate-limited request gets no reply over MQTT; over HTTP it is a 429 with the envelope.
    return body;
  }

  /** Calls `listener` with each state of the device: the broker's retained topic, else LAN polling. */
  async watchState(deviceId: string, listener: (s: StateMessage) => void): Promise<Via | undefined> {
    const topic = this.topic(deviceId, 'state');
    this.stateListeners.set(topic, listener);
    const client = await this.broker();
    if (client) {
      client.subscribe(topic, { qos: 0 });
      return 'broker';
    }
    if (!this.lanBase || !this.usable('lan')) return undefined;
    const poll = async () => {
      try {
        const res = await fetch(`${this.lanBase}/api/devices/${deviceId}`, { cache: 'no-store' });
        const body = (await res.json()) as ReplyEnvelope<StateMessage>;
        if (body.status === 'ok') listener(body.data);
      } catch {
        // the next poll tries again
      }
    };
    await poll();
    this.polls.set(deviceId, setInterval(poll, 2_000));
    return 'lan';
  }

  close(): void {
    for (const p of this.polls.values()) clearInterval(p);
    this.polls.clear();
    this.client?.end(true);
    this.client = undefined;
  }
}
