// The physical floor under an unlock, measured on its own: one MQTT QoS 1 round trip through the broker
// (a client publishing to a topic it subscribes to, as a token reaches the agent) and one synchronous
// store commit of what an unlock writes (its nonce, the relay runtime row, two audit rows), on the
// agent's own store code, WAL with synchronous=FULL, in the same temp directory as the agents' stores.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { Store } from '../../agent/store/store.js';
import { type Summary, summarize } from './stats.js';

export interface Floor {
  measures: string;
  mqttRoundTrip: Summary;
  commit: Summary;
}

const MB_TOPIC = 'latchkey-bench/floor';
/** Samples dropped first (JIT, page cache, connection). */
const WARMUP = 100;

export async function mqttRoundTrip(url: string, n: number): Promise<Summary> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId: `bench-floor-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: 0,
  });
  (client.stream as Partial<Socket>).setNoDelay?.(true);
  const topic = `${MB_TOPIC}/${randomBytes(4).toString('hex')}`;
  await client.subscribeAsync(topic, { qos: 1 });
  let arrived: (() => void) | undefined;
  client.on('message', () => arrived?.());
  const payload = Buffer.alloc(330, 0x61); // about a session token's size
  try {
    return await sampled(n, async () => {
      const got = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const t0 = performance.now();
      client.publish(topic, payload, { qos: 1 });
      await got;
      return performance.now() - t0;
    });
  } finally {
    await client.endAsync();
  }
}

/** `n` commits of an unlock's writes, one transaction each. */
export async function commitFloor(n: number, deviceId: bigint, rentalId: bigint): Promise<Summary> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-floor-'));
  const store = new Store(path.join(dir, 'floor.sqlite'));
  store.start();
  const at = Math.floor(Date.now() / 1000);
  const audit = () =>
    store.audit({ at, deviceId, rentalId, action: 'unlock', actor: 'floor', outcome: 'ok', reason: 'floor' });
  let i = 0;
  try {
    return await sampled(n, () => {
      const digest = `0x${randomBytes(32).toString('hex')}`;
      const t0 = performance.now();
      store.tx(() => {
        store.useNonce(digest, at + 300);
        audit();
        store.putDeviceRuntime({
          deviceId,
          rentalId,
          relayClosed: true,
          usedSeconds: i++,
          energyWh: 0,
          updatedAt: at,
        });
        audit();
      });
      return performance.now() - t0;
    });
  } finally {
    store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** WARMUP + n runs of `once` (each returning its own ms), one after another; the last n summarised. */
async function sampled(n: number, once: () => number | Promise<number>): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < n + WARMUP; i++) {
    const ms = await once();
    if (i >= WARMUP) samples.push(ms);
  }
  return summarize(samples);
}
