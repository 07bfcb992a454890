// Chain faults through the whole agent: a rental reorged out by a real anvil_reorg while its socket is
// on, and every RPC endpoint down (a refused port first, then a gate that cuts connections) while a
// confirmed rental keeps working and a new one is refused with a clear "chain unavailable"
// (RELIABILITY 9, 12).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded, startEmbedded } from '../agent/embedded.js';
import type { Rental } from '../contracts/typedData.js';
import { type Guest, receiptOf } from '../guest/client.js';
import {
  actWhenLive,
  closedPortUrl,
  deviceState,
  embeddedSetup,
  guestOf,
  ok,
  RpcGate,
  registerDevices,
  StateLog,
  settled,
  settlements,
  testLog,
  waitFor,
} from './system.js';

const HOUR = 3600;

let e: Embedded;
let gate: RpcGate;
let states: StateLog;
let guest: Guest;
const alarms: string[] = [];
const LOCK = 1n;
const SOCKET = 2n;
/** Registered after the agent started, for the rental the agent cannot see while the chain is down. */
const NEW_SOCKET = 3n;

beforeAll(async () => {
  gate = await new RpcGate().start();
  const refused = await closedPortUrl();
  e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    confirmations: 0,
    configOverrides: (c) => {
      gate.target = c.chain.rpcUrls[0] ?? '';
      return {
        ...c,
        // The first endpoint refuses every connection: the agent fails over to the gate from the start.
        chain: { ...c.chain, pollMs: 100, rpcUrls: [refused, gate.url] },
        devices: [
          ...c.devices,
          { id: NEW_SOCKET, kind: 'socket' as const, pulseSeconds: 1, relay: { driver: 'sim' as const } },
        ].map((d) => ({ ...d, pulseSeconds: 1 })),
      };
    },
  });
  expect(
    await registerDevices(e.contract, e.gateway.address, [{ kind: 'socket', ...DEMO_PRICES.socket }]),
  ).toEqual([NEW_SOCKET]);
  states = new StateLog(e.agent);
  e.agent.on('alarm', (a) => alarms.push(a.kind));
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  guest = await guestOf(account, embeddedSetup(e));
});

afterAll(async () => {
  await e?.stop();
  await gate?.stop();
});

const rpc = <T>(method: string, params: unknown[] = []) =>
  e.anvil.provider.send(method, params) as Promise<T>;

describe('chain faults through the agent', () => {
  it('a rental reorged out while its socket is on: the relay goes off and no receipt is ever made', async () => {
    const rented = await guest.rent(SOCKET, HOUR);
    const { rental } = rented;
    const rentBlock = (await e.anvil.provider.getTransactionReceipt(rented.txHash))?.blockNumber ?? 0;
    const mark = states.mark();
    ok(await actWhenLive(guest, rental, 'on', 'http'), 'on');
    await states.until(SOCKET, (s) => s.relay === 'closed' && s.rentalId === rental.id, 'socket on', mark);

    // The block with the Rented log and everything after it replaced by empty blocks.
    const head = await e.anvil.provider.getBlockNumber();
    await rpc('anvil_reorg', [head - rentBlock + 1, []]);
    expect(await e.anvil.provider.getTransactionReceipt(rented.txHash)).toBeNull();

    const off = await states.until(
      SOCKET,
      (s) => s.relay === 'open' && s.phase === 'idle',
      'socket off after the reorg',
      mark,
    );
    expect(off.state.rentalId).toBeUndefined();
    expect(e.agent.store.getRental(rental.id)?.status).toBe('revoked');
    expect(e.agent.store.getReceipt(rental.id)).toBeUndefined();

    // The guest cannot switch it back on, and checking out yields no receipt.
    const again = await guest.act(rental, 'on', 'http');
    expect(again.status).toBe('error');
    expect(receiptOf(await guest.act(rental, 'checkout', 'http'))).toBeUndefined();
    expect(states.closures(SOCKET, off.after)).toBe(0);
    expect(e.agent.store.getReceipt(rental.id)).toBeUndefined();
    expect(await settlements(e.anvil.provider, e.contractAddress, rental.id)).toEqual([]);
  });

  it('every RPC down: a confirmed rental still unlocks, a new one is refused as "chain unavailable" until the chain is back', async () => {
    const lock = (await guest.rent(LOCK, HOUR)).rental;
    const mark = states.mark();
    ok(await actWhenLive(guest, lock, 'unlock', 'http'), 'unlock while the chain is up');
    const opened = await states.until(LOCK, (s) => s.relay === 'closed', 'unlocked', mark);
    await states.until(LOCK, (s) => s.relay === 'open', 'relocked after the pulse', opened.after);

    gate.mode = 'down';
    await waitFor(() => alarms.includes('chain-unavailable'), 'the agent to raise a chain-unavailable alarm');
    const health = (await (await fetch(`${e.httpUrl}/health`)).json()) as { chain: { up: boolean } };
    expect(health.chain.up).toBe(false);

    // Rented on a chain the agent cannot see (the guest's wallet talks to the node directly).
    const fresh: Rental = (await guest.rent(NEW_SOCKET, HOUR)).rental;
    const refused = await guest.act(fresh, 'on', 'http');
    expect(refused).toMatchObject({ status: 'error', error: { code: 'unknown-rental' } });
    expect(refused.status === 'error' && refused.error.message).toMatch(/chain unavailable/);
    expect(await deviceState(e.httpUrl, NEW_SOCKET)).toMatchObject({ relay: 'open' });

    // The confirmed rental is served from the agent's store, chain or no chain.
    const since = states.mark();
    ok(await guest.act(lock, 'unlock', 'http'), 'unlock while every RPC is down');
    await states.until(LOCK, (s) => s.relay === 'closed', 'unlocked with the chain down', since);
    const callsBefore = gate.calls.length;
    const lockReceipt = receiptOf(await guest.act(lock, 'checkout', 'http'));
    expect(lockReceipt).toBeDefined();
    expect(states.closures(LOCK, mark)).toBe(2);
    // The submitter tried to settle it (it asks the contract first) and found no node.
    await waitFor(
      () => gate.calls.slice(callsBefore).some((c) => c.method === 'eth_call' && c.cut),
      'the agent to try to submit the receipt while the chain is down',
    );

    gate.mode = 'pass';
    ok(await actWhenLive(guest, fresh, 'on', 'http'), 'on once the chain is back');
    await states.until(NEW_SOCKET, (s) => s.relay === 'closed', 'new socket on', since);
    // The receipt signed while the chain was down is settled once it is back (at the latest with the
    // next checkout, which flushes the queue).
    const freshReceipt = receiptOf(await guest.act(fresh, 'checkout', 'http'));
    expect(freshReceipt).toBeDefined();
    for (const [rental, signed] of [
      [lock, lockReceipt],
      [fresh, freshReceipt],
    ] as const) {
      const s = await settled(e.anvil.provider, e.contractAddress, rental.id);
      const used = signed?.receipt.secondsUsed ?? -1n;
      expect(s).toMatchObject({ byReceipt: true, charge: used * rental.pricePerSecond });
      expect(await settlements(e.anvil.provider, e.contractAddress, rental.id)).toHaveLength(1);
    }
  }, 60_000);
});
