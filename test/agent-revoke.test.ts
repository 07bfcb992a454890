// Key rotation and a revoked key through the whole agent on a real chain (anvil): a lock rented under
// the old key and rotated mid-rental settles by the old key's receipt; a socket's key revoked by the
// host while a receipt under it waits (the agent stopped in between) gets no checkout sent, settles by
// time, and after setSigner a new rental settles by receipt under the new key.

import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../agent/agent.js';
import { DEMO_PRICES, type Embedded, startEmbedded } from '../agent/embedded.js';
import { latchkeyAt } from '../contracts/deploy.js';
import type { Rental } from '../contracts/typedData.js';
import { type Guest, receiptOf } from '../guest/client.js';
import {
  actWhenLive,
  deviceState,
  embeddedSetup,
  guestOf,
  ok,
  RpcGate,
  registerDevices,
  StateLog,
  settled,
  settlements,
  signedBy,
  testLog,
  waitFor,
} from './system.js';

const HOUR = 3600;
const LOCK = 1n;
const SOCKET = 2n;
/** Configured, but registered only after the agent started: its host is learnt when a rental comes. */
const LATE_SOCKET = 3n;

let e: Embedded;
let gate: RpcGate;
let guest: Guest;
/** The agent after the restart (the embedded one is stopped in the revoke test). */
let restarted: Agent | undefined;
/** A rental of LATE_SOCKET left on when the key is revoked. */
let lateRental: Rental | undefined;
/** The key the devices were registered with (now the gateway's previous key) and its current one. */
let oldKey: string;
const newKey = Wallet.createRandom();

beforeAll(async () => {
  gate = await new RpcGate().start();
  e = await startEmbedded({
    log: testLog,
    blockTime: 0,
    confirmations: 0,
    configOverrides: (c) => {
      gate.target = c.chain.rpcUrls[0] ?? '';
      return {
        ...c,
        gatewayKey: newKey.privateKey,
        previousGatewayKeys: [c.gatewayKey],
        chain: { ...c.chain, pollMs: 100, rpcUrls: [gate.url] },
        devices: [
          ...c.devices,
          { id: LATE_SOCKET, kind: 'socket' as const, pulseSeconds: 1, relay: { driver: 'sim' as const } },
        ].map((d) => ({ ...d, pulseSeconds: 1 })),
      };
    },
  });
  oldKey = e.gateway.address.toLowerCase();
  // The new key also sends the checkouts: it needs gas.
  await e.anvil.provider.send('anvil_setBalance', [newKey.address, '0xde0b6b3a7640000']);
  const account = e.guests[0];
  if (!account) throw new Error('no guest account');
  guest = await guestOf(account, embeddedSetup(e));
}, 60_000);

afterAll(async () => {
  await restarted?.stop();
  await e?.stop();
  await gate?.stop();
});

const signerOf = (r: Parameters<typeof signedBy>[0], key: string) =>
  signedBy(r, key, e.anvil.chainId, e.contractAddress);

/** Rents, uses and checks out `deviceId` through `agent`'s LAN HTTP; returns the rental and its receipt. */
async function useAndCheckOut(deviceId: bigint, on: 'unlock' | 'on') {
  const { rental } = await guest.rent(deviceId, HOUR);
  ok(await actWhenLive(guest, rental, on, 'http'), on);
  const receipt = receiptOf(await guest.act(rental, 'checkout', 'http'));
  return { rental, receipt };
}

describe('gateway keys through the agent', () => {
  it('a rotation mid-rental: the rental settles by the receipt of the key it was made under', async () => {
    const { rental } = await guest.rent(LOCK, HOUR);
    expect(rental.signer.toLowerCase()).toBe(oldKey);
    ok(await actWhenLive(guest, rental, 'unlock', 'http'), 'unlock');

    await (await e.contract.setSigner(LOCK, newKey.address)).wait();
    await waitFor(
      () => e.agent.store.deviceSigner(LOCK)?.signer === newKey.address.toLowerCase(),
      'the agent to apply SignerChanged',
    );
    const receipt = receiptOf(await guest.act(rental, 'checkout', 'http'));
    if (!receipt) throw new Error('no receipt');
    expect(signerOf(receipt, oldKey)).toBe(true);
    expect(await settled(e.anvil.provider, e.contractAddress, rental.id)).toMatchObject({ byReceipt: true });

    // A rental made after the rotation is the new key's.
    const next = await useAndCheckOut(LOCK, 'unlock');
    expect(next.rental.signer.toLowerCase()).toBe(newKey.address.toLowerCase());
    if (!next.receipt) throw new Error('no receipt');
    expect(signerOf(next.receipt, newKey.address)).toBe(true);
    expect(await settled(e.anvil.provider, e.contractAddress, next.rental.id)).toMatchObject({
      byReceipt: true,
    });
  }, 60_000);

  it('learns the host of a device registered after the start from its first rental', async () => {
    expect(e.agent.store.deviceSigner(LATE_SOCKET)).toBeUndefined();
    expect(await registerDevices(e.contract, oldKey, [{ kind: 'socket', ...DEMO_PRICES.socket }])).toEqual([
      LATE_SOCKET,
    ]);
    const { rental } = await guest.rent(LATE_SOCKET, HOUR);
    ok(await actWhenLive(guest, rental, 'on', 'http'), 'on');
    await waitFor(
      () => e.agent.store.deviceSigner(LATE_SOCKET),
      "the agent to read the late device's signer",
    );
    expect(e.agent.store.deviceSigner(LATE_SOCKET)).toEqual({
      host: e.host.address.toLowerCase(),
      signer: oldKey,
      revoked: false,
    });
    lateRental = rental;
  }, 60_000);

  it('a revoked key: its waiting receipt is never sent, the rental settles by time, a new key settles again', async () => {
    // A socket rental under the old key, checked out while no node answers: its receipt waits.
    const { rental } = await guest.rent(SOCKET, HOUR);
    expect(rental.signer.toLowerCase()).toBe(oldKey);
    ok(await actWhenLive(guest, rental, 'on', 'http'), 'on');
    gate.mode = 'down';
    const receipt = receiptOf(await guest.act(rental, 'checkout', 'http'));
    if (!receipt) throw new Error('no receipt');
    expect(signerOf(receipt, oldKey)).toBe(true);
    expect(e.agent.store.getReceipt(rental.id)?.status).toBe('pending');

    // The gateway stops; the host learns the old key was stolen and revokes it; the gateway starts again.
    const port = e.agent.httpPort; // the guest's LAN HTTP address stays the same across the restart
    await e.agent.stop();
    await (await e.contract.revokeSigner(oldKey)).wait();
    gate.mode = 'pass';
    const callsBefore = gate.calls.length;
    const agent = new Agent({ ...e.config, http: { ...e.config.http, port } }, testLog.child('restarted'));
    restarted = agent;
    const states = new StateLog(agent);
    await agent.start();

    expect(agent.store.signerRevoked(SOCKET, oldKey)).toBe(true);
    expect(agent.store.pendingReceipts().map((r) => r.rentalId)).not.toContain(rental.id);
    const audit = agent.store.auditTail(50, SOCKET).filter((a) => a.action === 'signer-revoked');
    expect(audit.map((a) => [a.rentalId, a.reason])).toEqual([
      [
        rental.id,
        expect.stringMatching(/receipt pending dropped from the submit queue; the rental settles by time/),
      ],
    ]);
    // The socket's signer is revoked (it takes no rental now); the lock was rotated to the new key.
    expect(await deviceState(e.httpUrl, SOCKET)).toMatchObject({ signerRevoked: oldKey });
    expect(await deviceState(e.httpUrl, LOCK)).not.toHaveProperty('signerRevoked');
    expect(await deviceState(e.httpUrl, LATE_SOCKET)).toMatchObject({
      signerRevoked: oldKey,
      relay: 'closed',
    });
    // Its guest keeps the socket for the rest of the paid rental; checking out signs no receipt.
    if (!lateRental) throw new Error('the late device test did not run');
    expect(receiptOf(await guest.act(lateRental, 'checkout', 'http'))).toBeUndefined();
    expect(agent.store.getReceipt(lateRental.id)).toBeUndefined();
    expect(agent.metrics.render()).toMatch(/latchkey_signer_revoked\{device="2"\} 1/);
    await expect(guest.rent(SOCKET, HOUR)).rejects.toThrow();

    // Nothing under the revoked key goes to the chain: no checkout estimated or sent.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const sent = gate.calls.slice(callsBefore).map((c) => c.method);
    expect(sent).not.toContain('eth_estimateGas');
    expect(sent).not.toContain('eth_sendRawTransaction');

    // The guest settles by time; the agent sees it and the receipt leaves the store's queue for good.
    const asGuest = latchkeyAt(
      e.contractAddress,
      new Wallet(e.guests[0]?.privateKey ?? '', e.anvil.provider),
    );
    await (await asGuest.checkoutByTime(rental)).wait();
    expect(await settled(e.anvil.provider, e.contractAddress, rental.id)).toMatchObject({ byReceipt: false });
    await waitFor(
      () => agent.store.getReceipt(rental.id)?.status === 'settled',
      'the agent to see the settlement',
    );
    expect(await settlements(e.anvil.provider, e.contractAddress, rental.id)).toHaveLength(1);

    // The host names the new key: the socket takes rentals again, and they settle by receipt.
    const mark = states.mark();
    await (await e.contract.setSigner(SOCKET, newKey.address)).wait();
    await states.until(SOCKET, (s) => s.signerRevoked === undefined, 'signer no longer revoked', mark);
    expect(agent.metrics.render()).toMatch(/latchkey_signer_revoked\{device="2"\} 0/);
    const next: { rental: Rental; receipt: ReturnType<typeof receiptOf> } = await useAndCheckOut(
      SOCKET,
      'on',
    );
    expect(next.rental.signer.toLowerCase()).toBe(newKey.address.toLowerCase());
    if (!next.receipt) throw new Error('no receipt');
    expect(signerOf(next.receipt, newKey.address)).toBe(true);
    expect(await settled(e.anvil.provider, e.contractAddress, next.rental.id)).toMatchObject({
      byReceipt: true,
    });
  }, 90_000);
});
