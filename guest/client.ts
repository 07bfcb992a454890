// A guest as code: rents with a wallet, signs EIP-712 access tokens exactly as a phone wallet does
// (eth_signTypedData_v4 through ethers), sends them over MQTT or LAN HTTP, and checks out on chain
// with the device's receipt. The demo, the end-to-end tests and the benchmarks drive the agent with it.

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type JsonRpcProvider, toBeHex, Wallet } from 'ethers';
import mqtt, { type MqttClient } from 'mqtt';
import { GUEST_CLIENT_ID_PREFIX } from '../agent/broker/rules.js';
import type { ReplyEnvelope } from '../agent/mqtt/topics.js';
import { type LatchkeyContract, latchkeyAt, latchkeyInterface, mined } from '../contracts/deploy.js';
import { parseLatchkeyLog } from '../contracts/events.js';
import { rentDevice } from '../contracts/rental.js';
import {
  ACCESS_TYPES,
  type Action,
  type Domain,
  deviceOf,
  domain,
  type Quote,
  type Receipt,
  type Rental,
} from '../contracts/typedData.js';

export interface GuestOptions {
  privateKey: string;
  provider: JsonRpcProvider;
  contract: string;
  chainId: number | bigint;
  gatewayId: string;
  mqttUrl?: string;
  /** Broker login, e.g. the shared guest login of `latchkey mosquitto-acl`. */
  mqttUsername?: string;
  mqttPassword?: string;
  httpUrl?: string;
  prefix?: string;
}

/** The access token as sent on the wire (bigints as decimal strings). */
export interface WireToken {
  access: { rentalId: string; deviceId: string; action: Action; nonce: string; validUntil: number };
  signature: string;
  id: string;
}

/** What an agent returns with a checkout: the device-signed usage receipt. */
export interface SignedReceipt {
  receipt: Receipt;
  signature: string;
}

export class Guest {
  readonly wallet: Wallet;
  readonly contract: LatchkeyContract;
  private readonly domain: Domain;
  private readonly prefix: string;
  private client: MqttClient | undefined;
  private readonly pending = new Map<string, (e: ReplyEnvelope) => void>();
  /** The MQTT client id, unique per guest; it owns the reply ids (<client id>/<n>) the broker lets it read. */
  readonly clientId = `${GUEST_CLIENT_ID_PREFIX}${randomBytes(8).toString('hex')}`;

  constructor(private readonly options: GuestOptions) {
    this.wallet = new Wallet(options.privateKey, options.provider);
    this.contract = latchkeyAt(options.contract, this.wallet);
    this.domain = domain(options.chainId, options.contract);
    this.prefix = options.prefix ?? 'latchkey';
  }

  get address(): string {
    return this.wallet.address;
  }

  /** Connects to the broker (MQTT 3.1.1, understood by every broker) and listens for replies. */
  async connect(): Promise<void> {
    if (!this.options.mqttUrl) throw new Error('guest: no mqttUrl given');
    const client = mqtt.connect(this.options.mqttUrl, {
      protocolVersion: 4,
      clientId: this.clientId,
      reconnectPeriod: 500,
      ...(this.options.mqttUsername !== undefined ? { username: this.options.mqttUsername } : {}),
      ...(this.options.mqttPassword !== undefined ? { password: this.options.mqttPassword } : {}),
    });
    client.on('message', (topic, payload) => {
      const id = topic.slice(topic.indexOf('/reply/') + '/reply/'.length);
      const resolve = this.pending.get(id);
      if (!resolve) return;
      this.pending.delete(id);
      resolve(JSON.parse(payload.toString()) as ReplyEnvelope);
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    (client.stream as Partial<Socket>).setNoDelay?.(true);
    await client.subscribeAsync(`${this.prefix}/${this.options.gatewayId}/+/reply/${this.clientId}/+`, {
      qos: 1,
    });
    this.client = client;
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  /**
   * What renting `deviceId` for `seconds` costs at today's prices, as the contract quotes it: the
   * deposit to pay, the most the guest can be charged, the rent of the booked time, and the energy
   * (watt-hours, and its cost) the deposit prepays.
   */
  async quote(deviceId: bigint, seconds: number): Promise<Quote> {
    const q = await this.contract.quote(deviceId, seconds);
    return {
      deposit: q.deposit,
      maxCharge: q.maxCharge,
      rent: q.rent,
      energyWh: q.energyWh,
      energyCost: q.energyCost,
    };
  }

  /** Rents `deviceId` now for `seconds`, paying the quoted deposit. */
  async rent(
    deviceId: bigint,
    seconds: number,
  ): Promise<{ rental: Rental; txHash: string; gasCost: bigint }> {
    const { rental, receipt } = await rentDevice(this.contract, deviceId, seconds);
    return { rental, txHash: receipt.hash, gasCost: receipt.gasUsed * receipt.gasPrice };
  }

  /** Signs an access token for `action` on the rental's device, valid for `validFor` seconds. */
  async token(
    rental: Rental,
    action: Action,
    opts: { validFor?: number; nonce?: bigint; now?: number } = {},
  ): Promise<WireToken> {
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    const access = {
      rentalId: rental.id,
      deviceId: deviceOf(rental.id),
      action,
      nonce: opts.nonce ?? BigInt(`0x${randomBytes(16).toString('hex')}`),
      validUntil: BigInt(now + (opts.validFor ?? 120)),
    };
    const signature = await this.wallet.signTypedData(this.domain, ACCESS_TYPES, access);
    return {
      access: {
        rentalId: access.rentalId.toString(),
        deviceId: access.deviceId.toString(),
        action,
        nonce: access.nonce.toString(),
        validUntil: Number(access.validUntil),
      },
      signature,
      id: `${this.clientId}/${randomBytes(6).toString('hex')}`,
    };
  }

  /** Publishes a token on the device's access topic and waits for the agent's reply. */
  async sendMqtt(deviceId: bigint, token: WireToken, timeoutMs = 10_000): Promise<ReplyEnvelope> {
    const client = this.client;
    if (!client) throw new Error('guest: connect() first');
    const reply = new Promise<ReplyEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token.id);
        reject(new Error(`no reply to ${token.access.action} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token.id, (e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
    await client.publishAsync(
      `${this.prefix}/${this.options.gatewayId}/${deviceId}/access`,
      JSON.stringify(token),
      {
        qos: 1,
      },
    );
    return reply;
  }

  /** Posts a token to the gateway's LAN HTTP endpoint (works while the internet is down). */
  async sendHttp(deviceId: bigint, token: WireToken): Promise<ReplyEnvelope> {
    if (!this.options.httpUrl) throw new Error('guest: no httpUrl given');
    const res = await fetch(`${this.options.httpUrl}/api/devices/${deviceId}/access`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(token),
    });
    return (await res.json()) as ReplyEnvelope;
  }

  /**
   * Sends any message the gateway reads on a device's access topic or route (a token, a session token,
   * a session grant) and resolves with its reply; over MQTT the message gets a request id of this guest.
   */
  async sendMessage(
    deviceId: bigint,
    message: Record<string, unknown>,
    via: 'mqtt' | 'http' = 'mqtt',
  ): Promise<ReplyEnvelope> {
    const id = `${this.clientId}/${randomBytes(6).toString('hex')}`;
    const token = { ...message, id } as unknown as WireToken;
    return via === 'mqtt' ? this.sendMqtt(deviceId, token) : this.sendHttp(deviceId, token);
  }

  /** Signs and sends `action` for the rental over MQTT (default) or HTTP. */
  async act(rental: Rental, action: Action, via: 'mqtt' | 'http' = 'mqtt'): Promise<ReplyEnvelope> {
    const token = await this.token(rental, action);
    const deviceId = deviceOf(rental.id);
    return via === 'mqtt' ? this.sendMqtt(deviceId, token) : this.sendHttp(deviceId, token);
  }

  /**
   * Like act(), but while the agent has not yet seen the rental confirmed on chain ('unknown-rental')
   * signs a fresh token and tries again, up to `timeoutMs`.
   */
  async actWhenConfirmed(
    rental: Rental,
    action: Action,
    via: 'mqtt' | 'http' = 'mqtt',
    timeoutMs = 30_000,
  ): Promise<ReplyEnvelope> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = await this.act(rental, action, via);
      if (reply.status === 'ok' || reply.error.code !== 'unknown-rental' || Date.now() > deadline)
        return reply;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Waits until the rental is settled on chain (by anyone) and returns how. */
  async waitSettled(
    rental: Rental,
    timeoutMs = 60_000,
  ): Promise<{ charge: bigint; refund: bigint; byReceipt: boolean; txHash: string; blockNumber: number }> {
    const filter = {
      address: this.options.contract,
      topics: [latchkeyInterface.getEvent('Settled')?.topicHash ?? null, toBeHex(rental.id, 32)],
      fromBlock: 0,
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const log of await this.options.provider.getLogs(filter)) {
        const event = parseLatchkeyLog(log, this.options.contract);
        if (event?.name !== 'Settled') continue;
        const { charge, refund, byReceipt } = event.args;
        return { charge, refund, byReceipt, txHash: log.transactionHash, blockNumber: log.blockNumber };
      }
      if (Date.now() > deadline) throw new Error(`rental ${rental.id} not settled within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Settles the rental on chain with the device's receipt; returns the tx and its gas cost. */
  async checkout(rental: Rental, signed: SignedReceipt): Promise<{ txHash: string; gasCost: bigint }> {
    const receipt = await mined(
      (await this.contract.checkout(rental, signed.receipt, signed.signature)).wait(),
    );
    return { txHash: receipt.hash, gasCost: receipt.gasUsed * receipt.gasPrice };
  }
}

/** The receipt inside an ok reply to a checkout (bigints arrive as decimal strings). */
export function receiptOf(reply: ReplyEnvelope): SignedReceipt | undefined {
  if (reply.status !== 'ok') return undefined;
  const r = (reply.data as { receipt?: { receipt: Record<string, string>; signature: string } }).receipt;
  if (!r) return undefined;
  return {
    receipt: {
      rentalId: BigInt(r.receipt.rentalId as string),
      secondsUsed: BigInt(r.receipt.secondsUsed as string),
      energyWh: BigInt(r.receipt.energyWh as string),
    },
    signature: r.signature,
  };
}
