// Observation points in an agent running in the benchmark's own process: the lock's simulated relay,
// the time a token reaches the access handler, and the store's durable commits (µs of overhead each).

import type { Agent } from '../../agent/agent.js';
import type { Store } from '../../agent/store/store.js';
import { SimRelay } from '../../hardware/sim.js';

/** One valid unlock sent during a flood; times are performance.now(). */
export interface ValidTrack {
  sent: number;
  /** The agent's access handler took it (in-process only). */
  entered?: number;
  /** The relay closed for it (in-process only). */
  switched?: number;
  reply?: number | null;
}

/** The lock's simulated relay, reached through its controller's core (private field, read-only use). */
export function simRelayOf(agent: Agent, deviceId: bigint): SimRelay {
  const controller = agent.controllers.get(deviceId);
  const core: unknown = controller ? Reflect.get(controller, 'core') : undefined;
  const relay: unknown = typeof core === 'object' && core !== null ? Reflect.get(core, 'relay') : undefined;
  if (!(relay instanceof SimRelay)) throw new Error(`device ${deviceId} is not driven by a SimRelay`);
  return relay;
}

export interface Probe {
  /** performance.now() when the agent's access handler last received a token (after broker + bus). */
  lastAccessIn: number;
  /** Durable store commits (top-level tx or auto-committed write): end time and duration. */
  commits: { end: number; ms: number }[];
  depth: number;
  /**
   * Valid unlocks being tracked by request id, and those the handler took whose relay close is still to
   * come: the controller applies grants one at a time in arrival order, so closes come in this order.
   */
  valid: Map<string, ValidTrack>;
  awaitingClose: ValidTrack[];
  /** performance.now() of every answer the access handler produced. */
  answered: number[];
}

/** Wraps the agent's access handler and the store's committing methods with timestamps (µs overhead). */
export function instrument(agent: Agent): Probe {
  const probe: Probe = {
    lastAccessIn: 0,
    commits: [],
    depth: 0,
    valid: new Map(),
    awaitingClose: [],
    answered: [],
  };
  const access = agent.access.bind(agent);
  agent.access = (deviceId, payload, source) => {
    probe.lastAccessIn = performance.now();
    // The source of a token with an id is mqtt:reply/<id> (agent/mqtt/request.ts).
    const track = probe.valid.size > 0 ? probe.valid.get(source.slice('mqtt:reply/'.length)) : undefined;
    if (track) {
      track.entered = probe.lastAccessIn;
      probe.awaitingClose.push(track);
    }
    const answer = access(deviceId, payload, source);
    void answer.then(
      () => probe.answered.push(performance.now()),
      () => {},
    );
    return answer;
  };
  const store = agent.store as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['tx', 'audit', 'putDeviceRuntime'] as const satisfies readonly (keyof Store)[]) {
    const original = (store[name] as (...args: unknown[]) => unknown).bind(agent.store);
    store[name] = (...args: unknown[]) => {
      const top = probe.depth === 0;
      probe.depth++;
      const t = performance.now();
      try {
        return original(...args);
      } finally {
        probe.depth--;
        if (top) {
          const end = performance.now();
          probe.commits.push({ end, ms: end - t });
        }
      }
    };
  }
  return probe;
}
