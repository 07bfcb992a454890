// A reorg deeper than the agent's tracked window, through the whole agent on a real anvil_reorg: the
// agent raises an alarm, reports itself unhealthy and grants nothing more, even for a rental it had
// confirmed, rather than guess which history is true (RELIABILITY 14).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import type { Guest } from '../guest/client.js';
import {
  actWhenLive,
  deviceState,
  embeddedSetup,
  guestOf,
  ok,
  StateLog,
  testLog,
  waitFor,
} from './system.js';

const LOCK = 1n;
const WINDOW = 4;

let e: Embedded;
let guest: Guest;
let states: StateLog;
const alarms: string[] = [];

beforeAll(async () => {
  e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    confirmations: 0,
    reorgWindow: WINDOW,
    configOverrides: (c) => ({
      ...c,
      chain: { ...c.chain, pollMs: 100 },
      devices: c.devices.map((d) => ({ ...d, pulseSeconds: 1 })),
    }),
  });
  states = new StateLog(e.agent);
  e.agent.on('alarm', (a) => alarms.push(a.kind));
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  guest = await guestOf(account, embeddedSetup(e));
});

afterAll(async () => {
  await e?.stop();
});

describe('a reorg deeper than the tracked window', () => {
  it('stops every grant with an alarm and an unhealthy /health, even for a confirmed rental', async () => {
    const { rental } = await guest.rent(LOCK, 3600);
    ok(await actWhenLive(guest, rental, 'unlock', 'http'), 'unlock before the reorg');
    await states.until(LOCK, (s) => s.relay === 'open', 'relocked after the pulse');

    // Bury the rental, let the agent process every block, then replace more blocks than it tracks.
    await e.anvil.provider.send('anvil_mine', ['0x10']);
    const head = await e.anvil.provider.getBlockNumber();
    await waitFor(
      () => e.agent.store.getCursor()?.block === head,
      'the agent to process the head before the reorg',
    );
    await e.anvil.provider.send('anvil_reorg', [2 * WINDOW, []]);
    await e.anvil.provider.send('anvil_mine', ['0x2']);

    await waitFor(() => alarms.includes('deep-reorg'), 'the agent to raise a deep-reorg alarm');
    const res = await fetch(`${e.httpUrl}/health`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { chain: { halted: boolean } }).chain.halted).toBe(true);

    // The rental is below the reorg and still on chain, but the agent cannot vouch for its history.
    const mark = states.mark();
    const refused = await guest.act(rental, 'unlock', 'http');
    expect(refused).toMatchObject({ status: 'error', error: { code: 'unavailable' } });
    expect(states.closures(LOCK, mark)).toBe(0);
    expect(await deviceState(e.httpUrl, LOCK)).toMatchObject({ relay: 'open' });
  });
});
