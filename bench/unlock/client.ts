// The benchmark's valid-token sender: publishes a token exactly as guest/client.ts does (MQTT 3.1.1,
// QoS 1, TCP_NODELAY) but subscribes to that token's own reply topic before the clock starts, instead
// of the whole reply/# tree, so the replies the agent sends to a flood's senders never reach it.

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { ReplyEnvelope } from '../../agent/mqtt/topics.js';
import type { BenchToken } from './tokens.js';

/** The agent did not answer in time: under a flood a measurement, not a fault. */
export class ReplyTimeout extends Error {}

export class BenchClient {
  private readonly pending = new Map<string, (e: ReplyEnvelope) => void>();

  private constructor(
    private readonly client: MqttClient,
    private readonly base: string,
  ) {
    client.on('message', (topic, payload) => {
      const id = topic.slice(topic.lastIndexOf('/') + 1);
      const resolve = this.pending.get(id);
      if (!resolve) return;
      this.pending.delete(id);
      resolve(JSON.parse(payload.toString()) as ReplyEnvelope);
    });
  }

  static async connect(url: string, gatewayId: string, prefix = 'latchkey'): Promise<BenchClient> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId: `bench-${randomBytes(6).toString('hex')}`,
      reconnectPeriod: 0,
    });
    (client.stream as Partial<Socket>).setNoDelay?.(true);
    return new BenchClient(client, `${prefix}/${gatewayId}`);
  }

  /** Subscribes to the tokens' reply topics in one SUBSCRIBE; call before the timed publishes. */
  async prepare(deviceId: bigint, tokens: readonly BenchToken[]): Promise<void> {
    await this.client.subscribeAsync(
      tokens.map((t) => this.replyTopic(deviceId, t)),
      { qos: 1 },
    );
  }

  /** Drops the reply subscriptions of tokens that are done. */
  release(deviceId: bigint, tokens: readonly BenchToken[]): void {
    void this.client.unsubscribeAsync(tokens.map((t) => this.replyTopic(deviceId, t))).catch(() => {});
  }

  /** Publishes the token (QoS 1) and resolves with the agent's reply; rejects after `timeoutMs`. */
  send(deviceId: bigint, token: BenchToken, timeoutMs = 5_000): Promise<ReplyEnvelope> {
    const reply = new Promise<ReplyEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token.id);
        reject(
          new ReplyTimeout(
            `no reply to ${token.access.action} ${token.id} within ${Math.round(timeoutMs)} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(token.id, (e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
    this.client.publish(`${this.base}/${deviceId}/access`, JSON.stringify(token), { qos: 1 });
    return reply;
  }

  private replyTopic(deviceId: bigint, token: BenchToken): string {
    return `${this.base}/${deviceId}/reply/${token.id}`;
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
