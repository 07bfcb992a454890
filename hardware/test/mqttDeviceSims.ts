// Off-the-shelf MQTT devices simulated at the protocol level, from their published documentation:
// a Tasmota plug, a Shelly Gen2 switch, a zigbee2mqtt plug or lock and an ESPHome relay. Each is a
// real MQTT client on a real broker, with its will, its retained birth, its own off-timer
// (PulseTime, toggle_after) and an energy counter that can reset, so the drivers meet what they
// would meet on a host's network.

import mqtt, { type MqttClient } from 'mqtt';

interface Msg {
  topic: string;
  payload: string;
  retain?: boolean;
}

export abstract class SimMqttDevice {
  /** Whether the device's load is energised (the relay contact as the hardware holds it). */
  on = false;
  /** The device's cumulative energy counter, Wh. */
  totalWh = 0;
  /** A welded contact: the load stays energised whatever the device is told, and it says so. */
  welded = false;
  /** Every command topic and payload the device received, in order. */
  readonly received: Msg[] = [];
  private client: MqttClient | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(protected readonly url: string) {}

  protected abstract will(): Msg;
  protected abstract birth(): Msg[];
  protected abstract commandTopics(): string[];
  protected abstract handle(topic: string, payload: string): Promise<void>;
  /** What the device publishes when its contact changes. */
  protected abstract stateMessages(): Msg[];
  protected abstract energyMessages(): Msg[];

  get online(): boolean {
    return this.client?.connected === true;
  }

  async connect(): Promise<void> {
    const will = this.will();
    const client = await mqtt.connectAsync(this.url, {
      clientId: `sim-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 0,
      will: { topic: will.topic, payload: Buffer.from(will.payload), retain: true, qos: 1 },
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      this.received.push({ topic, payload: payload.toString() });
      // A device works through its commands one at a time, in the order they arrived.
      this.queue = this.queue.then(() => this.handle(topic, payload.toString())).catch(() => {});
    });
    await client.subscribeAsync(this.commandTopics(), { qos: 1 });
    await this.send([...this.birth(), ...this.stateMessages()]);
  }

  /** Power pulled: the connection dies without a goodbye, so the broker sends the will. */
  async powerCut(): Promise<void> {
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    client?.stream.destroy();
    client?.end(true);
  }

  /** Power back: the device boots with its load as given (its power-on state) and reconnects. */
  async powerOn(on: boolean): Promise<void> {
    this.on = on;
    await this.connect();
  }

  /** The button on the device toggles it, as a person standing next to it would. */
  async pressButton(): Promise<void> {
    await this.setOn(!this.on, undefined);
  }

  /** The contact welds shut (an overload arced it): the load is on and stays on, as reported. */
  async weld(): Promise<void> {
    this.welded = true;
    this.on = true;
    await this.report();
  }

  /** The device reports its state by itself, changed or not (a telemetry period, a status poll). */
  async report(): Promise<void> {
    await this.send(this.stateMessages());
  }

  async addEnergy(wh: number): Promise<void> {
    this.totalWh += wh;
    await this.send(this.energyMessages());
  }

  /** A firmware update or a counter reset in the device's menu sets its total back to zero. */
  async resetCounter(): Promise<void> {
    this.totalWh = 0;
    await this.send(this.energyMessages());
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.endAsync();
  }

  /** Switches the load; `holdSeconds` is the device's own off-timer for an on. */
  protected async setOn(wanted: boolean, holdSeconds: number | undefined): Promise<void> {
    clearTimeout(this.timer);
    const on = wanted || this.welded;
    const changed = on !== this.on;
    this.on = on;
    if (on && holdSeconds !== undefined && holdSeconds > 0) {
      this.timer = setTimeout(() => {
        this.setOn(false, undefined).catch(() => {});
      }, holdSeconds * 1000);
    }
    if (changed) await this.send(this.stateMessages());
  }

  protected async send(messages: Msg[]): Promise<void> {
    const client = this.client;
    if (!client) return;
    for (const m of messages)
      await client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain === true });
  }
}

/** A single-relay Tasmota plug with FullTopic `%prefix%/%topic%/` and PowerOnState 0. */
export class SimTasmota extends SimMqttDevice {
  /** The PulseTime1 setting as the device stores it (encoded). */
  pulseTime = 0;

  constructor(
    url: string,
    readonly topic: string,
  ) {
    super(url);
  }

  protected will = () => ({ topic: `tele/${this.topic}/LWT`, payload: 'Offline', retain: true });
  protected birth = () => [{ topic: `tele/${this.topic}/LWT`, payload: 'Online', retain: true }];
  protected commandTopics = () => [`cmnd/${this.topic}/#`];
  protected stateMessages = () => [
    { topic: `stat/${this.topic}/RESULT`, payload: JSON.stringify({ POWER: this.on ? 'ON' : 'OFF' }) },
    { topic: `stat/${this.topic}/POWER`, payload: this.on ? 'ON' : 'OFF' },
  ];
  protected energyMessages = () => [
    {
      topic: `tele/${this.topic}/SENSOR`,
      payload: JSON.stringify({
        Time: new Date().toISOString(),
        ENERGY: { Total: this.totalWh / 1000, Power: 40 },
      }),
    },
  ];

  /** Seconds a PulseTime value holds: 1–111 tenths of a second, 112–64900 seconds + 100. */
  static holdOf(pulseTime: number): number {
    if (pulseTime <= 0) return 0;
    return pulseTime <= 111 ? pulseTime / 10 : pulseTime - 100;
  }

  protected async handle(topic: string, payload: string): Promise<void> {
    const command = topic.slice(`cmnd/${this.topic}/`.length).toUpperCase();
    if (command === 'STATUS' && payload === '8') {
      await this.send([
        {
          topic: `stat/${this.topic}/STATUS8`,
          payload: JSON.stringify({
            StatusSNS: { Time: new Date().toISOString(), ENERGY: { Total: this.totalWh / 1000 } },
          }),
        },
      ]);
      return;
    }
    if (command === 'PULSETIME1' || command === 'PULSETIME') {
      this.pulseTime = Number(payload);
      await this.send([
        {
          topic: `stat/${this.topic}/RESULT`,
          payload: JSON.stringify({ PulseTime1: { Set: this.pulseTime } }),
        },
      ]);
      return;
    }
    if (command !== 'POWER1' && command !== 'POWER') return;
    const p = payload.toUpperCase();
    if (p === 'ON' || p === 'OFF') {
      // Tasmota answers every POWER command with its state, changed or not.
      await this.setOn(p === 'ON', p === 'ON' ? SimTasmota.holdOf(this.pulseTime) : undefined);
    }
    await this.send(this.stateMessages());
  }
}

/** A Shelly Gen2 switch (e.g. a Plus Plug S) with the default topic prefix = its id. */
export class SimShelly extends SimMqttDevice {
  constructor(
    url: string,
    readonly prefix: string,
  ) {
    super(url);
  }

  protected will = () => ({ topic: `${this.prefix}/online`, payload: 'false', retain: true });
  protected birth = () => [{ topic: `${this.prefix}/online`, payload: 'true', retain: true }];
  protected commandTopics = () => [`${this.prefix}/rpc`];
  private status = () => ({
    id: 0,
    source: 'mqtt',
    output: this.on,
    apower: this.on ? 40 : 0,
    aenergy: { total: this.totalWh },
  });
  private notify = () => ({
    topic: `${this.prefix}/events/rpc`,
    payload: JSON.stringify({
      src: this.prefix,
      dst: `${this.prefix}/events`,
      method: 'NotifyStatus',
      params: { ts: Date.now() / 1000, 'switch:0': this.status() },
    }),
  });
  protected stateMessages = () => [this.notify()];
  protected energyMessages = () => [this.notify()];

  protected async handle(_topic: string, payload: string): Promise<void> {
    const req = JSON.parse(payload) as {
      id: number;
      src: string;
      method: string;
      params?: Record<string, unknown>;
    };
    const reply = (body: Record<string, unknown>) =>
      this.send([
        {
          topic: `${req.src}/rpc`,
          payload: JSON.stringify({ id: req.id, src: this.prefix, dst: req.src, ...body }),
        },
      ]);
    if (req.params?.id !== 0)
      return reply({
        error: { code: -105, message: `Argument 'id', value ${String(req.params?.id)} not found!` },
      });
    if (req.method === 'Switch.GetStatus') return reply({ result: this.status() });
    if (req.method === 'Switch.Set') {
      const wasOn = this.on;
      const hold = typeof req.params.toggle_after === 'number' ? req.params.toggle_after : undefined;
      await this.setOn(req.params.on === true, req.params.on === true ? hold : undefined);
      return reply({ result: { was_on: wasOn } });
    }
    return reply({ error: { code: 404, message: `No handler for ${req.method}` } });
  }
}

/** A zigbee2mqtt device (availability enabled): a metering plug, or a lock that can jam. */
export class SimZigbee extends SimMqttDevice {
  /** A lock that will report `not_fully_locked` on its next LOCK command. */
  jamOnNextLock = false;
  private jammed = false;

  constructor(
    url: string,
    readonly name: string,
    readonly lock: boolean,
  ) {
    super(url);
  }

  /** The bolt blocked half-way by itself (a door not pushed shut): it reports `not_fully_locked`. */
  async jam(): Promise<void> {
    this.jammed = true;
    await this.send(this.stateMessages());
  }

  private get base() {
    return `zigbee2mqtt/${this.name}`;
  }
  protected will = () => ({
    topic: `${this.base}/availability`,
    payload: JSON.stringify({ state: 'offline' }),
    retain: true,
  });
  protected birth = () => [
    { topic: `${this.base}/availability`, payload: JSON.stringify({ state: 'online' }), retain: true },
  ];
  protected commandTopics = () => [`${this.base}/set`, `${this.base}/get`];
  private payload = () =>
    JSON.stringify(
      this.lock
        ? {
            state: this.on ? 'UNLOCK' : 'LOCK',
            lock_state: this.jammed ? 'not_fully_locked' : this.on ? 'unlocked' : 'locked',
            battery: 87,
            linkquality: 120,
          }
        : {
            state: this.on ? 'ON' : 'OFF',
            energy: this.totalWh / 1000,
            power: this.on ? 40 : 0,
            linkquality: 120,
          },
    );
  protected stateMessages = () => [{ topic: this.base, payload: this.payload(), retain: true }];
  protected energyMessages = () => this.stateMessages();

  protected async handle(topic: string, payload: string): Promise<void> {
    if (topic.endsWith('/get')) return this.send(this.stateMessages());
    const state = (JSON.parse(payload) as { state?: string }).state;
    if (this.lock && state === 'LOCK' && this.jamOnNextLock) {
      this.jamOnNextLock = false;
      this.jammed = true;
      return this.send(this.stateMessages());
    }
    this.jammed = false;
    const on = this.lock ? state === 'UNLOCK' : state === 'ON';
    await this.setOn(on, undefined);
    await this.send(this.stateMessages()); // zigbee2mqtt publishes the device state after every set
  }
}

/** An ESPHome relay board with the MQTT component (birth/will on `<prefix>/status`). */
export class SimEsphome extends SimMqttDevice {
  constructor(
    url: string,
    readonly prefix: string,
    readonly switchId: string,
  ) {
    super(url);
  }

  protected will = () => ({ topic: `${this.prefix}/status`, payload: 'offline', retain: true });
  protected birth = () => [{ topic: `${this.prefix}/status`, payload: 'online', retain: true }];
  protected commandTopics = () => [`${this.prefix}/switch/${this.switchId}/command`];
  protected stateMessages = () => [
    { topic: `${this.prefix}/switch/${this.switchId}/state`, payload: this.on ? 'ON' : 'OFF', retain: true },
  ];
  protected energyMessages = () => [];

  protected async handle(_topic: string, payload: string): Promise<void> {
    if (payload !== 'ON' && payload !== 'OFF') return;
    await this.setOn(payload === 'ON', undefined);
    await this.send(this.stateMessages()); // ESPHome publishes the state after every command
  }
}
