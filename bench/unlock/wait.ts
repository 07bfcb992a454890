// Bounded waiting for the unlock benchmark: every wait on the system under test has a limit and says what
// did not happen.

import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { BenchFault } from './cycle.js';

/** Resolves with performance.now() when the gateway's retained availability says 'online'. */
export async function watchOnline(
  url: string,
  gatewayId: string,
): Promise<{ online: Promise<number>; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  const online = new Promise<number>((resolve) => {
    client.on('message', (_topic, payload) => {
      if (payload.toString() === 'online') resolve(performance.now());
    });
  });
  await client.subscribeAsync(`latchkey/${gatewayId}/availability`, { qos: 1 });
  return { online, close: () => client.endAsync() };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BenchFault(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const sleepUntil = (t: number) => sleep(Math.max(0, t - performance.now()));
