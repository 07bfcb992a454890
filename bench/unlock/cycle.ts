// One measured unlock and the relock behind it, as a guest's phone sends them over MQTT: the unit of the
// unlock benchmark's latency phases.

import type { ReplyEnvelope } from '../../agent/mqtt/topics.js';
import type { SimRelay } from '../../hardware/sim.js';
import type { BenchClient } from './client.js';
import type { Probe } from './probe.js';
import type { BenchToken } from './tokens.js';

/** Reply topics are subscribed this many unlock/lock pairs at a time, outside the timed window. */
const BLOCK = 50;

/** A valid token the agent refused, or another fault of the system under test: the run fails. */
export class BenchFault extends Error {}

export type Pair = [BenchToken, BenchToken];

export function waitSwitch(relay: SimRelay, closed: boolean, timeoutMs: number) {
  let cancel: () => void = () => {};
  const at = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      relay.off('switch', on);
      reject(new BenchFault(`relay did not ${closed ? 'close' : 'open'} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (s: { closed: boolean }) => {
      if (s.closed !== closed) return;
      const t = performance.now();
      clearTimeout(timer);
      relay.off('switch', on);
      resolve(t);
    };
    relay.on('switch', on);
    cancel = () => {
      clearTimeout(timer);
      relay.off('switch', on);
    };
  });
  at.catch(() => {});
  return { at, cancel };
}

export function refusal(action: string, reply: ReplyEnvelope): BenchFault {
  return new BenchFault(
    reply.status === 'error'
      ? `a valid ${action} token was refused: ${reply.error.code}: ${reply.error.message}`
      : `unexpected reply to ${action}`,
  );
}

export interface Cycle {
  /** performance.now() of the unlock's publish. */
  start: number;
  /** Publish → relay closed (in-process agent) or publish → reply (agent in another process). */
  ms: number;
  /** Publish → the agent's access handler entered (in-process only). */
  toHandlerMs?: number;
  /** Durable store commits between the handler and the relay closing, and their total time. */
  commits?: number;
  commitMs?: number;
}

/** One measured unlock and the relock that makes the next unlock switch the relay again. */
export async function cycle(
  client: BenchClient,
  deviceId: bigint,
  [unlock, lock]: Pair,
  timeoutMs: number,
  relay?: SimRelay,
  probe?: Probe,
): Promise<Cycle> {
  if (relay?.isClosed()) throw new BenchFault('the relay is closed before an unlock');
  const closed = relay ? waitSwitch(relay, true, timeoutMs) : undefined;
  const fromCommit = probe?.commits.length ?? 0;
  const t0 = performance.now();
  let reply: ReplyEnvelope;
  try {
    reply = await client.send(deviceId, unlock, timeoutMs);
  } catch (e) {
    closed?.cancel();
    throw e;
  }
  const tReply = performance.now();
  if (reply.status !== 'ok') {
    closed?.cancel();
    throw refusal('unlock', reply);
  }
  const tSwitch = closed ? await closed.at : tReply;
  const result: Cycle = { start: t0, ms: tSwitch - t0 };
  if (probe) {
    const before = probe.commits.slice(fromCommit).filter((c) => c.end <= tSwitch);
    result.toHandlerMs = probe.lastAccessIn - t0;
    result.commits = before.length;
    result.commitMs = before.reduce((a, c) => a + c.ms, 0);
  }
  const opened = relay ? waitSwitch(relay, false, timeoutMs) : undefined;
  const relock = await client.send(deviceId, lock, timeoutMs);
  if (relock.status !== 'ok') {
    opened?.cancel();
    throw refusal('lock', relock);
  }
  if (opened) await opened.at;
  return result;
}

/** Runs unlock/lock cycles one after another, reply topics subscribed a block at a time. */
export async function runCycles(
  client: BenchClient,
  deviceId: bigint,
  pairs: Pair[],
  relay?: SimRelay,
  probe?: Probe,
): Promise<Cycle[]> {
  const out: Cycle[] = [];
  for (let i = 0; i < pairs.length; i++) {
    if (i % BLOCK === 0) {
      if (i > 0) client.release(deviceId, pairs.slice(i - BLOCK, i).flat());
      await client.prepare(deviceId, pairs.slice(i, i + BLOCK).flat());
    }
    out.push(await cycle(client, deviceId, pairs[i] as Pair, 5_000, relay, probe));
  }
  client.release(deviceId, pairs.slice(pairs.length - (pairs.length % BLOCK || BLOCK)).flat());
  return out;
}
