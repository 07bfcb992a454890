// The relay of an off-the-shelf MQTT device (a Tasmota or Shelly plug, a zigbee2mqtt lock, an
// ESPHome relay): one class for what all of them share, a flavour per device family for its topics
// and payloads. A switch counts only once the device reports the wanted state; commands are never
// retained; a device that goes offline is reported and, on return, put back in the state wanted.

import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import type { ConfigReader, DriverContext } from './driver.js';
import { RelayError } from './errors.js';
import type { CloseOptions, Relay, RelayEvents, RelayLogger } from './relay.js';
import type { Lease } from './sharedConnections.js';

/** What a device said in one message; each field only when the message carries it. */
export interface DeviceReport {
  closed?: boolean;
  online?: boolean;
  /** The device's cumulative energy counter, in watt-hours. */
  totalWh?: number;
  /** A state that is neither of the two a relay may be in (a jammed or half-locked lock). */
  fault?: string;
}

export interface MqttMessage {
  topic: string;
  payload: string;
}

/** One device family's topics and payloads. */
export interface MqttFlavour {
  /** For logs and the audit trail, e.g. `tasmota plug-7 POWER1`. */
  readonly describe: string;
  /** Exact topics (no wildcards) the device reports on. */
  readonly topics: readonly string[];
  /** The messages that switch the device, with its own off-timer where it has one. */
  command(closed: boolean, holdSeconds: number | undefined): MqttMessage[];
  /** Messages that make the device report its state now; none where it reports retained. */
  query(): MqttMessage[];
  read(topic: string, payload: string): DeviceReport | undefined;
}

/** The broker fields every MQTT device config has (the grammar of them, defined once). */
export interface MqttLogin {
  url: string;
  username?: string;
  password?: string;
  /** How long a switch may take to be confirmed by the device's report; default 5000 ms. */
  confirmMs?: number;
}

export function parseMqttLogin(fields: Record<string, unknown>, path: string, read: ConfigReader): MqttLogin {
  const login: MqttLogin = { url: read.url(fields.url, `${path}.url`, ['mqtt:', 'mqtts:', 'ws:', 'wss:']) };
  const username = read.optionalString(fields.username, `${path}.username`);
  const password = read.optionalString(fields.password, `${path}.password`);
  if (username !== undefined) login.username = username;
  if (password !== undefined) login.password = password;
  if (fields.confirmMs !== undefined)
    login.confirmMs = read.int(fields.confirmMs, `${path}.confirmMs`, 100, 60_000);
  return login;
}

/** A topic name or prefix as devices are configured with: no wildcards, spaces or outer slashes. */
export function readTopic(v: unknown, path: string, read: ConfigReader): string {
  const s = read.string(v, path);
  if (s !== '' && !/^[^\s#+/]([^\s#+]{0,126}[^\s#+/])?$/.test(s))
    read.problems.push(`${path}: not a topic name: ${JSON.stringify(s)}`);
  return s;
}

/** The broker connection the devices on one login share, opened through the context's pool. */
async function connect(login: MqttLogin, context: DriverContext): Promise<Lease<MqttClient>> {
  const key = `mqtt ${login.url} ${login.username ?? ''}`;
  return context.connections.acquire(
    key,
    async () => {
      const mqtt = await import('mqtt');
      const client = await mqtt.connectAsync(login.url, {
        clientId: `latchkey-devices-${Math.random().toString(16).slice(2, 10)}`,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        ...(login.username === undefined ? {} : { username: login.username }),
        ...(login.password === undefined ? {} : { password: login.password }),
      });
      client.setMaxListeners(0); // one listener per device on this connection
      client.on('error', (e) =>
        context.log.warn('device broker error', { broker: hostOf(login.url), error: e }),
      );
      return client;
    },
    (client) => client.endAsync(),
  );
}

/** The broker's host and port, never its credentials. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}

interface Pending {
  closed: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Tasmota PulseTime can hold at most 64,800 s: longer holds are renewed this long before they end. */
const RENEW_BEFORE_MS = 10 * 60_000;

/**
 * Commands sent, one at a time and each awaited for `confirmMs`, to bring back a device that reports
 * a state other than the one wanted; after that many it is a fault (a welded relay) and the driver
 * stops sending until the device agrees or the controller commands again.
 */
export const MAX_RESENDS = 2;

export class MqttDeviceRelay implements Relay {
  readonly describe: string;
  readonly events = new EventEmitter<RelayEvents>();
  private connection: Lease<MqttClient> | undefined;
  private started = false;
  /** What the rental wants; the device is brought back to it whenever it reports otherwise. */
  private wanted = false;
  /** When the wanted hold ends (monotonic ms), to renew or re-send the remaining hold. */
  private holdUntil: number | undefined;
  private reported: boolean | undefined;
  private online: boolean | undefined;
  private pending: Pending | undefined;
  /** Bumped by every command and every re-send; a re-send whose generation is past is over. */
  private generation = 0;
  /** Re-sends since the device last agreed with the wanted state or the controller last commanded. */
  private resends = 0;
  /** A re-send awaits the device's answer: further disagreeing reports wait for it. */
  private resending = false;
  private readonly onMessage = (topic: string, payload: Buffer) =>
    this.handle(topic, payload.toString('utf8'));
  private readonly onConnect = () => this.refresh();
  private readonly confirmMs: number;

  constructor(
    private readonly flavour: MqttFlavour,
    private readonly login: MqttLogin,
    private readonly context: DriverContext,
    private readonly maxHoldSeconds = Number.POSITIVE_INFINITY,
  ) {
    this.describe = `${flavour.describe} on ${hostOf(login.url)}`;
    this.confirmMs = login.confirmMs ?? 5000;
  }

  private get log(): RelayLogger {
    return this.context.log;
  }

  isOnline(): boolean {
    return this.online !== false;
  }

  isClosed(): boolean {
    return this.reported ?? false;
  }

  async start(): Promise<void> {
    if (!this.connection) {
      const connection = await connect(this.login, this.context);
      this.connection = connection;
      connection.value.on('message', this.onMessage);
      connection.value.on('connect', this.onConnect);
      try {
        await connection.value.subscribeAsync([...this.flavour.topics], { qos: 1 });
      } catch (e) {
        await this.release();
        throw new RelayError('RELAY_FAILED', `${this.describe}: cannot subscribe to the device's topics`, {
          cause: e,
        });
      }
    }
    this.started = true;
    try {
      await this.publish(this.flavour.query());
      await this.drive(false, undefined);
    } catch (e) {
      // Not started: the controller retries start(), which subscribes afresh.
      this.started = false;
      await this.release();
      throw e;
    }
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (!this.started) throw new RelayError('RELAY_FAILED', `${this.describe} is not started`);
    if (this.online === false) throw new RelayError('RELAY_FAILED', `${this.describe} is offline`);
    await this.drive(true, options.holdSeconds);
  }

  async open(): Promise<void> {
    if (!this.started) throw new RelayError('RELAY_FAILED', `${this.describe} is not started`);
    await this.drive(false, undefined);
  }

  async stop(): Promise<void> {
    if (!this.connection) return;
    if (this.started) {
      try {
        await this.drive(false, undefined);
      } finally {
        this.started = false;
        await this.release();
      }
    } else {
      await this.release();
    }
  }

  private async release(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    clearTimeout(this.renewal);
    this.settle(new RelayError('RELAY_FAILED', `${this.describe} stopped`));
    connection.value.off('message', this.onMessage);
    connection.value.off('connect', this.onConnect);
    await connection.value.unsubscribeAsync([...this.flavour.topics]).catch(() => {});
    await connection.release();
  }

  /**
   * Sends the device to `closed` and waits for it to say so. A device known to be offline takes
   * the wish for when it returns (only the safe direction gets here: close() refuses first).
   */
  private async drive(closed: boolean, holdSeconds: number | undefined): Promise<void> {
    clearTimeout(this.renewal);
    this.generation++;
    this.resends = 0;
    this.settle(new RelayError('RELAY_FAILED', `${this.describe}: superseded by a newer command`));
    this.wanted = closed;
    this.holdUntil = closed && holdSeconds !== undefined ? performance.now() + holdSeconds * 1000 : undefined;
    if (this.online === false) {
      this.log.warn('device offline: it is switched when it returns', { relay: this.describe, closed });
      return;
    }
    // A device reports every change, so one that last said `closed` is still there: the command
    // (which may renew its hold) needs no second confirmation.
    if (this.reported === closed && this.online === true) {
      await this.publish(this.flavour.command(closed, this.holdToSend()));
      return;
    }
    const confirmed = this.awaitReport(closed);
    confirmed.catch(() => {}); // awaited below; a report may settle it while the publish is in flight
    await this.publish(this.flavour.command(closed, this.holdToSend())).catch((e) => {
      this.settle(e);
    });
    await confirmed;
  }

  /** The hold to ask of the device now: what remains of the wanted one, at most what it can hold. */
  private holdToSend(): number | undefined {
    if (this.holdUntil === undefined) return undefined;
    const left = Math.max(1, Math.ceil((this.holdUntil - performance.now()) / 1000));
    if (left <= this.maxHoldSeconds) return left;
    this.scheduleRenewal();
    return this.maxHoldSeconds;
  }

  private renewal: ReturnType<typeof setTimeout> | undefined;

  private scheduleRenewal(): void {
    clearTimeout(this.renewal);
    const delay = Math.max(1000, this.maxHoldSeconds * 1000 - RENEW_BEFORE_MS);
    this.renewal = setTimeout(() => {
      if (!this.started || !this.wanted) return;
      this.publish(this.flavour.command(true, this.holdToSend())).catch((e) =>
        this.log.warn('could not renew the device timer', { relay: this.describe, error: e }),
      );
    }, delay);
    this.renewal.unref();
  }

  private awaitReport(closed: boolean): Promise<void> {
    this.settle(new RelayError('RELAY_FAILED', `${this.describe}: superseded by a newer command`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(
          new RelayError(
            'RELAY_FAILED',
            `${this.describe} did not report ${closed ? 'on' : 'off'} within ${this.confirmMs} ms`,
          ),
        );
      }, this.confirmMs);
      this.pending = { closed, resolve, reject, timer };
    });
  }

  private settle(error?: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve();
  }

  private async publish(messages: MqttMessage[]): Promise<void> {
    const client = this.connection?.value;
    if (!client) throw new RelayError('RELAY_FAILED', `${this.describe} is not connected`);
    for (const m of messages) {
      try {
        await client.publishAsync(m.topic, m.payload, { qos: 1, retain: false });
      } catch (e) {
        throw new RelayError('RELAY_FAILED', `${this.describe}: cannot publish to ${m.topic}`, { cause: e });
      }
    }
  }

  /** After a broker reconnect: ask again, and put the device back where it should be. */
  private refresh(): void {
    if (!this.started) return;
    this.publish(this.flavour.query()).catch(() => {});
  }

  private handle(topic: string, payload: string): void {
    if (!this.flavour.topics.includes(topic)) return;
    let report: DeviceReport | undefined;
    try {
      report = this.flavour.read(topic, payload);
    } catch {
      report = undefined;
    }
    if (!report) return;
    if (report.online !== undefined && report.online !== this.online) {
      const was = this.online;
      this.online = report.online;
      this.events.emit('availability', report.online);
      if (report.online) {
        // Back from an outage: whatever it booted into, put it where the rental wants it.
        if (was === false) {
          this.log.info('device back online', { relay: this.describe });
          this.resends = 0; // a device back from an outage gets its full count of re-sends
          this.reported = undefined; // it may have rebooted: its state is what it reports next
          if (this.started) this.reconcile(true);
        }
      } else {
        this.log.warn('device offline', { relay: this.describe });
        if (this.pending && !this.pending.closed)
          this.settle(); // off is taken up on return
        else this.settle(new RelayError('RELAY_FAILED', `${this.describe} went offline`));
      }
    }
    if (report.totalWh !== undefined && Number.isFinite(report.totalWh) && report.totalWh >= 0)
      this.events.emit('energy', report.totalWh);
    if (report.fault !== undefined) {
      this.log.error('device fault', { relay: this.describe, fault: report.fault });
      this.events.emit('fault', report.fault);
      // Its state is unknown until it reports one: the next command awaits that report.
      this.reported = undefined;
      this.settle(new RelayError('RELAY_FAILED', `${this.describe}: ${report.fault}`));
      return;
    }
    if (report.closed === undefined) return;
    const changed = report.closed !== this.reported;
    this.reported = report.closed;
    if (report.closed === this.wanted) this.resends = 0;
    if (report.online === undefined && this.online === false) {
      // A state report is a sign of life even from a device whose will said offline.
      this.online = true;
      this.events.emit('availability', true);
    }
    if (changed) this.events.emit('reported', report.closed);
    if (this.pending) {
      if (this.pending.closed === report.closed) this.settle();
      return;
    }
    if (this.started && report.closed !== this.wanted) this.reconcile();
  }

  /**
   * The device is not where the rental wants it (it rebooted, a button was pressed): send it back,
   * one command at a time, each awaited for `confirmMs`. A device that still disagrees after
   * MAX_RESENDS commands is reported as a fault and left alone (a welded relay answers every command
   * with "on": sending on every answer would never end).
   */
  private reconcile(force = false): void {
    if (this.resending) return;
    if (this.wanted && this.holdUntil !== undefined && performance.now() >= this.holdUntil) {
      this.wanted = false; // its hold ran out while it was away
    }
    const closed = this.wanted;
    if (this.reported === closed) {
      // Back from an outage in the wanted state, as far as it said: the command renews its hold.
      if (force)
        this.publish(this.flavour.command(closed, closed ? this.holdToSend() : undefined)).catch((e) =>
          this.log.warn('could not switch the device back', { relay: this.describe, error: e }),
        );
      return;
    }
    if (this.resends >= MAX_RESENDS) {
      if (this.resends === MAX_RESENDS) {
        this.resends++; // reported once, until the device agrees or the controller commands again
        const fault = `reports ${this.reported ? 'on' : 'off'} after ${MAX_RESENDS} commands to switch it ${closed ? 'on' : 'off'}`;
        this.log.error('device does not switch; no more commands sent', { relay: this.describe, fault });
        this.events.emit('fault', fault);
      }
      return;
    }
    this.resends++;
    const generation = ++this.generation;
    this.log.warn('device state differs from the rental; switching it back', {
      relay: this.describe,
      reported: this.reported,
      wanted: closed,
      attempt: this.resends,
    });
    this.resending = true;
    const confirmed = this.awaitReport(closed);
    this.publish(this.flavour.command(closed, closed ? this.holdToSend() : undefined)).catch((e) => {
      if (generation === this.generation) this.settle(e);
    });
    confirmed
      .catch((e) => {
        if (generation === this.generation)
          this.log.warn('could not switch the device back', { relay: this.describe, error: e });
      })
      .finally(() => {
        this.resending = false;
        // Superseded by a command, stopped or offline: whoever comes next decides.
        if (generation !== this.generation || !this.started || this.online === false) return;
        if (this.reported !== this.wanted) this.reconcile();
      });
  }
}
